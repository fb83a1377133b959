"""The connector contract every channel type implements.

A connector is small: a pydantic options model, a ``fetch(since)`` that does I/O
only and yields raw messages with the checkpoint each one makes safe, a pure
``normalise(raw)``, and optional hooks. It never writes to the spool and never
advances a checkpoint: :mod:`connectors.runner` does that, the same way for
every channel.

Over 300 lines on purpose: this is the contract a connector author reads, and its
companion types (the raw message, what ``normalise`` returns, the results
``acknowledge`` receives, the reply) sit next to the base class they describe.
What the runner needs from the spool is apart, in :mod:`connectors.spool_protocol`.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple

from pydantic import BaseModel

from normalizer.complaint import ChannelRef, Complaint

if TYPE_CHECKING:
    import uuid

    import structlog

    from connectors.push import WebhookRoute


class _Unchanged:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNCHANGED"


#: Checkpoint value meaning "this message does not move the checkpoint".
UNCHANGED: Any = _Unchanged()


def raw_ref_for(payload: bytes) -> str:
    """Return the archive reference of a raw payload (content-addressed)."""
    return "raw:sha256:" + hashlib.sha256(payload).hexdigest()


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One message exactly as the source gave it.

    Attributes:
        source_id: the source's id for it (tweet id, IMAP UID, file name), for logs
            and quarantine; not necessarily the provider message id.
        payload: the untouched bytes; archived and, on failure, quarantined as is.
        received_at: when Kanal got it (aware datetime).
        metadata: JSON-serialisable context normalise needs and the payload lacks
            (file name, HTTP headers, the account it came to). Stored with the
            payload so ``kanal quarantine retry`` can rebuild the message.
        checkpoint: JSON-serialisable value safe to store once this message and all
            before it are durable; :data:`UNCHANGED` to leave the checkpoint as is.
    """

    source_id: str
    payload: bytes
    received_at: datetime
    metadata: Mapping[str, Any] = field(default_factory=dict)
    checkpoint: Any = UNCHANGED

    @property
    def raw_ref(self) -> str:
        """Archive reference of the payload, for ``Complaint.raw_ref``."""
        return raw_ref_for(self.payload)


class CheckpointAdvance(NamedTuple):
    """Yielded by ``fetch`` to move the checkpoint without a message (an empty poll
    that still learned a newer cursor)."""

    value: Any


@dataclass(frozen=True, slots=True)
class Drop:
    """``normalise`` returns this for a message that is not a complaint, on purpose
    (our own replies, auto-replies, delivery reports). Counted per reason."""

    reason: str


class Accept(NamedTuple):
    """A complaint plus file contents to keep in the attachment store.

    ``blobs`` maps sha256 hex to bytes; the runner stores them before the spool
    commit, so a complaint never points at a file that is not there.

    ``archive``, when set, is what the raw archive keeps instead of the payload: a
    bounded stand-in for a large message whose big parts were not kept anyway (mail
    with its omitted attachments replaced by markers). ``raw_ref`` still names the
    original payload.

    ``replies_to`` is the provider message id of the message this one answers, for a
    channel whose complaint ids cannot be derived from it (e-mail: the id also rests
    on the mail's content); the runner sets ``in_reply_to`` to the complaint taken in
    under that provider id, if any.
    """

    complaint: Complaint
    blobs: Mapping[str, bytes] = {}
    archive: bytes | None = None
    replies_to: str | None = None


@dataclass(frozen=True, slots=True)
class Hold:
    """``normalise`` returns this for one part of a message whose other parts come
    separately (a concatenated SMS part in its own request).

    The spool keeps the part (the raw bytes) in the same transaction that would have
    stored a complaint, so the source may be acknowledged; the runner joins the
    parts with :meth:`Connector.assemble` once ``total`` are there, or takes each
    alone after :attr:`Connector.hold_timeout` (see :mod:`kanal.held_parts`).

    Attributes:
        key: what the parts of one message share (sender, reference, total...).
        sequence: 1-based position of this part.
        total: number of parts of the message.
    """

    key: str
    sequence: int
    total: int


NormaliseResult = Complaint | Accept | Drop | Hold


