"""The status page ``/ops/`` on the operations listener: one screen for ops.

``kanal run`` shows its channels, the spool, the open quarantine with an escaped
preview of each raw payload and a Retry button, and routed counts per agency;
``kanal router`` shows what it routed per agency and its running totals. What each
shows is gathered by the views of :mod:`kanal.web.ops_views`; this module serves
the page: access, sign-in, the retry button and the HTML.

Access needs ``metrics.ops_token``: ``Authorization: Bearer <token>`` on each request
(scripts), or a sign-in with the token (the login form, or once ``?token=``) that
starts a server-side session in a ``SameSite=Strict`` cookie. Every POST of a session
carries its CSRF token. Tokens are compared in constant time; failed attempts lock the
address out for a while. The desk logins are not accepted here: desks are intake
clerks, and this page shows raw payloads of every channel.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from typing import Any

from markupsafe import Markup
from werkzeug.exceptions import NotFound
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from kanal.web.ops_views import DAY, HOUR, RouterView, RunView, format_when
from kanal.web.pages import SECURITY_HEADERS, STATIC_DIR, WEB_DIR, PageApp, environment, page
from kanal.web.security import LockOut, Session, SessionStore, csrf_ok

COOKIE = "kanal_ops"
#: Seconds between two reloads of the page (a meta refresh: no script needed).
REFRESH_SECONDS = 15
_STYLES = {"kanal.css": STATIC_DIR / "kanal.css", "ops.css": STATIC_DIR / "ops.css"}
#: C0/C1 controls (but tab and newline) and lone surrogates: shown as escapes, never sent raw.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def same_token(expected: str, supplied: str | None) -> bool:
    """Constant-time comparison of a supplied token with the configured one (digests
    of both, so the time does not depend on the length either)."""
    if not supplied:
        return False
    digest = hashlib.sha256
    return hmac.compare_digest(digest(expected.encode()).digest(),
                               digest(supplied.encode("utf-8", "surrogatepass")).digest())


def printable(value: Any) -> Any:
    """Jinja2 ``finalize``: control characters and lone surrogates of a string become
    ``\\xNN`` / ``\\uNNNN`` text (a NUL or a surrogate cannot reach the HTML or break
    its UTF-8); autoescaping then takes care of markup."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}",
                                value)
    return value


def _age(seconds: float | None) -> str:
    """A duration as ``42s``, ``3m 5s``, ``2h 10m`` or ``1d 4h`` (``-`` when unknown)."""
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < HOUR:
        return f"{s // 60}m {s % 60}s"
    if s < DAY:
        return f"{s // HOUR}h {s % HOUR // 60}m"
    return f"{s // DAY}d {s % DAY // HOUR}h"


