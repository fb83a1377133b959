"""Indonesian phone numbers to E.164, with the ``phonenumbers`` library.

Citizens and gateways write the same number as ``0811 1272 206``, ``628111272206``
or ``+628111272206``; all become ``+628111272206``. Short codes (``1708``, ``112``)
are not E.164 numbers and are kept as they are. libphonenumber does not know 1708,
so short codes are recognised by length here, not by its short-number data.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

_MAX_SHORT_CODE_DIGITS = 6
_SEPARATORS = re.compile(r"[\s\-().]")
# Indonesian mobile numbers (libphonenumber's ID mobile pattern 8[1-35-9]\d{7,10}) in
# their three everyday spellings. They are most of what SMS and desks send, and
# phonenumbers.parse costs ~0.1 ms each, so these skip it; the result is identical
# (tests compare the two).
_ID_MOBILE = re.compile(r"^(?:\+62|62|0)(8[1-35-9]\d{7,10})$")
_ALPHANUMERIC_SENDER = re.compile(r"^(?=[^A-Za-z]*[A-Za-z])[A-Za-z0-9 .&_-]{1,11}$")
_NUMBER_TEXT = re.compile(r"^\+?[\d\s\-().]{1,32}$")


def is_short_code(value: str) -> bool:
    """True for a service short code such as ``1708`` or ``112``."""
    digits = _SEPARATORS.sub("", value)
    return digits.isdigit() and 3 <= len(digits) <= _MAX_SHORT_CODE_DIGITS


def is_alphanumeric_sender(value: str) -> bool:
    """True for a masked sender name (``TELKOMSEL``, ``INFO-BANK``, ``BY.U``) rather than a number.

    GSM 03.40 carries such a name as at most 11 characters of the GSM alphabet;
    operators use letters, digits, spaces and ``. - _ &``. Anything longer or with
    other characters (quotes, ``;``, ``/``) is not a sender name but garbage.
    """
    return _ALPHANUMERIC_SENDER.match(value.strip()) is not None


def is_phone_number_text(value: str) -> bool:
    """True when ``value`` is written only with digits, separators and a leading ``+``
    (it may still be an invalid number; see :func:`to_e164`)."""
    return _NUMBER_TEXT.match(value.strip()) is not None


@lru_cache(maxsize=65536)
def to_e164(value: str, region: str = "ID") -> str | None:
    """Return ``value`` as E.164 (``+62...``), the short code itself, or None if invalid.

    A bare ``62...`` is read as an international number: libphonenumber would take
    ``62 21 ...`` as a national number starting 062 otherwise.
    """
    if not value:
        return None
    text = _SEPARATORS.sub("", value.strip())
    if text.startswith("00") and text[2:].isdigit():
        text = "+" + text[2:]
    if is_short_code(text):
        return text
    if region == "ID":
        mobile = _ID_MOBILE.match(text)
        if mobile:
            return "+62" + mobile.group(1)
    return _parse_with_phonenumbers(text, region)


def _parse_with_phonenumbers(text: str, region: str) -> str | None:
    if text.startswith("62") and text.isdigit():
        text = "+" + text
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