@dataclass(frozen=True, slots=True)
class Reply:
    """An acknowledgement for the reporter of a newly accepted complaint.

    The spool grants it in the transaction that stores the complaint, at most once
    per (channel, recipient) per ``window_seconds``; a granted reply is either part
    of the webhook answer or queued in the spool's ack outbox for the ack sender.

    Attributes:
        recipient: where it goes (a phone number in E.164 for SMS).
        text: what it says (Indonesian, with the reference number).
        window_seconds: at most one reply per recipient of this channel in this
            window (0 = no limit).
        in_answer: True when the connector carries it in its webhook answer (Kannel
            reply body, TwiML, the JSON ``reply`` field); False when the ack sender
            delivers it later through :meth:`Connector.send_reply`.
    """

    recipient: str
    text: str
    window_seconds: float = 0
    in_answer: bool = False


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What became of one raw message after the spool commit."""

    raw: RawMessage
    status: Literal["accepted", "duplicate", "dropped", "quarantined", "held"]
    complaint: Complaint | None = None
    reason: str | None = None
    #: The acknowledgement the spool granted with this commit (accepted only), else None.
    reply: Reply | None = None

    @property
    def complaint_id(self) -> uuid.UUID | None:
        """Id of the complaint (accepted or duplicate), else None."""
        return self.complaint.id if self.complaint is not None else None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the runner decided for one raw message, ready to commit.

    ``kind`` is ``accepted`` (with ``complaint`` and its encoded ``body``),
    ``dropped`` (with ``reason``) or ``quarantined`` (with ``reason`` = the error).
    ``reply`` is the acknowledgement the connector wants for an accepted complaint;
    the spool grants it or not (window) in the same transaction.
    ``replies_to``: see :class:`Accept`.
    ``held`` (kind ``held``): a part the spool keeps until its message is whole.
    ``releases``: ids of held parts this outcome was built from; the spool marks
    them taken in the same transaction (any kind).
    """

    raw: RawMessage
    kind: str
    complaint: Complaint | None = None
    body: bytes | None = None
    reason: str | None = None
    reply: Reply | None = None
    replies_to: str | None = None
    held: Hold | None = None
    releases: tuple[int, ...] = ()
    #: Attachments to download after the commit: (index in ``complaint.attachments``, URL).
    fetch: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True, slots=True)
class FetchAuth:
    """How the attachment fetcher may download one reference of a channel.

    ``headers`` are sent with the request (``Authorization: Bearer ...``);
    ``basic`` is HTTP basic (user, password), e.g. Twilio's account SID and token.
    Both are dropped if the provider redirects to another host.
    """

    headers: Mapping[str, str] = field(default_factory=dict)
    basic: tuple[str, str] | None = None


@dataclass(frozen=True)
class ChannelState:
    """A channel's durable key/value state (JSON values), written at once."""

    load: Callable[[str], Any]
    save: Callable[[str, Any], None]


@dataclass(frozen=True)
class ChannelContext:
    """What a connector knows about its place in the process."""

    name: str
    type: str
    poll_interval: float
    max_file_bytes: int
    max_message_bytes: int
    log: structlog.typing.FilteringBoundLogger


