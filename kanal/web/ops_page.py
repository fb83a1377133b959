"""The status page ``/ops/`` on the operations listener: one screen for ops.

``kanal run`` shows its channels (state, last success and error, lag, counters), the
spool (waiting complaints, oldest waiting, file size), the open quarantine with an
escaped preview of each raw payload and a Retry button, and, in the embedded default,
how many complaints were routed per agency in the last hour and day (from the spool's
``routed`` store). ``kanal router`` shows what it routed per agency in the last hour
and day (counted in memory since the process started) and its running totals.

Access needs ``metrics.ops_token``: ``Authorization: Bearer <token>`` on each request
(scripts), or a sign-in with the token (the login form, or once ``?token=``) that
starts a server-side session in a ``SameSite=Strict`` cookie. Every POST of a session
carries its CSRF token. Tokens are compared in constant time; failed attempts lock the
address out for a while. The desk logins are not accepted here: desks are intake
clerks, and this page shows raw payloads of every channel.
"""

from __future__ import annotations

import codecs
import hashlib
import hmac
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup
from werkzeug.exceptions import NotFound
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from connectors.errors import error_text
from kanal.web.pages import SECURITY_HEADERS, STATIC_DIR, WEB_DIR, PageApp, environment, page
from kanal.web.security import LockOut, Session, SessionStore, csrf_ok

COOKIE = "kanal_ops"
#: Bytes of a raw payload shown in a preview.
PREVIEW_BYTES = 2000
#: Quarantine entries listed (oldest first); the total is shown beside them.
QUARANTINE_SHOWN = 100
#: Seconds between two reloads of the page (a meta refresh: no script needed).
REFRESH_SECONDS = 15
HOUR, DAY = 3600, 86400
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


def preview(payload: bytes, limit: int = PREVIEW_BYTES) -> str:
    """The start of a raw payload as text: valid UTF-8 as is, other bytes as ``\\xNN``
    (a character cut at the limit is left out rather than shown as broken bytes)."""
    decoder = codecs.getincrementaldecoder("utf-8")("backslashreplace")
    return decoder.decode(bytes(payload[:limit]), final=len(payload) <= limit)


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ") if ts else "-"


def _age(seconds: float | None) -> str:
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


