"""Deterministic complaint ids: the same source message always gets the same id.

The id is a UUIDv5 over (channel type, channel account, provider message id), plus
a content digest for a channel whose provider ids are not unique (e-mail: broken
mailers and gateways reuse a Message-ID). A re-fetch after a crash, a webhook
redelivery, or the poll and the webhook finding the same Facebook comment all
produce the same id, which is what lets the spool, the router and the CRM drop repeats.
"""

from __future__ import annotations

import hashlib
import uuid

from normalizer.fields import InvalidField

#: Fixed namespace for Kanal complaint ids. Never change it: every id ever issued
#: depends on it.
KANAL_NAMESPACE = uuid.UUID("6f1d7c1e-5b0a-4f5e-9a4e-2d3c8b7a6e10")
_NAMESPACE_BYTES = KANAL_NAMESPACE.bytes


def complaint_id(channel_type: str, account: str, provider_message_id: str, content: str | None = None) -> uuid.UUID:
    """Return the complaint id for one source message.

    Parameters:
        channel_type: the connector type (``twitter``, ``email``, ``sms``...).
        account: the receiving account (``@dkijakarta``, ``dki@jakarta.go.id``,
            ``+628111272206``). Case-insensitive.
        provider_message_id: the source's own id for the message (tweet id,
            Message-ID, Graph object id, SMSC id).
        content: a digest of what makes the message itself, when the provider id
            alone does not tell two messages apart; None leaves the id as it always was.

    Raises:
        ValueError: ``provider_message_id`` is empty.
        InvalidField: a part holds a lone UTF-16 surrogate (the message is quarantined).
    """
    if not provider_message_id:
        msg = "provider_message_id is required to derive a complaint id"
        raise ValueError(msg)
    parts = [channel_type.strip().lower(), account.strip().lower(), provider_message_id]
    if content is not None:
        parts.append(content)
    key = "\x1f".join(parts)
    try:
        encoded = key.encode()
    except UnicodeEncodeError:  # JSON may carry "\ud83d" alone; no id can be made of it
        msg = "the source's message id holds a lone UTF-16 surrogate (not valid Unicode text)"
        raise InvalidField(msg) from None
    # Same result as uuid.uuid5(KANAL_NAMESPACE, key), without its per-call overhead.
    digest = hashlib.sha1(_NAMESPACE_BYTES + encoded, usedforsecurity=False).digest()
    return uuid.UUID(bytes=digest[:16], version=5)


def reference_number(complaint_uuid: object) -> str:
    """The short reference number a citizen is told (``KNL-`` + 8 hex digits of the id)."""
    return "KNL-" + str(complaint_uuid).replace("-", "")[:8].upper()