class OpsPage(PageApp):
    """WSGI app mounted at ``/ops`` on the operations listener.

    Parameters:
        token: the configured ``metrics.ops_token``.
        view: :class:`~kanal.web.ops_views.RunView` or :class:`~kanal.web.ops_views.RouterView`.
        cookie_secure: set the session cookie's ``Secure`` flag (behind a TLS proxy).
    """

    max_body_bytes = 16 * 1024

    def __init__(self, token: str, view: RunView | RouterView, cookie_secure: bool = False) -> None:
        if not token:
            msg = "the status page needs a non-empty metrics.ops_token"
            raise ValueError(msg)
        self._token = token
        self.view = view
        self.cookie_secure = cookie_secure
        self.sessions = SessionStore(idle_seconds=12 * 3600, max_sessions=200)
        self.lockout = LockOut(max_failures=10, window=900, lock_seconds=300)
        self.env = environment(WEB_DIR / "templates" / "ops", finalize=printable)
        self.env.filters.update(when=format_when, age=_age)
        self._notes: dict[str, str] = {}
        self._retry_lock = threading.Lock()
        self.map = Map([
            Rule("/", endpoint="status"),
            Rule("/login", endpoint="login", methods=["GET", "POST"]),
            Rule("/logout", endpoint="logout", methods=["POST"]),
            Rule("/quarantine/<int:qid>/retry", endpoint="retry", methods=["POST"]),
            Rule("/static/<name>", endpoint="static"),
        ], strict_slashes=True)

    def error_response(self, request: Request, status: int) -> Response:
        """Plain text: ``request too large`` (413) or ``no such page`` (404)."""
        return self._plain(status, "request too large" if status == 413 else "no such page")

    # -- access -------------------------------------------------------------------------

    @staticmethod
    def _plain(status: int, text: str, **headers: str) -> Response:
        response = Response(text + "\n", status=status, content_type="text/plain; charset=utf-8")
        response.headers.update({**SECURITY_HEADERS, "Cache-Control": "no-store", **headers})
        return response

    def _address(self, request: Request) -> str:
        return request.remote_addr or "?"

    def _check(self, request: Request, supplied: str) -> bool:
        """Compare a supplied token; count failures per address."""
        address = self._address(request)
        if same_token(self._token, supplied):
            self.lockout.succeeded(address)
            return True
        self.lockout.failed(address)
        return False

    def _access(self, request: Request) -> Session | str | Response:
        """``"bearer"``, the signed-in session, or the answer refusing the request."""
        header = request.headers.get("Authorization", "")
        if header:
            if self.lockout.locked(self._address(request)):
                return self._plain(429, "too many failed attempts; try again later")
            scheme, _, supplied = header.partition(" ")
            if scheme.lower() == "bearer" and self._check(request, supplied.strip()):
                return "bearer"
            return self._plain(401, "wrong token", **{"WWW-Authenticate": 'Bearer realm="kanal-ops"'})
        session = self.sessions.get(request.cookies.get(COOKIE))
        if session is not None:
            return session
        if request.method == "POST":
            return self._plain(401, "sign in first", **{"WWW-Authenticate": 'Bearer realm="kanal-ops"'})
        return redirect(f"{request.script_root}/login", 303)

    def _sign_in(self, request: Request) -> Response:
        session = self.sessions.new()
        response = redirect(f"{request.script_root}/", 303)
        response.set_cookie(COOKIE, session.sid, httponly=True, samesite="Strict", path=request.script_root or "/",
                            secure=self.cookie_secure)
        return response

    def _login_page(self, request: Request, status: int, error: str | None = None) -> Response:
        return page(self.env, "login.html", status, root=request.script_root, error=error)

    # -- pages --------------------------------------------------------------------------

    def on_login(self, request: Request) -> Response:
        if request.method == "GET":
            return self._login_page(request, 200)
        if self.lockout.locked(self._address(request)):
            return self._login_page(request, 429, "Too many failed attempts; try again in a few minutes.")
        if self._check(request, request.form.get("token", "")):
            return self._sign_in(request)
        return self._login_page(request, 401, "Wrong token.")

    def on_logout(self, request: Request) -> Response:
        access = self._access(request)
        if isinstance(access, Response):
            return access
        if isinstance(access, Session):
            if not csrf_ok(access.csrf, request.form.get("csrf")):
                return self._plain(403, "form expired or forged (CSRF token missing or wrong)")
            self.sessions.drop(access.sid)
        response = redirect(f"{request.script_root}/login", 303)
        response.delete_cookie(COOKIE, path=request.script_root or "/")
        return response

    def on_status(self, request: Request) -> Response:
        supplied = request.args.get("token")
        if supplied is not None:  # a link with the token signs in once, then the URL loses it
            if self.lockout.locked(self._address(request)):
                return self._login_page(request, 429, "Too many failed attempts; try again in a few minutes.")
            if self._check(request, supplied):
                return self._sign_in(request)
            return self._login_page(request, 401, "Wrong token.")
        access = self._access(request)
        if isinstance(access, Response):
            return access
        session = access if isinstance(access, Session) else None
        note = self._notes.pop(session.sid, None) if session else None
        return page(self.env, "status.html", root=request.script_root, role=self.view.role, now=time.time(),
                    refresh=REFRESH_SECONDS, csrf=session.csrf if session else None, note=note,
                    **self.view.context())

    def on_retry(self, request: Request, qid: int) -> Response:
        access = self._access(request)
        if isinstance(access, Response):
            return access
        if isinstance(access, Session) and not csrf_ok(access.csrf, request.form.get("csrf")):
            return self._plain(403, "form expired or forged (CSRF token missing or wrong)")
        if self.view.retry is None:
            return self._plain(404, "no quarantine here")
        with self._retry_lock:  # one retry at a time: two clicks must not run the same entry twice
            outcome = self.view.retry(qid)
        note = f"#{qid}: {outcome}"
        if not isinstance(access, Session):
            return self._plain(200, note)
        self._notes[access.sid] = note
        return redirect(f"{request.script_root}/#quarantine", 303)

    def on_static(self, request: Request, name: str) -> Response:
        path = _STYLES.get(name)
        if path is None:
            raise NotFound
        response = Response(path.read_bytes(), content_type="text/css; charset=utf-8")
        response.headers.update(SECURITY_HEADERS)
        response.headers["Cache-Control"] = "max-age=3600"
        return response


__all__ = ["OpsPage", "printable", "same_token"]
