"""Small helpers to write raw RFC 5322 / MIME messages byte by byte (CRLF lines).

The corpus is written by hand rather than with ``EmailMessage`` so it keeps the
quirks real clients produce (wrong charsets, odd boundaries, TNEF, QP soft breaks).
"""

from __future__ import annotations

import base64
import quopri
from collections.abc import Sequence

Header = tuple[str, str]
CRLF = b"\r\n"


def _lines(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", CRLF)


def headers(items: Sequence[Header]) -> bytes:
    """Header block (without the blank line)."""
    return CRLF.join(f"{name}: {value}".encode("ascii") for name, value in items)


def message(items: Sequence[Header], body: bytes) -> bytes:
    """A whole message: headers, blank line, body (line endings made CRLF)."""
    return headers(items) + CRLF + CRLF + _lines(body)


def part(
    content_type: str, body: bytes, extra: Sequence[Header] = (), encoding: str | None = None
) -> bytes:
    """One MIME part; ``encoding`` base64 or quoted-printable encodes ``body``."""
    items: list[Header] = [("Content-Type", content_type), *extra]
    if encoding:
        items.append(("Content-Transfer-Encoding", encoding))
    return headers(items) + CRLF + CRLF + _lines(encode_body(body, encoding))


def encode_body(body: bytes, encoding: str | None) -> bytes:
    """``body`` in the transfer encoding (base64, quoted-printable; else as is)."""
    if encoding == "base64":
        return base64.encodebytes(body)
    if encoding == "quoted-printable":
        return quopri.encodestring(body)
    return body


def multipart(boundary: str, parts: Sequence[bytes], preamble: bytes = b"") -> bytes:
    """A multipart body with ``parts`` separated by ``boundary``."""
    out = [preamble] if preamble else []
    for item in parts:
        out.append(f"--{boundary}".encode() + CRLF + item + CRLF)
    out.append(f"--{boundary}--".encode() + CRLF)
    return b"".join(out)


def fake_jpeg(seed: int, size: int = 2048) -> bytes:
    """Deterministic bytes that start like a JPEG (not a real picture)."""
    block = bytes((seed * 31 + i * 7) % 256 for i in range(256))
    return (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + block * (size // 256 + 1))[:size]
