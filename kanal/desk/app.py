"""The desk app: sign-in per desk, the intake form, the receipt, the list of the day.

Every form carries the session's CSRF token; the intake form also carries an
idempotency key that becomes the complaint's provider id, so a double click or a
back-and-resubmit finds the complaint already in the spool and shows the same receipt.
The complaint is committed through the channel's runner before the receipt is sent.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from pathlib import Path

from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from connectors.base import RawMessage
from connectors.runner import ChannelRunner
from connectors.walkin.config import DeskLogin, WalkInOptions
from kanal.desk.form import Photo, check
from kanal.web.pages import PageApp, environment, page
from kanal.web.places import places
from kanal.web.security import LockOut, Session, SessionStore, csrf_ok, token, verify_password
from normalizer.identity import reference_number
from normalizer.timeutil import WIB, utc_now

COOKIE = "kanal_desk"
_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
#: Room for the form's text fields and multipart framing on top of the photos.
FORM_OVERHEAD_BYTES = 256 * 1024


class DeskApp(PageApp):
    """WSGI app mounted at ``/desk`` for one ``walkin`` channel with ``desks``.

    Parameters:
        runner: the channel's runner; complaints go through ``runner.ingest``.
        options: the channel's options (the desks and their password hashes).
        categories: the router's categories, code -> Indonesian name.
        max_file_bytes, max_message_bytes: the attachment caps.
        routed_locally: True in the embedded default (the list shows the agency).
    """

    def __init__(self, runner: ChannelRunner, options: WalkInOptions, categories: dict[str, str],
                 max_file_bytes: int, max_message_bytes: int, routed_locally: bool) -> None:
        self.runner = runner
        self.options = options
        self.categories = categories
        self.max_file_bytes = max_file_bytes
        self.max_message_bytes = max_message_bytes
        self.max_body_bytes = max_message_bytes + FORM_OVERHEAD_BYTES
        self.routed_locally = routed_locally
        self.sessions = SessionStore()
        self.lockout = LockOut()
        self.env = environment(Path(__file__).with_name("templates"))
        self.places = places()
        self.map = Map([
            Rule("/", endpoint="home"),
            Rule("/login", endpoint="login", methods=["GET", "POST"]),
            Rule("/logout", endpoint="logout", methods=["POST"]),
            Rule("/<desk_id>/", endpoint="form"),
            Rule("/<desk_id>/aduan", endpoint="submit", methods=["POST"]),
            Rule("/<desk_id>/hari-ini", endpoint="today"),
        ])

    def error_response(self, request: Request, status: int) -> Response:
        """The desk's error page, in Indonesian for the clerk."""
        if status == 413:
            return self._error(request, 413, f"Kiriman terlalu besar (maks. {self.max_body_bytes // 1048576} MB).")
        return self._error(request, 404, "Halaman tidak ditemukan.")

    # -- session helpers ------------------------------------------------------------------

    def _session(self, request: Request) -> Session | None:
        return self.sessions.get(request.cookies.get(COOKIE))

    def _with_cookie(self, response: Response, session: Session, request: Request) -> Response:
        response.set_cookie(COOKIE, session.sid, httponly=True, samesite="Strict", path=request.script_root or "/",
                            secure=self.options.cookie_secure)
        return response

    def _error(self, request: Request, status: int, message: str) -> Response:
        return page(self.env, "error.html", status, message=message, root=request.script_root)

    def _desk_for(self, request: Request, desk_id: str) -> tuple[Session, DeskLogin] | Response:
        """The signed-in session of ``desk_id``, or the answer refusing the request."""
        session = self._session(request)
        desk = self.options.desk_login(desk_id)
        if session is None or session.desk_id is None:
            if request.method == "POST":
                return self._error(request, 403, "Sesi berakhir. Silakan masuk kembali.")
            return redirect(f"{request.script_root}/login", 303)
        if desk is None or session.desk_id != desk.id:
            self.runner.log.warning("desk request refused: session of another desk", desk=desk_id[:48])
            return self._error(request, 403, "Anda tidak masuk sebagai loket ini.")
        if request.method == "POST" and not csrf_ok(session.csrf, request.form.get("csrf")):
            self.runner.log.warning("desk request refused: CSRF token missing or wrong", desk=desk.id)
            return self._error(request, 403, "Formulir kedaluwarsa atau tidak sah. Muat ulang halaman.")
        return session, desk

    # -- pages ----------------------------------------------------------------------------

    def on_home(self, request: Request) -> Response:
        session = self._session(request)
        if session and session.desk_id:
            return redirect(f"{request.script_root}/{session.desk_id}/", 303)
        return redirect(f"{request.script_root}/login", 303)

    def on_login(self, request: Request) -> Response:
        session = self._session(request) or self.sessions.new()
        desks = self.options.desks
        if request.method == "GET":
            return self._with_cookie(page(self.env, "login.html", desks=desks, csrf=session.csrf,
                                          root=request.script_root), session, request)
        desk_id = request.form.get("desk", "")
        error = None
        if not csrf_ok(session.csrf, request.form.get("csrf")):
            error = "Formulir kedaluwarsa. Silakan coba lagi."
        elif self.lockout.locked(desk_id):
            error = "Terlalu banyak percobaan gagal. Loket ini dikunci sementara (15 menit)."
        else:
            desk = self.options.desk_login(desk_id)
            if verify_password(desk.password_hash if desk else None, request.form.get("password", "")):
                self.lockout.succeeded(desk_id)
                self.sessions.drop(session.sid)  # a new session id at sign-in: no fixation
                signed_in = self.sessions.new()
                signed_in.desk_id = desk.id
                self.runner.log.info("desk signed in", desk=desk.id)
                return self._with_cookie(redirect(f"{request.script_root}/{desk.id}/", 303), signed_in, request)
            self.lockout.failed(desk_id)
            self.runner.log.warning("desk sign-in failed", desk=desk_id[:48])
            error = "Loket atau kata sandi salah."
        return self._with_cookie(page(self.env, "login.html", 401 if error else 200, desks=desks, csrf=session.csrf,
                                      error=error, chosen=desk_id, root=request.script_root), session, request)

    def on_logout(self, request: Request) -> Response:
        session = self._session(request)
        if session is None or not csrf_ok(session.csrf, request.form.get("csrf")):
            return self._error(request, 403, "Formulir tidak sah.")
        self.sessions.drop(session.sid)
        response = redirect(f"{request.script_root}/login", 303)
        response.delete_cookie(COOKIE, path=request.script_root or "/")
        return response

    def on_form(self, request: Request, desk_id: str) -> Response:
        found = self._desk_for(request, desk_id)
        if isinstance(found, Response):
            return found
        session, desk = found
        values = {"kelurahan": desk.kelurahan or ""}
        return self._form(request, session, desk, values, {}, 200)

    def _form(self, request: Request, session: Session, desk: DeskLogin, values: dict, errors: dict,
              status: int, key: str | None = None) -> Response:
        # private, no-cache (not no-store): the browser's back button shows the same form
        # with the same idempotency key, so a resubmit finds the complaint already taken.
        return page(self.env, "form.html", status, cache="private, no-cache", desk=desk, csrf=session.csrf,
                    key=key or token() + token(), values=values, errors=errors, places=self.places.values(),
                    categories=self.categories, root=request.script_root,
                    max_photo=self.max_file_bytes, max_total=self.max_message_bytes)

    def on_submit(self, request: Request, desk_id: str) -> Response:
        found = self._desk_for(request, desk_id)
        if isinstance(found, Response):
            return found
        session, desk = found
        key = request.form.get("key", "")
        if not _KEY.match(key):
            return self._error(request, 400, "Formulir tidak lengkap. Muat ulang halaman.")
        photos = [Photo(f.filename or "foto", (f.mimetype or "").lower(), f.read())
                  for f in request.files.getlist("photos") if f.filename]
        checked = check(request.form.to_dict(), photos, self.places, self.categories,
                        self.max_file_bytes, self.max_message_bytes)
        if checked.errors:
            return self._form(request, session, desk, checked.values, checked.errors, 422, key=key)
        payload = {"id": f"{desk.id}:{key}", "desk": desk.id, **checked.payload,
                   "submitted_at": datetime.now(WIB).isoformat(timespec="seconds")}
        raw = RawMessage(f"desk:{desk.id}", json.dumps(payload, ensure_ascii=False).encode(), utc_now(),
                         {"via": "desk", "desk": desk.id})
        try:
            [result] = self.runner.ingest([raw])
        except Exception:
            self.runner.log.exception("desk complaint could not be committed")
            return self._error(request, 503, "Aduan belum tersimpan. Coba kirim lagi sebentar lagi.")
        if result.complaint is None:
            return self._error(request, 422, "Aduan tidak dapat diproses dan disimpan untuk diperiksa petugas.")
        complaint = result.complaint
        place = self.places.get(checked.values["kelurahan"])
        return page(self.env, "receipt.html", desk=desk, complaint=complaint, ref=reference_number(complaint.id),
                    duplicate=result.status == "duplicate", place=place, csrf=session.csrf,
                    category=self.categories.get(complaint.service_code or ""), root=request.script_root,
                    when=complaint.requested_datetime.astimezone(WIB).strftime("%d-%m-%Y %H:%M WIB"))

    def on_today(self, request: Request, desk_id: str) -> Response:
        found = self._desk_for(request, desk_id)
        if isinstance(found, Response):
            return found
        session, desk = found
        midnight = datetime.now(WIB).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        rows = []
        for cid, _, taken_at, forwarded_at, agency in self.runner.spool.taken_since(
                self.runner.name, f"{desk.id}:", midnight):
            if agency:
                where = f"Diteruskan ke {agency}"
            elif forwarded_at:
                where = "Diteruskan ke router" if not self.routed_locally else "Diproses"
            else:
                where = "Menunggu diteruskan"
            rows.append({"ref": reference_number(cid), "time": datetime.fromtimestamp(taken_at, WIB).strftime("%H:%M"),
                         "where": where})
        return page(self.env, "today.html", desk=desk, rows=rows, csrf=session.csrf, root=request.script_root,
                    day=time.strftime("%d-%m-%Y"))
