"""Which charset a text part is really in: the label is a claim, the bytes are the evidence.

Mail clients and webmail get the label wrong both ways: UTF-8 text labelled
latin-1, windows-1252 text labelled UTF-8, no label at all. And a UTF-8 part
can carry one bad byte (a truncated character, a careless gateway), which must
not turn every other accent, dash and emoji of the part into mojibake.

The rule, for a part labelled UTF-8, US-ASCII, unknown or not labelled:

* Read it as UTF-8 when it is *mostly* UTF-8: it has at least as many
  well-formed non-ASCII characters as malformed byte sequences. Each malformed
  sequence becomes U+FFFD. At that line the UTF-8 reading loses no more
  characters than the windows-1252 reading would garble (every well-formed
  character would turn into two to four wrong ones).
* Otherwise the bytes are an 8-bit charset: windows-1252, else latin-1 (which
  maps every byte).

A part labelled latin-1, windows-1252 or ISO-8859-15 is read by its label,
unless it is mostly UTF-8 *and* has at least one well-formed non-ASCII
character (a common webmail bug). Any other label (koi8-r, gb2312, utf-16 ...)
is trusted when its codec accepts the bytes.

A lone 0x80 byte is not counted and is dropped in a UTF-8 reading: Dovecot
serves each NUL byte of a message as 0x80, and a NUL carries no text.
"""

from __future__ import annotations

import codecs

#: Labels often put on UTF-8 text by old clients and webmail (``codecs.lookup()`` names).
_LATIN_LABELS = frozenset({"iso8859-1", "cp1252", "iso8859-15"})
#: Labels that say nothing reliable about non-ASCII bytes.
_WEAK_LABELS = frozenset({None, "utf-8", "ascii"})
_NUL_MARK = b"\x80"
_REPLACEMENT = "\ufffd"
_ERRORS = "kanal.utf8-nul-mark"


def _nul_mark_or_replace(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return ("" if bad == _NUL_MARK else _REPLACEMENT), exc.end


codecs.register_error(_ERRORS, _nul_mark_or_replace)


def decode_text(data: bytes, declared: str | None) -> str:
    """Decode a text part's bytes, believing the bytes over a wrong or unknown label."""
    label = charset_name(declared)
    if label not in _WEAK_LABELS and label not in _LATIN_LABELS:
        try:
            return data.decode(label)  # type: ignore[arg-type]  # not None: None is a weak label
        except UnicodeDecodeError:
            pass
    if data.isascii():
        return data.decode("ascii")
    text, wellformed, malformed = _utf8_reading(data)
    if wellformed >= malformed and (wellformed or label not in _LATIN_LABELS):
        return text
    try:
        return data.decode(label if label in _LATIN_LABELS else "cp1252")  # type: ignore[arg-type]
    except UnicodeDecodeError:  # bytes windows-1252 leaves undefined (0x81, 0x8d ...)
        return data.decode("latin-1")


def _utf8_reading(data: bytes) -> tuple[str, int, int]:
    """The UTF-8 reading of ``data``, its well-formed non-ASCII characters and its
    malformed sequences (lone 0x80 bytes dropped and not counted)."""
    text = data.decode("utf-8", _ERRORS)
    malformed = text.count(_REPLACEMENT) - data.count(_REPLACEMENT.encode())
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    return text, non_ascii - malformed, malformed


def charset_name(declared: str | None) -> str | None:
    """The codec name of a declared charset, or None when missing or unknown."""
    if not declared:
        return None
    try:
        return codecs.lookup(declared.strip().strip('"')).name
    except (LookupError, ValueError):
        return None
