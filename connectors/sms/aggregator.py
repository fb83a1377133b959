"""An Indonesian SMS aggregator's inbound (MO) push: a form POST with the message id,
the receiving (gateway) number, the sender, the text and the receive time, in the
style of NusaSMS (``id``, ``gateway_number``, ``originator``, ``msg``,
``receive_date`` as ``YYYY-mm-dd HH:MM:SS`` local time). Field names are options.

Authentication is a shared secret in the URL (``?token=``) or the ``X-Kanal-Token``
header. Replays: a post whose receive time is outside the window is refused;
inside it, the aggregator's id makes a repeat a duplicate the spool ignores.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

import structlog
from werkzeug.wrappers import Response

from connectors.base import RawMessage
from connectors.errors import NormaliseError
from connectors.push import WebhookOutcome, WebhookRequest, WebhookRoute, forbidden
from connectors.sms.backend import ONE_SMS_MAX_BODY_BYTES, SmsBackend
from connectors.sms.config import AggregatorOptions
from connectors.sms.http_inbound import (
    http_raw,
    outside_window,
    parse_dump,
    parse_gateway_time,
    token_matches,
)
from connectors.sms.message import InboundSms
from connectors.sms.outbound import AckPolicy

_BACKEND = "aggregator"


class AggregatorBackend(SmsBackend):
    """Receives aggregator form posts on ``/aggregator``."""

    def __init__(self, account: str, ack: AckPolicy, log: structlog.typing.FilteringBoundLogger,
                 options: AggregatorOptions, tz: timezone) -> None:
        super().__init__(account, ack, log)
        self.options = options
        self.tz = tz

    def routes(self) -> Sequence[WebhookRoute]:
        """POST on ``/aggregator``."""
        return (WebhookRoute("POST", "/aggregator", self.handle, ONE_SMS_MAX_BODY_BYTES),)

    def _time(self, value: str) -> datetime | None:
        value = value.strip()
        if not value:
            return None
        local = parse_gateway_time(value, self.tz)
        if local is not None:
            return local
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            msg = f"{self.options.field_time} {value[:30]!r} is not YYYY-mm-dd HH:MM:SS"
            raise NormaliseError(msg) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=self.tz)

    def handle(self, request: WebhookRequest) -> Response | WebhookOutcome:
        """Check the secret and the replay window, then hand the message over."""
        if not token_matches(request, self.options.token.get()):
            self.log.warning("aggregator request refused: bad or missing token")
            return forbidden()
        raw = http_raw(request, _BACKEND, ("Content-Type",))
        try:
            when = self._time(parse_dump(raw.payload).form().get(self.options.field_time, ""))
        except NormaliseError:
            when = None  # decode() quarantines it with the reason
        late = outside_window(when, self.options.max_age_seconds, self.options.max_future_seconds)
        if late is not None:
            self.log.warning("aggregator request refused: outside the replay window", reason=late)
            return forbidden()
        return WebhookOutcome([raw], lambda _results: Response(b"OK", 200))

    def decode(self, raw: RawMessage) -> InboundSms:
        """Read the form back into an SMS (pure)."""
        form = parse_dump(raw.payload).form()
        opts = self.options
        message_id = form.get(opts.field_id, "").strip()
        if not message_id:
            msg = f"aggregator post has no {opts.field_id!r}"
            raise NormaliseError(msg)
        return InboundSms(
            sender=form.get(opts.field_sender, ""),
            text=form.get(opts.field_text, ""),
            provider_id=f"aggregator:{message_id}",
            sent_at=self._time(form.get(opts.field_time, "")),
            recipient=form.get(opts.field_recipient),
        )
