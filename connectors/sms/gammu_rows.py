"""Reading one row of Gammu SMSD's ``inbox`` table.

A row is read into a JSON-able dict (:func:`read_row`): a column that is not UTF-8
becomes None and travels as hex under :data:`RAW_BYTES`, so a quarantined row keeps
its exact bytes. :func:`row_units` gives the text of one physical part, lone UTF-16
surrogates kept so an emoji cut at a part boundary joins up across the rows;
:func:`row_problem` says why a row cannot be read at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from connectors.sms.udh import EncodingError, decode_8bit

#: The ``inbox`` columns Kanal reads, in the order of its SELECT.
COLUMNS = (
    "ID", "ReceivingDateTime", "SenderNumber", "RecipientID", "SMSCNumber",
    "Coding", "Class", "UDH", "Text", "TextDecoded",
)

#: Key of a row's columns that are not UTF-8, as hex (a Kanal key, not a Gammu column).
RAW_BYTES = "_bytes"


def _column(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).decode("utf-8")  # UnicodeDecodeError: the caller keeps the bytes
    return value


def read_row(values: Sequence[Any]) -> dict[str, Any]:
    """One inbox row as a JSON-able dict; columns that are not UTF-8 become None, their
    bytes kept as hex under :data:`RAW_BYTES`."""
    row: dict[str, Any] = {}
    for column, value in zip(COLUMNS, values, strict=True):
        try:
            row[column] = _column(value)
        except UnicodeDecodeError:
            row[column] = None
            row.setdefault(RAW_BYTES, {})[column] = bytes(value).hex()
    return row


def row_units(row: dict[str, Any]) -> str:
    """The text of one inbox row, lone UTF-16 surrogates kept (they pair up across parts).

    Raises:
        EncodingError: neither ``Text`` nor ``TextDecoded`` can be read.
    """
    hex_text = (row.get("Text") or "").strip()
    if hex_text:
        try:
            data = bytes.fromhex(hex_text)
        except ValueError:
            msg = "Text is not hex"
            raise EncodingError(msg) from None
        if row.get("Coding") == "8bit":
            return decode_8bit(data)
        if len(data) % 2:
            msg = "Text is not UCS-2 (odd number of bytes)"
            raise EncodingError(msg)
        return data.decode("utf-16-be", "surrogatepass")
    raw = (row.get(RAW_BYTES) or {}).get("TextDecoded")
    if raw is None:
        return row.get("TextDecoded") or ""
    try:
        return bytes.fromhex(raw).decode("utf-8", "surrogatepass")
    except (ValueError, UnicodeDecodeError):
        msg = "TextDecoded is not UTF-8 and there is no hex Text to read instead"
        raise EncodingError(msg) from None


def row_problem(row: dict[str, Any]) -> str | None:
    """Why this row cannot be read on its own, or None."""
    unreadable = sorted(set(row.get(RAW_BYTES) or {}) - {"TextDecoded"})
    if unreadable:
        return f"inbox row {row.get('ID')}: {', '.join(unreadable)} not UTF-8"
    try:
        row_units(row)
    except EncodingError as exc:
        return f"inbox row {row.get('ID')}: {exc}"
    return None


def parse_receiving_time(value: Any, tz: timezone) -> datetime | None:
    """``ReceivingDateTime`` as an aware datetime (``tz`` when it has no offset), or None."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed
