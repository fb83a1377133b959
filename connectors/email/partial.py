"""Mail larger than ``max_download_bytes``, taken without downloading it whole.

From the server's BODYSTRUCTURE, :func:`plan` decides per MIME part: the header and
the container headers always, text parts and small files up to the limits, and a
marker stub for every other part. :func:`rebuild` puts the fetched sections back
together into a well-formed message in which each stub keeps its part's MIME header
(type, file name) with ``X-Kanal-Omitted: <reason>; size=<bytes>; mark=<nonce>`` and
a one-line body instead of the file, the same marker the raw archive uses for files
omitted after download (:func:`connectors.email.mime.without_omitted`).

The normaliser lists a stub as an omitted file only when its ``mark`` is the nonce the
connector put in the RawMessage metadata of that mail (``omitted_mark``), so a sender
who writes such a header into a mail cannot make Kanal drop a part of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from connectors.email.mime import OMITTED_HEADER as MARKER

_UNWANTED = re.compile(rb"^(content-transfer-encoding|x-kanal-omitted)\s*:", re.IGNORECASE)


@dataclass
class Node:
    """One MIME part of the plan.

    ``header`` and ``body`` name the IMAP sections of its header and body (HEADER and
    TEXT for the message itself, ``n.MIME`` and ``n`` for part n, ``n.HEADER`` and
    ``n.TEXT`` inside a forwarded message n). A container has ``children`` (multipart)
    or ``inner`` (message/rfc822); a leaf is fetched when ``omitted`` is None, else it
    becomes a stub with that reason and ``size`` (decoded bytes, estimated).
    """

    header: str
    body: str
    children: list[Node] = field(default_factory=list)
    inner: Node | None = None
    boundary: bytes = b""
    omitted: str | None = None
    size: int = 0


def _text(value: Any) -> str:
    return value.decode("ascii", "replace").lower() if isinstance(value, bytes) else ""


def _params(value: Any) -> dict[str, bytes]:
    if not isinstance(value, tuple | list):
        return {}
    items = list(value)
    return {_text(items[i]): items[i + 1] for i in range(0, len(items) - 1, 2) if isinstance(items[i + 1], bytes)}


def _multipart(body: Any) -> tuple[list[Any], list[Any]] | None:
    """(parts, the rest: subtype, params, ...) of a multipart structure, else None.

    imapclient gives the parts as a list at the top level, but one by one inside a
    forwarded message's structure.
    """
    if not isinstance(body, tuple | list) or not body:
        return None
    if isinstance(body[0], list):
        return list(body[0]), list(body[1:])
    if not isinstance(body[0], tuple | list):
        return None
    count = next((i for i, item in enumerate(body) if not isinstance(item, tuple | list)), len(body))
    return list(body[:count]), list(body[count:])


@dataclass
class _Planner:
    max_file_bytes: int
    budget: int
    used: int = 0

    def node(self, body: Any, prefix: str, header: str, text: str) -> Node:
        multipart = _multipart(body)
        if multipart is not None:
            parts, rest = multipart
            boundary = _params(rest[1] if len(rest) > 1 else None).get("boundary", b"")
            children = [
                self.node(child, f"{prefix}{i}.", f"{prefix}{i}.MIME", f"{prefix}{i}")
                for i, child in enumerate(parts, 1)
            ]
            return Node(header, text, children, boundary=boundary)
        kind, subtype = _text(body[0]), _text(body[1])
        if (kind, subtype) == ("message", "rfc822") and len(body) > 8 and isinstance(body[8], tuple | list):
            # A forwarded message: its header, texts and small files like the outer one's.
            return Node(header, text, inner=self.node(body[8], f"{text}.", f"{text}.HEADER", f"{text}.TEXT"))
        encoding, encoded = _text(body[5]), int(body[6] or 0)
        # base64 in MIME lines: 57 bytes become 76 characters and a CRLF (an estimate: not downloaded)
        size = encoded * 57 // 78 if encoding == "base64" else encoded
        at = 9 if kind == "text" else 8  # text parts have a line count before MD5 and disposition
        disposition = _text(body[at][0]) if len(body) > at and isinstance(body[at], tuple | list) and body[at] else ""
        is_text = kind == "text" and subtype in ("plain", "html") and disposition != "attachment"
        if size > self.max_file_bytes:
            return Node(header, text, omitted="too_large", size=size)
        if not is_text and self.used + encoded > self.budget:
            return Node(header, text, omitted="message_cap", size=size)
        self.used += encoded
        return Node(header, text, size=size)


def plan(structure: Any, max_file_bytes: int, budget: int) -> Node:
    """Decide, per part of ``structure`` (imapclient's BODYSTRUCTURE), what to fetch.

    Text parts are fetched up to ``max_file_bytes`` each; other parts when they are
    within ``max_file_bytes`` and all fetched parts stay within ``budget`` bytes.
    """
    return _Planner(max_file_bytes, budget).node(structure, "", "HEADER", "TEXT")


def sections(root: Node) -> list[str]:
    """The IMAP sections (``HEADER``, ``1.MIME``, ``2``, ...) to fetch for ``root``."""
    return list(_sections(root))


def _sections(node: Node) -> Iterator[str]:
    yield node.header
    if node.inner is not None:
        yield from _sections(node.inner)
    for child in node.children:
        yield from _sections(child)
    if not node.children and node.inner is None and node.omitted is None:
        yield node.body


def rebuild(root: Node, fetched: dict[str, bytes], mark: str) -> bytes:
    """The message put back together from ``fetched`` sections, with stubs."""
    return _render(root, fetched, mark)


def _render(node: Node, fetched: dict[str, bytes], mark: str) -> bytes:
    header = fetched.get(node.header, b"")
    if node.inner is not None:
        return _header_block(header) + _render(node.inner, fetched, mark)
    if node.children:
        out = [_header_block(header)]
        for child in node.children:
            out += [b"--", node.boundary, b"\r\n", _render(child, fetched, mark), b"\r\n"]
        out += [b"--", node.boundary, b"--\r\n"]
        return b"".join(out)
    if node.omitted is None:
        return _header_block(header) + fetched.get(node.body, b"")
    stub_header = b"".join(f for f in _fields(header) if not _UNWANTED.match(f))
    marker = f"{MARKER}: {node.omitted}; size={node.size}; mark={mark}\r\n".encode()
    note = f"[omitted by Kanal: {node.omitted}, {node.size} bytes, not downloaded]\r\n".encode()
    return stub_header + marker + b"\r\n" + note


def _header_block(header: bytes) -> bytes:
    """``header`` ending in exactly one empty line."""
    return header.rstrip(b"\r\n") + b"\r\n\r\n" if header.strip() else b"\r\n"


def _fields(header: bytes) -> list[bytes]:
    """The header's fields, each with its folded continuation lines."""
    fields: list[bytes] = []
    for line in header.splitlines(keepends=True):
        if not line.strip():
            break
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        else:
            fields.append(line)
    return [f if f.endswith(b"\n") else f + b"\r\n" for f in fields]