class Connector(ABC):
    """Base class of every channel type.

    Class attributes:
        type_name: the ``type`` admins write in config.
        config_model: pydantic model of the channel's ``options`` block.
    """

    type_name: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]
    #: Adds to a named counter of the channel; the runner wires it to the spool.
    counter: Callable[[str, int], None] | None = None

    def __init__(self, context: ChannelContext, options: BaseModel) -> None:
        self.context = context
        self.options = options
        self.log = context.log

    @property
    def name(self) -> str:
        """Channel instance name."""
        return self.context.name

    @property
    @abstractmethod
    def account(self) -> str:
        """The receiving account (``@dkijakarta``, ``+628111272206``, ``1708``...)."""

    @functools.cached_property
    def channel_ref(self) -> ChannelRef:
        """This instance's :class:`ChannelRef` (built once: it never changes)."""
        return ChannelRef(type=self.context.type, name=self.context.name, account=self.account)

    @property
    def pulls(self) -> bool:
        """True when this channel is polled (it overrides ``fetch``)."""
        return type(self).fetch is not Connector.fetch

    def count(self, name: str, by: int = 1) -> None:
        """Add ``by`` to the channel's counter ``name`` (shown by ``kanal status``)."""
        if self.counter is not None:
            self.counter(name, by)

    def open(self) -> None:
        """Prepare resources (connect, create folders). Called once before use."""

    def close(self) -> None:
        """Release connections (IMAP logout, HTTP session)."""

    def fetch(self, since: Any) -> Iterator[RawMessage | CheckpointAdvance]:
        """Yield new messages after checkpoint ``since`` (None on first run), in order.

        I/O only: never writes state. Each message carries the checkpoint that is
        safe once it (and all before it) is durable. Raise the errors of
        :mod:`connectors.errors` to report the channel's state.
        """
        raise NotImplementedError(f"{type(self).__name__} is not a pull channel")

    @abstractmethod
    def normalise(self, raw: RawMessage) -> NormaliseResult:
        """Turn one raw message into a complaint, or a :class:`Drop`. Pure: no I/O.

        Raises:
            connectors.errors.NormaliseError: the message is malformed (quarantined).
        """

    def acknowledge(self, results: Sequence[IngestResult]) -> None:
        """Called after the spool commit of ``results``: move files, mark rows.
        A crash before this runs leads to a re-fetch, which the spool absorbs as
        duplicates, so this must be safe to repeat. Replies to the reporter are not
        sent here (see :meth:`reply_for`): nothing slow may delay a webhook answer."""

    def reply_for(self, complaint: Complaint) -> Reply | None:
        """The acknowledgement the reporter of a newly accepted ``complaint`` should get,
        or None (the default: no acknowledgements). Pure: no I/O.

        The runner asks before the commit; the spool then grants the reply in the
        same transaction as the complaint (or refuses it inside the reply's window),
        so a restart cannot send a second one and a crash cannot lose a granted one.
        """
        return None

    def send_reply(self, recipient: str, text: str) -> None:
        """Deliver one reply the spool queued (``Reply.in_answer`` False).

        Called by the ack sender thread, never during intake, so it may block on the
        network; keep it bounded by a timeout. Raise
        :class:`connectors.errors.ReplyFailed` (with a message free of secrets) when
        the gateway could not take it: the sender retries with backoff and gives up
        after a bounded number of tries. Only connectors that return replies with
        ``in_answer`` False need to implement it.
        """
        msg = f"{type(self).__name__} cannot send replies"
        raise NotImplementedError(msg)

    #: The channel's durable state outside the checkpoint (set by the runner), for
    #: values that must be kept the moment they change (a rotating refresh token).
    state: ChannelState | None = None

    #: Seconds a held part (:class:`Hold`) waits for the rest of its message; None
    #: for a connector that never holds parts.
    hold_timeout: float | None = None

    def assemble(self, parts: Sequence[RawMessage], complete: bool) -> RawMessage:
        """One raw message for held ``parts`` (in order): the whole message when
        ``complete``, else a single part taken alone after the timeout. ``normalise``
        must not hold what this returns. Pure."""
        msg = f"{type(self).__name__} holds no parts"
        raise NotImplementedError(msg)

    def wait(self, stop: threading.Event, timeout: float) -> None:
        """Sleep until the next poll, or until ``stop`` is set. IMAP overrides this
        with IDLE; others may shorten it when they know new data is waiting."""
        stop.wait(timeout)

    def next_poll_delay(self) -> float | None:
        """Seconds until the next poll, when the connector paces itself (rate-limit
        budgets); None means the channel's ``poll_interval``."""
        return None

    def fetch_auth(self, url: str) -> FetchAuth | None:
        """How to download the attachment reference ``url`` after the commit, or None
        (the default) to keep it as a link. Pure and cheap: the runner asks for every
        reference before the commit, the fetcher again when it downloads. Return
        credentials only for the provider's own hosts."""
        return None

    def webhook_routes(self) -> Sequence[WebhookRoute]:
        """HTTP routes this channel serves on the shared webhook server."""
        return ()
