"""What every SMS gateway backend provides to :class:`connectors.sms.connector.SmsConnector`.

A pull backend (Gammu files / SQL) implements ``fetch`` and ``acknowledge``; a push
backend (HTTP) implements ``routes``. All implement ``decode``: the pure step from
their raw form to an :class:`InboundSms`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import ClassVar, Literal

import structlog

from connectors.base import FetchAuth, IngestResult, RawMessage
from connectors.errors import ReplyFailed
from connectors.push import WebhookRoute
from connectors.sms.message import InboundSms
from connectors.sms.outbound import AckPolicy

#: Body limit of a route that carries one SMS (a few hundred bytes of form or query
#: fields, a long concatenated SMS is under 2 KiB): far below the server's limit.
ONE_SMS_MAX_BODY_BYTES = 64 * 1024


class SmsBackend(ABC):
    """Base class of the gateway backends.

    Parameters:
        account: the channel's receiving number or short code (E.164 or digits).
        ack: the acknowledgement policy.
        log: the channel's logger.
    """

    pulls: ClassVar[bool] = False

    def __init__(self, account: str, ack: AckPolicy, log: structlog.typing.FilteringBoundLogger) -> None:
        self.account = account
        self.ack = ack
        self.log = log

    def open(self) -> None:
        """Prepare resources (folders, database connection)."""

    def close(self) -> None:
        """Release resources."""

    def fetch(self) -> Iterator[RawMessage]:
        """Yield new messages (pull backends). I/O only."""
        raise NotImplementedError

    def routes(self) -> Sequence[WebhookRoute]:
        """HTTP routes (push backends)."""
        return ()

    @abstractmethod
    def decode(self, raw: RawMessage) -> InboundSms:
        """Turn one raw message into an :class:`InboundSms`. Pure.

        Raises:
            connectors.errors.NormaliseError: the raw form is malformed or undecodable.
        """

    #: Seconds a part that arrived alone waits for the rest (:class:`connectors.base.Hold`);
    #: None for a backend that never holds parts.
    hold_timeout: float | None = None

    def assemble(self, parts: Sequence[RawMessage], complete: bool) -> RawMessage:
        """One raw message for held parts (see :meth:`connectors.base.Connector.assemble`)."""
        msg = f"the {type(self).__name__} holds no parts"
        raise NotImplementedError(msg)

    def reply_route(self) -> Literal["answer", "outbox"] | None:
        """How this backend delivers acknowledgements: in its webhook ``answer``,
        through :meth:`send` from the spool's ack ``outbox``, or not at all (None)."""
        return None

    def send(self, number: str, text: str) -> None:
        """Deliver one acknowledgement (``outbox`` route); called by the ack sender.

        Raises:
            connectors.errors.ReplyFailed: the gateway did not take it (retried).
        """
        msg = f"the {type(self).__name__} cannot send SMS"
        raise ReplyFailed(msg)

    def fetch_auth(self, url: str) -> FetchAuth | None:
        """How to download a media URL of this gateway (see
        :meth:`connectors.base.Connector.fetch_auth`); None keeps it as a link."""
        return None

    def acknowledge(self, results: Sequence[IngestResult]) -> None:
        """After the spool commit: mark the source handled. Must be safe to repeat."""
