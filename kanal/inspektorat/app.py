"""The Inspektorat form: no login, a confidential ``walkin`` channel behind it.

The channel has ``confidential: true``, so every report's reporter is confidential
and the router sends it only to the confidential queue. Nothing the reporter typed is
logged. The reporter gets a random follow-up code, shown once; only its SHA-256 is
kept, as the complaint's ``conversation_key`` (``followup:sha256:<hex>``), so the
Inspektorat can find the report when the reporter quotes the code. Rate-limited per
client address (behind a proxy in ``webhooks.trusted_proxies``, the address it relays
for); a hidden honeypot field catches form-filling bots.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound, RequestEntityTooLarge
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from connectors.base import RawMessage
from connectors.proxies import TrustedProxies
from connectors.runner import ChannelRunner
from kanal.desk.form import PHOTO_TYPES
from kanal.web.pages import environment, page
from kanal.web.security import RateLimit, SignedTokens, token
from normalizer.identity import reference_number
from normalizer.phone import to_e164
from normalizer.timeutil import WIB, utc_now

_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,}$")
#: Evidence may also be a PDF or a document scan.
EVIDENCE_TYPES = PHOTO_TYPES | {"application/pdf"}
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read over the phone


def followup_code() -> str:
    """A random follow-up code (about 80 bits), e.g. ``K7QF-2MXA-9RTB-HW4C``."""
    chars = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(16))
    return "-".join(chars[i:i + 4] for i in range(0, 16, 4))


def followup_key(code: str) -> str:
    """What is stored of a follow-up code: ``followup:sha256:<hex>`` of its normalised form."""
    normal = re.sub(r"[^A-Z0-9]", "", code.upper())
    return "followup:sha256:" + hashlib.sha256(normal.encode()).hexdigest()


class InspektoratApp:
    """WSGI app mounted at ``/inspektorat`` for one confidential ``walkin`` channel.

    Parameters:
        runner: the channel's runner.
        max_file_bytes, max_message_bytes: the attachment caps.
        reports_per_hour: reports accepted per client address per hour.
        trusted_proxies: the webhook server's; a request relayed by one of them is
            counted for the client it names in ``X-Forwarded-For``.
    """

    def __init__(self, runner: ChannelRunner, max_file_bytes: int, max_message_bytes: int,
                 reports_per_hour: int = 5, trusted_proxies: TrustedProxies | None = None) -> None:
        self.runner = runner
        self.proxies = trusted_proxies or TrustedProxies()
        self.max_file_bytes = max_file_bytes
        self.max_message_bytes = max_message_bytes
        self.max_body_bytes = max_message_bytes + 256 * 1024
        self.tokens = SignedTokens()
        self.limit = RateLimit(reports_per_hour, 3600)
        self.env = environment(Path(__file__).with_name("templates"))
        self.map = Map([Rule("/", endpoint="form", methods=["GET", "POST"])])

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        request.max_content_length = self.max_body_bytes
        request.max_form_memory_size = self.max_body_bytes
        try:
            self.map.bind_to_environ(environ).match()
            response = self.on_post(request) if request.method == "POST" else self._form(request, {}, {})
        except RequestEntityTooLarge:
            response = self._form(request, {}, {"evidence": "Kiriman terlalu besar."}, 413)
        except NotFound:
            response = page(self.env, "error.html", 404, message="Halaman tidak ditemukan.", root=request.script_root)
        except HTTPException as exc:
            response = exc.get_response(environ)
        return response(environ, start_response)

    def _form(self, request: Request, values: dict, errors: dict, status: int = 200,
              key: str | None = None) -> Response:
        return page(self.env, "inspektorat.html", status, cache="private, no-cache", values=values, errors=errors,
                    csrf=self.tokens.issue(), key=key or token() + token(), root=request.script_root,
                    max_file=self.max_file_bytes, max_total=self.max_message_bytes)

    def on_post(self, request: Request) -> Response:
        form = request.form
        if not self.tokens.valid(form.get("csrf")) or not _KEY.match(form.get("key", "")):
            return page(self.env, "error.html", 403, message="Formulir kedaluwarsa. Muat ulang halaman.",
                        root=request.script_root)
        if form.get("website"):  # the honeypot: people never see this field
            self.runner.spool.count(self.runner.name, "inspektorat.honeypot")
            return page(self.env, "thanks.html", code=None, ref=None, duplicate=False, root=request.script_root)
        client = self.proxies.client(request.remote_addr or "", request.headers.get("X-Forwarded-For"))
        if not self.limit.allow(client or "?"):
            self.runner.spool.count(self.runner.name, "inspektorat.rate_limited")
            return page(self.env, "error.html", 429, message="Terlalu banyak laporan dari alamat ini. Coba lagi nanti.",
                        root=request.script_root)
        values = {k: (form.get(k) or "").strip() for k in (
            "what", "unit", "position", "when", "where", "name", "phone", "email")}
        errors: dict[str, str] = {}
        if not values["what"]:
            errors["what"] = "Ceritakan apa yang terjadi."
        phone = to_e164(values["phone"]) if values["phone"] else None
        if values["phone"] and (phone is None or not phone.startswith("+")):
            errors["phone"] = "Nomor telepon tidak valid."
        if values["email"] and not _EMAIL.match(values["email"]):
            errors["email"] = "Alamat e-mail tidak valid."
        files, total = [], 0
        for f in request.files.getlist("evidence"):
            if not f.filename:
                continue
            data = f.read()
            total += len(data)
            if (f.mimetype or "").lower() not in EVIDENCE_TYPES:
                errors["evidence"] = "Bukti harus berupa foto atau PDF."
            elif len(data) > self.max_file_bytes or total > self.max_message_bytes:
                errors["evidence"] = f"Berkas terlalu besar (maks. {self.max_file_bytes // 1048576} MB per berkas)."
            files.append({"filename": f.filename, "content_type": f.mimetype, "data": base64.b64encode(data).decode()})
        if errors:
            return self._form(request, values, errors, 422, key=form.get("key"))
        code = followup_code()
        parts = [values["what"]]
        for label, name in (("Unit kerja", "unit"), ("Jabatan", "position"), ("Waktu kejadian", "when")):
            if values[name]:
                parts.append(f"{label}: {values[name]}")
        payload = {
            "id": f"insp:{form['key']}",
            "title": "Laporan penyalahgunaan wewenang",
            "description": "\n".join(parts),
            "address": values["where"] or None,
            "conversation_key": followup_key(code),
            "reporter": {"name": values["name"] or None, "phone": phone, "email": values["email"].lower() or None,
                         "anonymous": not (values["name"] or phone or values["email"]), "confidential": True},
            "attachments": files,
            "submitted_at": datetime.now(WIB).isoformat(timespec="seconds"),
        }
        raw = RawMessage("inspektorat-form", json.dumps(payload, ensure_ascii=False).encode(), utc_now(),
                         {"via": "inspektorat-form"})
        try:
            [result] = self.runner.ingest([raw])
        except Exception:  # noqa: BLE001 - no traceback: its locals could quote the report
            self.runner.log.error("inspektorat report could not be committed")
            return page(self.env, "error.html", 503, message="Laporan belum tersimpan. Coba kirim lagi sebentar lagi.",
                        root=request.script_root)
        duplicate = result.status == "duplicate"
        ref = reference_number(result.complaint.id) if result.complaint else None
        return page(self.env, "thanks.html", code=None if duplicate else code, ref=ref, duplicate=duplicate,
                    root=request.script_root)
