"""The runner's questions to a connector about one message, each guarded so that
nothing a connector does with one message can stop the intake of the others.

:func:`decide` normalises a raw message into an :class:`~connectors.base.Outcome`
(accepted, dropped, held or quarantined) and encodes it, so a message that cannot
be stored is quarantined on its own instead of failing the batch commit.
:func:`fetch_links` and :func:`reply_for` ask what to do for an accepted complaint:
which attachment links to download, which acknowledgement to send. None of them
raises: a bug in connector code becomes a quarantine entry or a logged error.
"""

from __future__ import annotations

import dataclasses

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from connectors.attachments import fetchable
from connectors.base import Accept, Connector, Drop, Hold, Outcome, RawMessage, Reply
from connectors.errors import NormaliseError
from normalizer.complaint import Complaint
from normalizer.errors import describe_validation_error
from normalizer.fields import InvalidField
from normalizer.wire import encode_complaint


def printable(reason: str) -> str:
    """``reason`` as text SQLite and UTF-8 logs can store (lone surrogates escaped)."""
    return reason.encode("utf-8", "backslashreplace").decode("utf-8")


def _lone_surrogate(exc: Exception) -> bool:
    """True when encoding the complaint failed on a lone surrogate in its text."""
    if isinstance(exc, UnicodeEncodeError):
        return "surrogate" in str(exc)
    return isinstance(exc, PydanticSerializationError) and "surrogates not allowed" in str(exc)


def decide(connector: Connector, raw: RawMessage) -> tuple[Outcome, dict[str, bytes]]:
    """Normalise one raw message into an outcome (never raises).

    Everything that depends on the message's content happens here, encoding
    included, so one bad message of a batch is quarantined on its own and the
    others are still committed.

    Returns:
        The outcome, and the attachment bytes (sha256 hex -> bytes) to store
        before the commit.
    """
    log = connector.log
    try:
        result = connector.normalise(raw)
        if isinstance(result, Hold):
            return Outcome(raw, "held", held=result), {}
        if result is None:
            result = Drop("unspecified")
        if isinstance(result, Drop):
            return Outcome(raw, "dropped", reason=result.reason), {}
        blobs: dict[str, bytes] = {}
        archive = None
        replies_to = None
        if isinstance(result, Accept):
            complaint, blobs = result.complaint, dict(result.blobs)
            archive, replies_to = result.archive, result.replies_to
        else:
            complaint = result
        if complaint.raw_ref != raw.raw_ref:
            complaint = complaint.model_copy(update={"raw_ref": raw.raw_ref})
        body = encode_complaint(complaint)  # fails here, for this message alone, not in the batch commit
    except (NormaliseError, InvalidField) as exc:
        reason = printable(str(exc))
        log.warning("message quarantined", source_id=printable(raw.source_id), error=reason)
        return Outcome(raw, "quarantined", reason=reason), {}
    except ValidationError as exc:  # pydantic quotes the refused values: name the fields only
        reason = describe_validation_error(exc)
        log.warning("message quarantined", source_id=printable(raw.source_id), error=reason)
        return Outcome(raw, "quarantined", reason=reason), {}
    except Exception as exc:
        if _lone_surrogate(exc):  # JSON may carry "\ud83d" alone; no UTF-8 complaint can hold it
            reason = "a text field holds a lone UTF-16 surrogate (not valid Unicode text)"
            log.warning("message quarantined", source_id=printable(raw.source_id), error=reason)
            return Outcome(raw, "quarantined", reason=reason), {}
        log.exception("normaliser failed; message quarantined", source_id=printable(raw.source_id))
        return Outcome(raw, "quarantined", reason=printable(f"{type(exc).__name__}: {exc}")), {}
    if archive is not None and len(archive) < len(raw.payload):
        # The archive keeps the bounded stand-in under the original's raw_ref.
        metadata = {**raw.metadata, "archived": "reduced", "original_bytes": len(raw.payload)}
        raw = dataclasses.replace(raw, payload=archive, metadata=metadata)
    return Outcome(raw, "accepted", complaint=complaint, body=body, replies_to=replies_to), blobs


def fetch_links(connector: Connector, complaint: Complaint) -> tuple[tuple[int, str], ...]:
    """The attachment links of ``complaint`` the fetcher should download (never raises).

    Returns:
        (index in ``complaint.attachments``, URL) of each link the connector gives
        credentials for (:meth:`Connector.fetch_auth`).
    """
    if not complaint.attachments:
        return ()
    try:
        return tuple((i, a.url) for i, a in enumerate(complaint.attachments)
                     if fetchable(a) and connector.fetch_auth(a.url) is not None)
    except Exception:  # a bug in fetch_auth must not stop intake: the links stay links
        connector.log.exception("could not decide which attachments to fetch", complaint_id=str(complaint.id))
        return ()


def reply_for(connector: Connector, complaint: Complaint, answerable: bool = True) -> Reply | None:
    """The acknowledgement the connector wants for ``complaint`` (never raises).

    A reply meant for the webhook answer is left out when ``answerable`` is False
    (no answer will carry it).
    """
    try:
        reply = connector.reply_for(complaint)
        return None if reply is not None and reply.in_answer and not answerable else reply
    except Exception:  # a bug in a reply rule must not stop intake
        connector.log.exception("could not build the acknowledgement; none is sent", complaint_id=str(complaint.id))
        return None
