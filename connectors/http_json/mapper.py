"""One JSON record -> one complaint, by the channel's JMESPath mapping. Pure: no I/O.

A record that cannot be mapped (no id, no text, a time that does not parse, a value
of the wrong shape) raises :class:`connectors.errors.NormaliseError` naming the
mapping option, so the runner quarantines the raw JSON with that reason and an admin
knows which line of the config or which field of the payload to look at.
"""

from __future__ import annotations

import math
import mimetypes
import zoneinfo
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from connectors.attachments import safe_filename
from connectors.base import Drop
from connectors.errors import NormaliseError
from connectors.http_json.config import CreatedTime, RecordMapping
from connectors.http_json.option_types import compile_expression
from normalizer.complaint import Attachment, ChannelRef, Complaint, Location, Reporter
from normalizer.identity import complaint_id
from normalizer.phone import to_e164
from normalizer.text import clean_line, clean_text
from normalizer.timeutil import WIB

#: More photo URLs than this in one record are not listed (a feed bug, not a report).
MAX_PHOTOS = 20
_TRUE_WORDS = frozenset({"1", "true", "yes", "ya", "y", "t"})


def evaluate(expression: str, record: Any) -> Any:
    """The value of a JMESPath ``expression`` in ``record`` (None when absent)."""
    return compile_expression(expression).search(record)


def select_records(body: Any, selector: str) -> list[Any]:
    """The records a response body holds under ``selector``: a list, one object, or none."""
    value = evaluate(selector, body)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@lru_cache(maxsize=64)
def time_zone(name: str) -> tzinfo:
    """The zone called ``name`` (Asia/Jakarta is WIB, the default)."""
    return WIB if name in ("Asia/Jakarta", "WIB") else zoneinfo.ZoneInfo(name)


def parse_time(value: Any, fmt: str, zone: str) -> datetime:
    """Read a time written as ``fmt`` (iso, epoch, epoch_ms or strptime); a time
    without an offset is in ``zone``.

    Raises:
        ValueError: the value does not match the format.
    """
    tz = time_zone(zone)
    if fmt in ("epoch", "epoch_ms"):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(f"{value!r} is not a number")
        seconds = float(value) / (1000 if fmt == "epoch_ms" else 1)
        return datetime.fromtimestamp(seconds, UTC).astimezone(tz)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not text")  # noqa: TRY004 - callers catch ValueError for every bad time
    text = value.strip()
    if fmt == "iso":
        moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    else:
        moment = datetime.strptime(text, fmt)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)


