"""Strip quoted replies and signatures from a mail body (Indonesian and English).

A citizen's reply usually carries the whole earlier conversation below it. The
complaint keeps only what the citizen wrote this time; the full text stays in
the archived .eml. The cut is made at the first of:

* an attribution line: ``Pada <tanggal>, <nama> menulis:`` / ``On <date>, <name>
  wrote:`` (also when the client wrapped it over two or three lines);
* ``-----Original Message-----`` / ``-----Pesan Asli-----``;
* an Outlook header block (``From:``/``Dari:`` followed by ``Sent:``/``Dikirim:``),
  with the ``____`` rule above it;
* a signature: the ``-- `` delimiter, or a short ``Dikirim dari ...`` /
  ``Sent from ...`` / ``Get Outlook for ...`` line.

Lines quoted with ``>`` are removed wherever they are. Forwarded blocks
(``---------- Forwarded message ---------``) are kept: there the forwarded text
is the complaint. If stripping would leave nothing, the text is kept as it was.
"""

from __future__ import annotations

import re

_ATTRIBUTION_START = re.compile(r"^\s*(pada|on)\s+\S", re.IGNORECASE)
_ATTRIBUTION_END = re.compile(r"(menulis|wrote)\s*:\s*$", re.IGNORECASE)
_ORIGINAL = re.compile(
    r"^\s*-{3,}\s*(original message|pesan asli|pesan asal)\s*-{3,}\s*$", re.IGNORECASE
)
_RULE = re.compile(r"^\s*_{10,}\s*$")
_HEADER_FROM = re.compile(r"^\s*\*?(from|dari)\s*:\*?\s", re.IGNORECASE)
_HEADER_SENT = re.compile(r"^\s*\*?(sent|dikirim|terkirim)\s*:\*?\s", re.IGNORECASE)
_SIG_DELIMITER = re.compile(r"^--\s?$")
_MOBILE_SIGNATURE = re.compile(
    r"^\s*(dikirim dari|terkirim dari|sent from|get outlook for|dapatkan outlook untuk|sent via|diambil dari)\b",
    re.IGNORECASE,
)
_MAX_SIGNATURE_LINE = 70
_QUOTED = re.compile(r"^\s*>")


def strip_quotes(text: str) -> str:
    """Return ``text`` without quoted replies and signatures (see module doc)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut = _first_cut(lines)
    kept = [line for line in lines[:cut] if not _QUOTED.match(line)]
    result = "\n".join(kept).strip()
    return result or text.strip()


def _first_cut(lines: list[str]) -> int:
    for index, line in enumerate(lines):
        if _is_attribution(lines, index) or _ORIGINAL.match(line) or _SIG_DELIMITER.match(line):
            return index
        if _is_outlook_header(lines, index):
            return index - 1 if index > 0 and _RULE.match(lines[index - 1]) else index
        if _RULE.match(line) and index + 1 < len(lines) and _is_outlook_header(lines, index + 1):
            return index
        if _MOBILE_SIGNATURE.match(line) and len(line.strip()) <= _MAX_SIGNATURE_LINE:
            return index
    return len(lines)


def _is_attribution(lines: list[str], index: int) -> bool:
    if not _ATTRIBUTION_START.match(lines[index]):
        return False
    joined = " ".join(line.strip() for line in lines[index : index + 3])
    for end in range(index, min(index + 3, len(lines))):
        if _ATTRIBUTION_END.search(lines[end]):
            return len(joined) < 400
    return False


def _is_outlook_header(lines: list[str], index: int) -> bool:
    if not _HEADER_FROM.match(lines[index]):
        return False
    return any(_HEADER_SENT.match(line) for line in lines[index + 1 : index + 4])
