"""Kannel smsbox ``sms-service`` calling Kanal with ``get-url`` or ``post-url``.

One route, ``<prefix>/<channel>/kannel``, answers both. Configure the service as
(one line, escape codes from the Kannel User Guide)::

    get-url = "http://HOST:8080/webhooks/CHANNEL/kannel?token=SECRET&from=%p&to=%P&text=%a&time=%T&id=%I&coding=%c&charset=%C&udh=%u&smsc=%i"

or ``post-url = "http://HOST:8080/webhooks/CHANNEL/kannel?token=SECRET"`` with
``send-sender = true`` (the text is the body; ``X-Kannel-From``, ``-To``, ``-Time``,
``-UDH``, ``-Coding`` carry the rest; UCS-2 arrives as ``charset=UTF-16BE``).

Times: ``%T`` is a Unix time; ``%t`` and ``X-Kannel-Time`` are ``YYYY-MM-DD HH:MM:SS``
that smsbox formats with ``gw_gmtime``, i.e. in UTC (gw/urltrans.c, gw/smsbox.c), so
they are read in ``time_utc_offset_hours`` (0 by default), not the channel's WIB.

Kannel sends the HTTP answer body back to the citizen as the reply SMS, so Kanal
answers an empty body (set ``omit-empty = true``) unless it acknowledges.

Concatenated SMS: with ``concatenation = false`` in Kannel's core group, smsbox calls
the URL once per part, each with its UDH (``udh=%u``). Such a part is held in the
spool (the 2xx comes once it is durable) and the parts sharing sender, receiving
number, UDH reference and part count are joined into one message; after
``multipart_timeout`` each part is taken alone, flagged incomplete. The joined raw
message is a small JSON document holding every part's request as received.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Literal

import structlog
from werkzeug.wrappers import Response

from connectors.base import Hold, IngestResult, RawMessage
from connectors.errors import NormaliseError, ReplyFailed
from connectors.push import WebhookOutcome, WebhookRequest, WebhookRoute, forbidden
from connectors.sms.backend import ONE_SMS_MAX_BODY_BYTES, SmsBackend
from connectors.sms.config import AckOptions, KannelOptions
from connectors.sms.http_inbound import (
    http_raw,
    outside_window,
    parse_dump,
    parse_gateway_time,
    token_matches,
)
from connectors.sms.message import InboundSms
from connectors.sms.outbound import AckPolicy, kannel_sendsms
from connectors.sms.udh import Concat, EncodingError, decode_8bit, decode_utf16be, parse_concat, udh_hex
from normalizer.timeutil import from_epoch

_BACKEND = "kannel"
_HEADERS = ("Content-Type", "X-Kannel-From", "X-Kannel-To", "X-Kannel-Time", "X-Kannel-UDH",
            "X-Kannel-SMSC", "X-Kannel-Coding", "X-Kannel-Charset", "X-Kannel-Service")


def _charset(content_type: str) -> str | None:
    for piece in content_type.split(";")[1:]:
        key, _, value = piece.strip().partition("=")
        if key.lower() == "charset":
            return value.strip().strip('"').lower()
    return None


def _decode_text(data: bytes, ucs2: bool, eight_bit: bool, charset: str | None) -> str:
    if ucs2:
        return decode_utf16be(data)
    if eight_bit:
        return decode_8bit(data)
    if charset and charset not in ("utf-8", "utf8"):
        try:
            return data.decode(charset)
        except UnicodeDecodeError:
            msg = f"text is not valid {charset[:30]}"
            raise EncodingError(msg) from None
        except (LookupError, ValueError):  # ValueError: a name Python refuses outright ("utf-8\0")
            msg = f"unknown charset {charset[:30]!r}"
            raise EncodingError(msg) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # Guessing a Latin charset would store mojibake; a gateway that sends Latin-1
        # says so with charset=%C (get-url) or the Content-Type (post-url).
        msg = "text is not valid UTF-8 and no other charset was given"
        raise EncodingError(msg) from None


#: Key of the JSON document that joins held parts (a request dump starts with its method).
_JOINED = "kannel_joined_parts"


def _content_id(*parts: bytes) -> str:
    digest = hashlib.sha256(b"\x1f".join(parts)).hexdigest()[:32]
    return f"kannel:sha256:{digest}"


class KannelBackend(SmsBackend):
    """Receives Kannel's get-url / post-url requests.

    Parameters:
        options: the ``kannel`` block; ack_options: the channel's ``ack`` block
            (for the sendsms route). Kannel's times are read in ``options.time_utc_offset_hours``.
    """

    def __init__(
        self,
        account: str,
        ack: AckPolicy,
        log: structlog.typing.FilteringBoundLogger,
        options: KannelOptions,
        ack_options: AckOptions,
    ) -> None:
        super().__init__(account, ack, log)
        self.options = options
        self.ack_options = ack_options
        self.tz = timezone(timedelta(hours=options.time_utc_offset_hours))

    def routes(self) -> Sequence[WebhookRoute]:
        """GET (get-url) and POST (post-url) on ``/kannel``."""
        return (WebhookRoute("GET", "/kannel", self.handle, ONE_SMS_MAX_BODY_BYTES),
                WebhookRoute("POST", "/kannel", self.handle, ONE_SMS_MAX_BODY_BYTES))

    # -- the request -----------------------------------------------------------------

    def _time(self, method: str, params: dict[str, str], x_kannel_time: str | None) -> datetime | None:
        """The message time: ``time`` of a get-url (%T, or %t), X-Kannel-Time of a post-url."""
        if method == "GET":
            value = params.get("time", "").strip()
            if not value:
                return None
            stamp = parse_gateway_time(value, self.tz)
            if stamp is not None:
                return stamp
            try:
                return from_epoch(float(value), self.tz)
            except (ValueError, OverflowError, OSError):
                msg = f"time parameter {value[:30]!r} is neither a Unix time (%T) nor YYYY-MM-DD HH:MM:SS (%t)"
                raise NormaliseError(msg) from None
        value = (x_kannel_time or "").strip()
        if not value:
            return None
        local = parse_gateway_time(value, self.tz)
        if local is not None:
            return local
        msg = f"X-Kannel-Time {value[:30]!r} is not YYYY-MM-DD HH:MM:SS"
        raise NormaliseError(msg)

    def handle(self, request: WebhookRequest) -> Response | WebhookOutcome:
        """Check the token and the replay window, then hand the message over."""
        if not token_matches(request, self.options.token.get()):
            self.log.warning("kannel request refused: bad or missing token")
            return forbidden()
        raw = http_raw(request, _BACKEND, _HEADERS)
        params = request.query.to_dict()
        try:
            when = self._time(request.method, params, request.headers.get("X-Kannel-Time"))
        except NormaliseError:
            when = None  # decode() quarantines it with the reason
        late = outside_window(when, self.options.max_age_seconds, self.options.max_future_seconds)
        if late is not None:
            self.log.warning("kannel request refused: outside the replay window", reason=late)
            return forbidden()
        return WebhookOutcome([raw], self.reply)

    def reply_route(self) -> Literal["answer", "outbox"] | None:
        """Kannel's ``sendsms`` URL (sent later, from the ack outbox) when configured,
        else the reply body when ``reply_with_ack``, else none."""
        if self.ack_options.kannel_sendsms_url:
            return "outbox"
        return "answer" if self.options.reply_with_ack else None

    def reply(self, results: Sequence[IngestResult]) -> Response:
        """200 with an empty body, or the acknowledgement text Kannel sends back."""
        for result in results:
            if result.reply is not None and result.reply.in_answer:
                return Response(result.reply.text.encode("utf-8"), 200)
        return Response(b"", 200)

    def send(self, number: str, text: str) -> None:
        """Send one acknowledgement through Kannel's sendsms URL (ack sender thread)."""
        opts = self.ack_options
        if not opts.kannel_sendsms_url:
            msg = "no ack.kannel_sendsms_url configured"
            raise ReplyFailed(msg)
        kannel_sendsms(opts.kannel_sendsms_url, opts.kannel_username or "",
                       opts.kannel_password.get() if opts.kannel_password else "", self.account, number, text)

    # -- parts -------------------------------------------------------------------------

    @property
    def hold_timeout(self) -> float:  # type: ignore[override]
        """Seconds a part waits for the rest of its message."""
        return self.options.multipart_timeout

    def assemble(self, parts: Sequence[RawMessage], complete: bool) -> RawMessage:
        """The joined message (or a part taken alone): every part's request, as received."""
        doc = {_JOINED: [p.payload.decode("latin-1") for p in parts], "complete": complete}
        payload = json.dumps(doc, ensure_ascii=True, sort_keys=True).encode("ascii")
        first = parts[0]
        metadata = {**first.metadata, "parts": len(parts), "complete": complete}
        return RawMessage(first.source_id, payload, first.received_at, metadata)

    def _decode_joined(self, payload: bytes) -> InboundSms:
        try:
            doc = json.loads(payload)
            parts = [p.encode("latin-1") for p in doc[_JOINED]]
            complete = doc["complete"] is True
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeEncodeError) as exc:
            msg = f"joined Kannel parts are unreadable: {type(exc).__name__}"
            raise NormaliseError(msg) from None
        if not parts:
            msg = "joined Kannel parts hold no part"
            raise NormaliseError(msg)
        decoded = sorted((self._decode_request(p) + (p,) for p in parts), key=lambda d: d[1].sequence if d[1] else 0)
        if not complete:
            return replace(decoded[0][0], incomplete=True)
        first = decoded[0][0]
        return replace(first, text="".join(d[0].text for d in decoded),
                       provider_id=_content_id(*(d[2] for d in decoded)), incomplete=False)

    # -- decode -------------------------------------------------------------------------

    def decode(self, raw: RawMessage) -> InboundSms:
        """Read a get-url or post-url request (or held parts joined) back into an SMS (pure).

        A part of a concatenated SMS comes back with ``part`` set: the connector holds it.
        """
        if raw.payload[:1] == b"{":
            return self._decode_joined(raw.payload)
        sms, concat = self._decode_request(raw.payload)
        if concat is not None and concat.total > 1:
            key = f"{sms.sender}|{sms.recipient or ''}|{concat.reference}|{concat.total}"
            return replace(sms, part=Hold(key, concat.sequence, concat.total))
        return sms

    def _decode_request(self, payload: bytes) -> tuple[InboundSms, Concat | None]:
        dump = parse_dump(payload)
        params = dump.params(binary=("text", "udh"))
        when = self._time(dump.method, params, dump.headers.get("X-Kannel-Time"))
        if dump.method == "GET":
            sender, recipient, udh = params.get("from", ""), params.get("to"), dump.param_bytes("udh") or b""
            coding = params.get("coding", "0").strip()
            charset = (params.get("charset") or "").lower() or None
            data = dump.param_bytes("text") or b""
            ucs2 = coding == "2" or charset in ("utf-16be", "ucs-2", "ucs2")
            eight_bit = coding == "1"
            given_id = params.get("id", "").strip()
            dlr = bool(params.get("dlr", "").strip())
        else:
            headers = dump.headers
            sender, recipient = headers.get("X-Kannel-From", ""), headers.get("X-Kannel-To")
            udh = headers.get("X-Kannel-UDH", "").encode("latin-1", "replace")
            charset = _charset(headers.get("Content-Type", ""))
            data = dump.body
            ucs2 = charset in ("utf-16be", "ucs-2", "ucs2") or headers.get("X-Kannel-Coding", "").strip() == "3"
            eight_bit = not ucs2 and (
                headers.get("Content-Type", "").startswith("application/octet-stream")
                or headers.get("X-Kannel-Coding", "").strip() == "2"
            )
            given_id, dlr = "", False
        if not sender:
            msg = "Kannel sent no sender (get-url needs from=%p; post-url needs send-sender = true)"
            raise NormaliseError(msg)
        try:
            text = _decode_text(data, ucs2, eight_bit, charset)
            concat = parse_concat(udh_hex(udh))
        except EncodingError as exc:
            raise NormaliseError(f"Kannel message cannot be decoded: {exc}") from None
        provider_id = f"kannel:{given_id}" if given_id else _content_id(
            sender.encode(), (recipient or "").encode(), str(when).encode(), udh, data
        )
        sms = InboundSms(
            sender=sender,
            text=text,
            provider_id=provider_id,
            sent_at=when,
            recipient=recipient,
            incomplete=concat is not None and concat.total > 1,
            delivery_report=dlr,
        )
        return sms, concat