def as_text(value: Any, option: str) -> str | None:
    """A scalar as text (None for null or empty); lists and objects are a mapping error."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise NormaliseError(f"mapping.{option}: expected text or a number, got a {type(value).__name__}")


def as_flag(value: Any) -> bool:
    """Truthiness as sources write it: true, 1, "1", "ya", "yes"."""
    if isinstance(value, str):
        return value.strip().lower() in _TRUE_WORDS
    return bool(value) and value is not None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class _Record:
    """One record and the mapping, with field access that names the option on failure."""

    def __init__(self, record: Any, mapping: RecordMapping) -> None:
        self.record = record
        self.mapping = mapping

    def raw(self, option: str) -> Any:
        expression = getattr(self.mapping, option)
        return None if expression is None else evaluate(expression, self.record)

    def text(self, option: str) -> str | None:
        return as_text(self.raw(option), option)

    def line(self, option: str) -> str | None:
        value = self.text(option)
        return clean_line(value) or None if value else None


def _created(record: Any, created: CreatedTime) -> datetime:
    value = evaluate(created.path, record)
    if value is None or value == "":
        raise NormaliseError(f"mapping.created: no value at {created.path!r} in this record")
    try:
        return parse_time(value, created.format, created.timezone)
    except (ValueError, OverflowError, OSError) as exc:
        raise NormaliseError(f"mapping.created: {value!r} does not match format {created.format!r} ({exc})") from None


def photo_attachments(value: Any) -> tuple[Attachment, ...]:
    """Photo URLs as attachments kept by reference; a URL that is not https is listed
    as omitted (``not_https``) without the URL."""
    if isinstance(value, str):
        urls = [value]
    else:
        urls = [u for u in value if isinstance(u, str)] if isinstance(value, list) else []
    out = []
    for url in [u.strip() for u in urls if u.strip()][:MAX_PHOTOS]:
        parts = urlsplit(url)
        name = safe_filename(parts.path.rsplit("/", 1)[-1]) if parts.path else None
        content_type = mimetypes.guess_type(parts.path)[0] if parts.path else None
        if parts.scheme == "https" and parts.hostname:
            out.append(Attachment(filename=name, content_type=content_type, url=url, omitted_reason="reference_only"))
        else:
            out.append(Attachment(filename=name, content_type=content_type, omitted_reason="not_https"))
    return tuple(out)


def _location(rec: _Record) -> tuple[Location, list[str]]:
    flags = []
    lat, long = _number(rec.raw("lat")), _number(rec.raw("long"))
    point = lat is not None and long is not None and not (lat == 0 and long == 0)
    if point and not (-90 <= lat <= 90 and -180 <= long <= 180):
        flags.append("bad_coordinates")
        point = False
    names = {k: rec.line(k) for k in ("kelurahan", "kecamatan", "kota", "address")}
    address = names.pop("address")
    method = "gps" if point else "text" if address or any(names.values()) else "none"
    location = Location(
        lat=lat if point else None, long=long if point else None, address_string=address, method=method, **names
    )
    return location, flags


def _status(rec: _Record) -> Drop | list[str]:
    statuses = rec.mapping.status
    if statuses is None:
        return []
    value = as_text(evaluate(statuses.path, rec.record), "status.path")
    if value is not None and value in statuses.ignore:
        return Drop(f"status:{value}")
    if statuses.accept and value is not None and value not in statuses.accept:
        return ["status_unknown"]
    return []


def map_record(
    record: Any, mapping: RecordMapping, channel: ChannelRef, received_at: datetime, raw_ref: str
) -> Complaint | Drop:
    """Map one record to a complaint, or a :class:`Drop` for a status that is not for us.

    The complaint id is derived from (channel type, ``channel.account``, provider id),
    so the same report pushed and polled is one complaint.

    Raises:
        NormaliseError: the record does not map; the message names the option.
    """
    if not isinstance(record, dict):
        raise NormaliseError(f"the record is a {type(record).__name__}, not a JSON object")
    rec = _Record(record, mapping)
    provider_id = rec.text("provider_id")
    if provider_id is None or not provider_id.strip():
        raise NormaliseError(f"mapping.provider_id: no value at {mapping.provider_id!r} in this record")
    provider_id = provider_id.strip()
    status = _status(rec)
    if isinstance(status, Drop):
        return status
    description, truncated = clean_text(rec.text("description") or "")
    if not description:
        raise NormaliseError(f"mapping.description: no text at {mapping.description!r} in this record")
    location, flags = _location(rec)
    flags = [*status, *flags, *(name for name, expr in mapping.flags.items() if as_flag(evaluate(expr, record)))]
    category = rec.line("category")
    phone = rec.text("reporter_phone")
    email = (rec.text("reporter_email") or "").strip().lower()
    url = rec.text("url") or (mapping.url_template.format(provider_id=provider_id) if mapping.url_template else None)
    requested = _created(record, mapping.created) if mapping.created else received_at.astimezone(WIB)
    try:
        return Complaint(
            id=complaint_id(channel.type, channel.account, provider_id),
            channel=channel,
            provider_message_id=provider_id,
            received_at=received_at,
            requested_datetime=requested,
            reporter=Reporter(
                name=rec.line("reporter_name"),
                provider_user_id=rec.text("reporter_id"),
                phone=to_e164(phone) if phone else None,
                email=email if "@" in email else None,
                anonymous=as_flag(rec.raw("anonymous")),
            ),
            title=rec.line("title"),
            description=description,
            description_truncated=truncated,
            language=mapping.language,
            url=url if url and url.startswith("https://") else None,
            attachments=photo_attachments(rec.raw("photos")),
            location=location,
            service_code=mapping.category_map.get(category, category) if category else None,
            flags=tuple(dict.fromkeys(flags)),
            raw_ref=raw_ref,
        )
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise NormaliseError(f"the mapped complaint is not valid: {where}: {first['msg']}") from None
