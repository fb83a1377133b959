"""The raw payload of one Facebook item, as archived in the spool and read by ``normalise``.

A webhook body can carry many events and a poll reads many items, but each
complaint needs its own raw message (its own quarantine entry if it is bad). So
every item is wrapped in a small JSON envelope that keeps the item exactly as
Meta sent it plus the context ``normalise`` needs::

    {"source": "webhook" | "poll",
     "kind": "messaging" | "change" | "post" | "comment" | "message" | "ig_comment" | "body",
     "page_id": "...", "object": "page" | "instagram", "entry_id": "...",
     "entry_time": 1764200000, "post_id": "...", "conversation_id": "...", "media_id": "...",
     "mentioned": {... a mention's comment or media, read when the webhook came ...},
     "data": {... the item ...}}
"""

from __future__ import annotations

import json
from typing import Any

from connectors.push import json_bytes

#: Kinds an envelope can have.
KINDS = frozenset({"messaging", "change", "post", "comment", "message", "ig_comment", "body"})


def envelope(source: str, kind: str, page_id: str, data: Any, **context: Any) -> bytes:
    """Serialise one item with its context (keys sorted, so equal input gives equal bytes)."""
    doc = {"source": source, "kind": kind, "page_id": page_id, "data": data}
    doc.update({k: v for k, v in context.items() if v is not None})
    # An item UTF-8 cannot hold (a lone surrogate) is kept with \u escapes and
    # quarantined by normalise on its own, not fail the whole delivery here.
    return json_bytes(doc, sort_keys=True, separators=(",", ":"))


def open_envelope(payload: bytes) -> dict[str, Any]:
    """Parse an envelope; ValueError when it is not one."""
    doc = json.loads(payload)
    if not isinstance(doc, dict) or doc.get("kind") not in KINDS:
        msg = "not a Kanal Facebook envelope (no known 'kind')"
        raise ValueError(msg)
    return doc
