"""The ``walkin`` channel: complaints recorded at walk-in desks.

A desk application either writes one JSON file per complaint into ``inbox``
(the file is moved to ``done`` only after the spool commit) or POSTs the same JSON
to ``/webhooks/<channel>`` with ``Authorization: Bearer <token>``. The JSON::

    {"id": "BK-2026-000123",                 # the desk's own reference (required)
     "description": "Jalan berlubang ...",    # required
     "title": "...", "address": "...",
     "reporter": {"name": "...", "phone": "0812...", "email": "...",
                  "anonymous": false, "confidential": false},
     "submitted_at": "2026-11-27T09:15:00+07:00",
     # optional, written by the desk app (kanal/desk) and open to any desk software:
     "desk": "kel-gambir",                     # one of the channel's desks: its name is the account
     "category": "jalan_rusak",                # the router's category, as service_code
     "location": {"kelurahan_code": "31.71.01.1001", "kelurahan": "Gambir", "kecamatan_code": "...",
                  "kecamatan": "...", "kota_code": "...", "kota": "...", "lat": -6.17, "long": 106.82},
     "attachments": [{"filename": "foto.jpg", "content_type": "image/jpeg", "data": "<base64>"}]}

A location with a ``kelurahan_code`` was chosen from the gazetteer (method ``place``).
The area the desk serves (``area`` of the desk or of the channel, a kelurahan or kecamatan
code) travels as the flag ``desk_area:<code>``: the router's last location fallback.
Attachments are kept within the attachment caps; the raw archive keeps the JSON
with each file's bytes replaced by its digest. A channel with ``confidential: true``
marks every reporter confidential, so the router sends it only to the confidential queue.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Response

from connectors.attachments import AttachmentBudget
from connectors.base import Accept, Connector, Drop, IngestResult, NormaliseResult, RawMessage
from connectors.errors import NormaliseError, TransientError
from connectors.push import (
    UnreadableBody,
    WebhookOutcome,
    WebhookRequest,
    WebhookRoute,
    constant_time_equals,
    forbidden,
    load_json,
)
from connectors.walkin.config import DESK_AREA_FLAG, WalkInOptions
from normalizer.complaint import ChannelRef, Complaint, Location, Reporter
from normalizer.fields import identifier, text_field
from normalizer.identity import complaint_id
from normalizer.phone import to_e164
from normalizer.text import clean_line, clean_text
from normalizer.timeutil import WIB, ensure_aware, parse_local, utc_now


class WalkInConnector(Connector):
    """Walk-in desk complaints from a drop folder and an HTTP JSON endpoint."""

    type_name = "walkin"
    config_model = WalkInOptions
    options: WalkInOptions

    @property
    def account(self) -> str:
        """The desk name."""
        return self.options.desk

    @property
    def done_dir(self) -> Path | None:
        """Where handled files go."""
        if self.options.inbox is None:
            return None
        return self.options.done or self.options.inbox.parent / "done"

    @property
    def pulls(self) -> bool:
        """Polled only when a drop folder is configured."""
        return self.options.inbox is not None

    def open(self) -> None:
        """Create the drop and done folders."""
        if self.options.inbox is not None:
            self.options.inbox.mkdir(parents=True, exist_ok=True)
            self.done_dir.mkdir(parents=True, exist_ok=True)

    def fetch(self, since: Any) -> Iterator[RawMessage]:
        """Yield the JSON files waiting in the inbox, oldest first."""
        inbox = self.options.inbox
        try:
            entries = sorted(
                (e for e in os.scandir(inbox) if e.is_file() and e.name.endswith(".json")),
                key=lambda e: (e.stat().st_mtime_ns, e.name),
            )[: self.options.max_files_per_poll]
        except OSError as exc:
            raise TransientError(f"cannot list {inbox}: {exc.strerror}") from exc
        for entry in entries:
            try:
                payload = Path(entry.path).read_bytes()
            except FileNotFoundError:
                continue
            yield RawMessage(entry.name, payload, utc_now(), {"file": entry.name})

    def acknowledge(self, results: Sequence[IngestResult]) -> None:
        """Move files whose message is durable (taken, duplicate, dropped or quarantined)."""
        done = self.done_dir
        if done is None:
            return
        done.mkdir(parents=True, exist_ok=True)
        for result in results:
            name = result.raw.metadata.get("file")
            if name:
                source = self.options.inbox / name
                if source.exists():
                    os.replace(source, done / name)

    def normalise(self, raw: RawMessage) -> NormaliseResult:
        """Validate the desk's JSON and build the complaint."""
        try:
            data = load_json(raw.payload)
        except UnreadableBody as exc:
            raise NormaliseError(f"not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise NormaliseError("the JSON must be an object")
        if data.get("test") is True:
            return Drop("desk_test_message")
        if data.get("id") in (None, ""):
            raise NormaliseError("missing 'id' (the desk's own reference)")
        ref = identifier(data["id"], "id")
        description, truncated = clean_text(text_field(data.get("description"), "description"))
        if not description:
            raise NormaliseError("missing or empty 'description'")
        reporter = data.get("reporter") or {}
        if not isinstance(reporter, dict):
            raise NormaliseError("'reporter' must be an object")
        name, email = (text_field(reporter.get(k), f"reporter.{k}") for k in ("name", "email"))
        phone = reporter.get("phone")
        phone = str(phone) if isinstance(phone, int) and not isinstance(phone, bool) else \
            text_field(phone, "reporter.phone")
        title, address = (text_field(data.get(k) or None, k) for k in ("title", "address"))
        submitted = _parse_time(data.get("submitted_at"), self.options.time_format)
        submitted = submitted or raw.received_at.astimezone(WIB)
        address = clean_line(address) if address else None
        channel, account, area = self._channel_of(data.get("desk"))
        budget = AttachmentBudget(self.context.max_file_bytes, self.context.max_message_bytes)
        attachments, archive = _attachments(data, budget)
        category = text_field(data.get("category") or None, "category")
        conversation = text_field(data.get("conversation_key") or None, "conversation_key")
        complaint = Complaint(
            id=complaint_id(self.type_name, account, ref),
            channel=channel,
            provider_message_id=ref,
            received_at=raw.received_at,
            requested_datetime=submitted,
            reporter=Reporter(
                name=clean_line(name) if name else None,
                phone=to_e164(phone) if phone else None,
                email=email.strip().lower() if email else None,
                anonymous=bool(reporter.get("anonymous", False)),
                confidential=self.options.confidential or bool(reporter.get("confidential", False)),
            ),
            title=clean_line(title) if title else None,
            description=description,
            description_truncated=truncated,
            conversation_key=conversation or None,
            language="id",
            attachments=attachments,
            location=_location(data.get("location"), address),
            service_code=category or None,
            flags=(f"{DESK_AREA_FLAG}{area}",) if area else (),
            raw_ref=raw.raw_ref,
        )
        if not budget.blobs and archive is None:
            return complaint
        return Accept(complaint, budget.blobs, archive=archive)

    def _channel_of(self, desk_id: Any) -> tuple[ChannelRef, str, str | None]:
        """The channel reference, account and area served: the named desk's, or the channel's own."""
        if not desk_id:
            return self.channel_ref, self.account, self.options.area
        desk = self.options.desk_login(str(desk_id))
        if desk is None:
            raise NormaliseError(f"unknown desk {str(desk_id)[:60]!r}")
        return self.channel_ref.model_copy(update={"account": desk.name}), desk.name, desk.area

    def webhook_routes(self) -> Sequence[WebhookRoute]:
        """``POST /webhooks/<channel>`` when a token is configured."""
        if self.options.token is None:
            return ()
        return (WebhookRoute("POST", "", self._receive),)

    def _receive(self, request: WebhookRequest) -> Response | WebhookOutcome:
        supplied = request.headers.get("authorization", "")
        expected = f"Bearer {self.options.token.get()}"
        if not constant_time_equals(supplied, expected):
            return forbidden()
        raw = RawMessage(f"http:{len(request.body)}b", request.body, utc_now(), {"via": "http"})
        return WebhookOutcome([raw], reply=_json_reply)


_NO_LOCATION = Location()
_PLACE_FIELDS = ("kelurahan", "kelurahan_code", "kecamatan", "kecamatan_code", "kota", "kota_code", "postal_code")


def _location(value: Any, address: str | None) -> Location:
    """The desk's location: a kelurahan chosen from the gazetteer (``place``), an address, coordinates."""
    if value is None:
        return Location(address_string=address, method="text") if address else _NO_LOCATION
    if not isinstance(value, dict):
        raise NormaliseError("'location' must be an object")
    fields: dict[str, Any] = {k: clean_line(str(value[k])) for k in _PLACE_FIELDS if value.get(k)}
    for key in ("lat", "long"):
        if value.get(key) is not None:
            try:
                fields[key] = float(value[key])
            except (TypeError, ValueError):
                raise NormaliseError(f"'location.{key}' is not a number") from None
    method = "place" if fields.get("kelurahan_code") else "gps" if "lat" in fields else "text" if address else "none"
    return Location(address_string=address, method=method, **fields)


def _attachments(data: dict[str, Any], budget: AttachmentBudget) -> tuple[tuple, bytes | None]:
    """Decode the files of the JSON within the caps; the archive keeps digests instead of bytes."""
    files = data.get("attachments") or []
    if not files:
        return (), None
    if not isinstance(files, list) or not all(isinstance(f, dict) for f in files):
        raise NormaliseError("'attachments' must be a list of objects")
    taken = []
    archived = []
    for item in files:
        try:
            blob = base64.b64decode(str(item.get("data") or ""), validate=True)
        except (binascii.Error, ValueError):
            raise NormaliseError("an attachment's 'data' is not base64") from None
        attachment = budget.take(blob, item.get("filename"), item.get("content_type"))
        taken.append(attachment)
        archived.append({k: v for k, v in item.items() if k != "data"} | {"sha256": attachment.sha256})
    archive = json.dumps(data | {"attachments": archived}, ensure_ascii=False).encode()
    return tuple(taken), archive


def _json_reply(results: Sequence[IngestResult]) -> Response:
    result = results[0]
    body: dict[str, Any] = {"status": result.status}
    if result.complaint_id:
        body["complaint_id"] = str(result.complaint_id)
    if result.reason:
        body["reason"] = result.reason
    status = 202 if result.status in ("accepted", "duplicate") else 200
    return Response(json.dumps(body).encode(), status, content_type="application/json")


def _parse_time(value: Any, fmt: str | None) -> datetime | None:
    if not value:
        return None
    try:
        if fmt:
            return parse_local(str(value), fmt, WIB)
        return ensure_aware(datetime.fromisoformat(str(value)), WIB)
    except ValueError:
        expected = f"the format {fmt!r}" if fmt else "ISO-8601 (or set the channel's time_format option)"
        raise NormaliseError(f"'submitted_at' {value!r} does not match {expected}") from None
