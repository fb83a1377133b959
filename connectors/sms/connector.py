"""``SmsConnector``: one receiving number or short code, one gateway backend.

The connector picks the backend named in the options, delegates I/O to it
(fetch / webhook routes / acknowledge) and turns what the backend decodes into
a complaint with the rules every backend shares (:mod:`connectors.sms.message`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from pydantic import BaseModel

from connectors.base import ChannelContext, Connector, FetchAuth, IngestResult, NormaliseResult, RawMessage, Reply
from connectors.push import WebhookRoute
from connectors.sms.aggregator import AggregatorBackend
from connectors.sms.backend import SmsBackend
from connectors.sms.config import SmsOptions
from connectors.sms.gammu_files import GammuFilesBackend
from connectors.sms.gammu_sql import GammuSqlBackend
from connectors.sms.json_inbound import JsonBackend
from connectors.sms.kannel import KannelBackend
from connectors.sms.message import NoiseRules, to_complaint
from connectors.sms.outbound import AckPolicy
from connectors.sms.twilio import TwilioBackend
from normalizer.complaint import ChannelRef, Complaint


def build_backend(options: SmsOptions, ack: AckPolicy, log: Any) -> SmsBackend:
    """Create the backend the options name."""
    tz = options.gateway_tz
    account = options.account
    if options.backend == "gammu_files":
        return GammuFilesBackend(account, ack, log, options.gammu_files, tz)  # type: ignore[arg-type]
    if options.backend == "gammu_sql":
        return GammuSqlBackend(account, ack, log, options.gammu_sql, tz)  # type: ignore[arg-type]
    if options.backend == "kannel":
        return KannelBackend(account, ack, log, options.kannel, options.ack)  # type: ignore[arg-type]
    if options.backend == "twilio":
        return TwilioBackend(account, ack, log, options.twilio)  # type: ignore[arg-type]
    if options.backend == "aggregator":
        return AggregatorBackend(account, ack, log, options.aggregator, tz)  # type: ignore[arg-type]
    return JsonBackend(account, ack, log, options.json_inbound)  # type: ignore[arg-type]


class SmsConnector(Connector):
    """An SMS number or short code (``type: sms``)."""

    type_name: ClassVar[str] = "sms"
    config_model: ClassVar[type[BaseModel]] = SmsOptions

    def __init__(self, context: ChannelContext, options: BaseModel) -> None:
        if not isinstance(options, SmsOptions):
            options = SmsOptions.model_validate(options.model_dump() if isinstance(options, BaseModel) else options)
        super().__init__(context, options)
        self.options: SmsOptions = options
        self.ack_policy = AckPolicy(options.ack)
        self.backend = build_backend(options, self.ack_policy, self.log)
        self.channel = ChannelRef(type=context.type or self.type_name, name=context.name, account=options.account)
        self.rules = NoiseRules(
            drop_alphanumeric=options.drop_alphanumeric_senders,
            drop_short_codes=options.drop_short_code_senders,
            pattern=options.sender_pattern(),
        )

    @property
    def account(self) -> str:
        """The receiving number in E.164, or the short code."""
        return self.options.account

    @property
    def pulls(self) -> bool:
        """True for the Gammu backends (polled); False for HTTP backends (pushed)."""
        return self.backend.pulls

    def open(self) -> None:
        """Open the backend (folders, database connection)."""
        if self.options.ack.enabled and self.backend.reply_route() is None:
            self.log.warning("acknowledgement SMS are on, but this backend's options give no way to send them",
                             backend=self.options.backend)
        self.backend.open()

    def close(self) -> None:
        """Close the backend."""
        self.backend.close()

    def fetch(self, since: Any) -> Iterator[RawMessage]:
        """Yield new messages from a Gammu backend. The checkpoint stays unchanged:
        the source itself is acknowledged (file moved, row marked) after the commit."""
        return self.backend.fetch()

    def normalise(self, raw: RawMessage) -> NormaliseResult:
        """Decode with the backend, then apply the shared SMS rules. Pure. A part
        of a concatenated SMS that arrived alone is held until its message is whole."""
        sms = self.backend.decode(raw)
        if sms.part is not None:
            return sms.part
        return to_complaint(sms, raw, self.channel, self.rules)

    @property
    def hold_timeout(self) -> float | None:  # type: ignore[override]
        """The backend's ``multipart_timeout`` when it holds parts (Kannel), else None."""
        return self.backend.hold_timeout

    def assemble(self, parts: Sequence[RawMessage], complete: bool) -> RawMessage:
        """The backend's raw message for held parts."""
        return self.backend.assemble(parts, complete)

    def acknowledge(self, results: Sequence[IngestResult]) -> None:
        """Let the backend mark its source (acknowledgement SMS go through the spool)."""
        self.backend.acknowledge(results)

    def reply_for(self, complaint: Complaint) -> Reply | None:
        """The acknowledgement SMS for a new complaint, when ``ack`` is on and the
        backend can deliver one (in its answer, or later through :meth:`send_reply`)."""
        route = self.backend.reply_route()
        if route is None or not self.ack_policy.enabled:
            return None
        return self.ack_policy.reply_for(complaint, in_answer=route == "answer")

    def send_reply(self, recipient: str, text: str) -> None:
        """Send one acknowledgement SMS through the backend (ack sender thread)."""
        self.backend.send(recipient, text)

    def fetch_auth(self, url: str) -> FetchAuth | None:
        """The backend's media download (Twilio MMS: basic auth with the account)."""
        return self.backend.fetch_auth(url)

    def webhook_routes(self) -> Sequence[WebhookRoute]:
        """The HTTP backend's routes (none for Gammu)."""
        return self.backend.routes()