class RoutedWindow:
    """Routed complaints per agency in one-minute buckets over the last day, in memory
    (``kanal router`` feeds it after each committed batch; a restart starts it afresh)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.started = clock()
        self._buckets: deque[tuple[int, Counter[str]]] = deque()
        self._lock = threading.Lock()

    def add(self, agencies: Iterable[str]) -> None:
        """Count one routed complaint per agency code given."""
        minute = int(self.clock() // 60)
        with self._lock:
            if not self._buckets or self._buckets[-1][0] != minute:
                self._buckets.append((minute, Counter()))
            self._buckets[-1][1].update(agencies)
            while self._buckets and self._buckets[0][0] <= minute - DAY // 60:
                self._buckets.popleft()

    def counts(self, seconds: float) -> dict[str, int]:
        """Per agency, what was routed in the last ``seconds`` (to the minute)."""
        since = int((self.clock() - seconds) // 60)
        total: Counter[str] = Counter()
        with self._lock:
            for minute, counter in self._buckets:
                if minute > since:
                    total.update(counter)
        return dict(total)


def routed_table(hour: dict[str, int], day: dict[str, int]) -> list[dict[str, Any]]:
    """Rows (agency, last hour, last day), busiest first."""
    return [{"agency": a, "hour": hour.get(a, 0), "day": day.get(a, 0)}
            for a in sorted(day.keys() | hour.keys(), key=lambda a: (-day.get(a, 0), a))]


class RunView:
    """What ``kanal run`` shows: its channels, the spool, the quarantine, routed counts.

    Parameters:
        spool: the process's :class:`kanal.spool.Spool`.
        channels: ``(name, type)`` of the channels this process runs.
        newest: the newest source time seen per channel (``KanalMetrics.newest_items``).
        hidden: channels whose raw payloads are not previewed (confidential ones).
        embedded: True in the embedded default (routed counts come from the spool).
        retry: re-runs one quarantine entry by id and says what happened
            (``kanal quarantine retry``'s code path).
    """

    role = "kanal run"

    def __init__(self, spool: Any, channels: Sequence[tuple[str, str]], newest: Callable[[], dict[str, float]],
                 hidden: Callable[[str], bool], embedded: bool, retry: Callable[[int], str]) -> None:
        self.spool = spool
        self.channels = list(channels)
        self.newest = newest
        self.hidden = hidden
        self.embedded = embedded
        self.retry = retry

    def context(self) -> dict[str, Any]:
        """The template's data, read now."""
        from kanal.metrics import spool_file_size

        now = time.time()
        newest = self.newest()
        open_q = self.spool.open_quarantine()
        channels = []
        for name, channel_type in self.channels:
            row = self.spool.channel_status(name) or {}
            counters = self.spool.counters(name)
            error_at, success_at = row.get("last_error_at"), row.get("last_success")
            channels.append({
                "name": name, "type": channel_type, "state": row.get("state", "never_run"), "detail": row.get("detail"),
                "last_success": success_at,
                "last_error": error_text(row["last_error"])[:500] if row.get("last_error") else None,
                "last_error_at": error_at, "error_past": bool(error_at and success_at and success_at > error_at),
                "lag": now - newest[name] if name in newest else None,
                "taken": row.get("accepted", 0), "duplicates": row.get("duplicates", 0),
                "dropped": row.get("dropped", 0), "quarantined": row.get("quarantined", 0),
                "quarantine_open": open_q.get(name, 0), "acks_sent": counters.get("ack.sent", 0),
                "acks_failed": counters.get("ack.failed", 0), "forbidden": counters.get("webhook.forbidden", 0),
            })
        oldest = self.spool.oldest_waiting()
        entries = []
        for e in self.spool.quarantined(limit=QUARANTINE_SHOWN):
            hidden = self.hidden(e.channel)
            entries.append({"qid": e.qid, "channel": e.channel, "error": e.error[:1000], "attempts": e.attempts,
                            "first_seen": e.first_seen, "last_seen": e.last_seen, "source_id": e.source_id[:200],
                            "size": len(e.payload), "hidden": hidden,
                            "preview": None if hidden else preview(e.payload),
                            "cut": len(e.payload) > PREVIEW_BYTES})
        if self.embedded:
            routed = {"rows": routed_table(self.spool.routed_counts(now - HOUR), self.spool.routed_counts(now - DAY)),
                      "note": "Routed by the embedded router of this process (the spool's routed store)."}
        else:
            routed = {"rows": None, "note": "Complaints go to RabbitMQ; routed counts per agency are on the "
                                            "status page of kanal router."}
        return {
            "channels": channels,
            "spool": {"waiting": self.spool.depth(), "oldest_age": now - oldest if oldest else None,
                      "file_size": spool_file_size(self.spool.path)},
            "quarantine": {"open": sum(open_q.values()), "entries": entries, "retry": True},
            "routed": routed,
        }


class RouterView:
    """What ``kanal router`` shows: routed per agency in the last hour and day, totals.

    Parameters:
        consumer: its :class:`router.consumer.RouterConsumer`.
        window: the :class:`RoutedWindow` its ``after_routed`` feeds.
    """

    role = "kanal router"
    retry = None

    def __init__(self, consumer: Any, window: RoutedWindow) -> None:
        self.consumer = consumer
        self.window = window

    def context(self) -> dict[str, Any]:
        """The template's data, read now."""
        c = self.consumer
        since_start: Counter[str] = Counter()
        for (agency, _priority), count in dict(c.routed_by).items():
            since_start[agency] += count
        rows = routed_table(self.window.counts(HOUR), self.window.counts(DAY))
        for row in rows:
            row["total"] = since_start.get(row["agency"], 0)
        return {
            "router": {"connected": c.ready.is_set(), "started": self.window.started, **c.stats.as_dict()},
            "routed": {"rows": rows, "since_start": True,
                       "note": "Counted by this router process since it started "
                               f"({_when(self.window.started)}); each router replica counts its own."},
        }


class OpsPage(PageApp):
    """WSGI app mounted at ``/ops`` on the operations listener.

    Parameters:
        token: the configured ``metrics.ops_token``.
        view: :class:`RunView` or :class:`RouterView`.
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
        self.env.filters.update(when=_when, age=_age)
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


__all__ = ["OpsPage", "RoutedWindow", "RouterView", "RunView", "preview", "printable", "same_token"]
