"""SMS encodings: the concatenation element of a User Data Header, hex UCS-2 text.

GSM 03.40 concatenation information elements:
``00 03 <ref> <total> <seq>`` (8-bit reference) and ``08 04 <ref hi> <ref lo> <total> <seq>``
(16-bit reference); a UDH starts with its own length byte (``05`` / ``06``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class EncodingError(ValueError):
    """Bytes or hex that cannot be decoded as the SMS says they are."""


@dataclass(frozen=True, slots=True)
class Concat:
    """Where one part sits in a concatenated message."""

    reference: int
    total: int
    sequence: int  # 1-based


def parse_concat(udh_hex: str | None) -> Concat | None:
    """Return the concatenation element of a hex UDH, or None (no UDH, or not a part).

    Raises:
        EncodingError: the UDH is not valid hex or is truncated.
    """
    if not udh_hex:
        return None
    try:
        data = bytes.fromhex(udh_hex.strip())
    except ValueError:
        msg = f"UDH is not hex: {udh_hex[:40]!r}"
        raise EncodingError(msg) from None
    if not data:
        return None
    end = min(len(data), 1 + data[0])
    i = 1
    while i + 1 < end:
        iei, length = data[i], data[i + 1]
        value = data[i + 2 : i + 2 + length]
        if len(value) < length:
            msg = "UDH is truncated"
            raise EncodingError(msg)
        if iei == 0x00 and length == 3:
            return _concat(value[0], value[1], value[2])
        if iei == 0x08 and length == 4:
            return _concat((value[0] << 8) | value[1], value[2], value[3])
        i += 2 + length
    return None


def udh_hex(value: bytes) -> str:
    """A UDH as a gateway sent it, as hex: hex digits are taken as they are; anything
    else is the UDH's raw bytes, as Kannel's ``%u`` sends them URL-encoded
    (``%05%00%03%2A%02%01``, see Kannel's ``gw/urltrans.c``).

    A raw UDH cannot be mistaken for hex: its first byte is its length, and a
    length of 0x30 or more (48 bytes, a third of an SMS) does not occur in practice.
    """
    text = value.strip()
    if not text:
        return ""
    try:
        bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return value.hex()
    return text.decode("ascii")


def _concat(reference: int, total: int, sequence: int) -> Concat | None:
    if total < 1 or sequence < 1 or sequence > total:
        return None  # GSM 03.40: such an element is ignored
    return Concat(reference, total, sequence)


def decode_hex_ucs2(text_hex: str) -> str:
    """Decode Gammu's hex ``Text`` column (UCS-2 big-endian, 4 hex digits a unit).

    Surrogate pairs (emoji) are joined, as UTF-16BE.

    Raises:
        EncodingError: not hex, odd length, or a lone surrogate.
    """
    try:
        data = bytes.fromhex(text_hex.strip())
    except ValueError:
        msg = "Text is not hex"
        raise EncodingError(msg) from None
    return decode_utf16be(data)


def decode_utf16be(data: bytes) -> str:
    """Decode UCS-2/UTF-16 big-endian bytes, dropping a leading byte order mark.

    Raises:
        EncodingError: odd length or invalid surrogates.
    """
    if data.startswith(b"\xfe\xff"):
        data = data[2:]
    try:
        return data.decode("utf-16-be")
    except UnicodeDecodeError as exc:
        msg = f"not valid UTF-16BE: {exc.reason}"
        raise EncodingError(msg) from None


def encode_hex_ucs2(text: str) -> str:
    """Encode text as Gammu's hex ``Text`` (uppercase hex of UTF-16BE)."""
    return text.encode("utf-16-be").hex().upper()


def decode_8bit(data: bytes) -> str:
    """Read an 8-bit (binary) message as text when it is UTF-8 text.

    Raises:
        EncodingError: the bytes are not UTF-8 text (a ringtone, a WAP push...).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        msg = "8-bit message is binary data, not text"
        raise EncodingError(msg) from None
    if any(ord(c) < 32 and c not in "\t\r\n" for c in text):
        msg = "8-bit message holds control bytes, not text"
        raise EncodingError(msg)
    return text


def join_parts(units: Sequence[str], complete: bool) -> str:
    """Join the parts' text, pairing surrogates cut at a part boundary.

    Gammu SMSD encodes each part's UTF-16 on its own, so an emoji cut at a part boundary
    arrives as two lone surrogates; ``units`` keep them (decoded with ``surrogatepass``).
    A surrogate still alone is an error in a complete message; in a part taken alone
    after the timeout, its partner is in the missing part and it becomes U+FFFD.

    Raises:
        EncodingError: a lone surrogate in a complete message.
    """
    data = "".join(units).encode("utf-16-be", "surrogatepass")
    try:
        return data.decode("utf-16-be")
    except UnicodeDecodeError as exc:
        if not complete:
            return data.decode("utf-16-be", "replace")
        msg = f"not valid UTF-16BE: {exc.reason}"
        raise EncodingError(msg) from None
