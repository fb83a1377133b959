"""Twilio-compatible messaging webhooks, verified with ``X-Twilio-Signature``.

The signature is base64(HMAC-SHA1(auth token, URL + every POST parameter name and
value, names sorted, each name's values sorted)), over the URL exactly as the
provider called it. Like Twilio's own validator, the URL is tried with the port
removed and with the scheme's default port added.

Twilio gives no timestamp, so a captured request can be replayed: the spool's
``MessageSid`` dedup (kept for the spool's retention) is what makes a replay
store nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from typing import Literal
from urllib.parse import parse_qs, urlsplit, urlunsplit
from xml.sax.saxutils import escape

import structlog
from werkzeug.wrappers import Response

from connectors.attachments import same_origin
from connectors.base import FetchAuth, IngestResult, RawMessage
from connectors.errors import NormaliseError
from connectors.push import WebhookOutcome, WebhookRequest, WebhookRoute, constant_time_equals, forbidden
from connectors.sms.backend import ONE_SMS_MAX_BODY_BYTES, SmsBackend
from connectors.sms.config import TwilioOptions
from connectors.sms.http_inbound import http_raw, parse_dump
from connectors.sms.message import InboundSms
from connectors.sms.outbound import AckPolicy

_BACKEND = "twilio"
_ACCOUNT_SID = re.compile(r"/Accounts/(AC[0-9A-Za-z]{1,64})/")
SIGNATURE_HEADER = "X-Twilio-Signature"
_TWIML = "text/xml; charset=utf-8"
_INBOUND_STATUSES = {"", "received", "receiving"}


def twilio_signature(auth_token: str, url: str, params: Mapping[str, Sequence[str]]) -> str:
    """Compute the ``X-Twilio-Signature`` of a request."""
    data = url
    for name in sorted(params):
        for value in sorted(params[name]):
            data += name + value
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def url_variants(url: str) -> list[str]:
    """``url`` without its port, and with the scheme's default port when it has none."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        return [urlunsplit(parts._replace(netloc=host)), url]
    default = 443 if parts.scheme == "https" else 80
    return [url, urlunsplit(parts._replace(netloc=f"{host}:{default}"))]


def signature_valid(auth_token: str, url: str, params: Mapping[str, Sequence[str]], signature: str) -> bool:
    """True when ``signature`` signs the request (any of the URL variants)."""
    if not signature:
        return False
    found = False
    for candidate in url_variants(url):
        found |= constant_time_equals(twilio_signature(auth_token, candidate, params), signature)
    return found


def twiml(message: str | None = None) -> Response:
    """A TwiML answer: empty, or one reply message."""
    inner = f"<Message>{escape(message)}</Message>" if message else ""
    body = f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>'
    return Response(body.encode(), 200, content_type=_TWIML)


class TwilioBackend(SmsBackend):
    """Receives Twilio-compatible inbound message webhooks on ``/twilio``."""

    def __init__(self, account: str, ack: AckPolicy, log: structlog.typing.FilteringBoundLogger,
                 options: TwilioOptions) -> None:
        super().__init__(account, ack, log)
        self.options = options

    def routes(self) -> Sequence[WebhookRoute]:
        """POST (the default) and GET on ``/twilio``."""
        return (WebhookRoute("POST", "/twilio", self.handle, ONE_SMS_MAX_BODY_BYTES),
                WebhookRoute("GET", "/twilio", self.handle, ONE_SMS_MAX_BODY_BYTES))

    def signed_url(self, request: WebhookRequest) -> str:
        """The URL the provider signed: ``public_url`` (plus the query) or the request's."""
        if not self.options.public_url:
            return request.url
        query = urlsplit(request.url).query
        return self.options.public_url + (("?" + query) if query else "")

    def handle(self, request: WebhookRequest) -> Response | WebhookOutcome:
        """Verify the signature, then hand the message over."""
        # A GET carries its parameters in the signed URL; only POST parameters are appended.
        params = {}
        if request.method == "POST":
            params = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not signature_valid(self.options.auth_token.get(), self.signed_url(request), params, signature):
            self.log.warning("twilio request refused: signature missing or wrong")
            return forbidden()
        return WebhookOutcome([http_raw(request, _BACKEND, ("Content-Type",), secret_params=())], self.reply)

    def reply_route(self) -> Literal["answer", "outbox"] | None:
        """Acknowledgements travel in the TwiML answer."""
        return "answer"

    def reply(self, results: Sequence[IngestResult]) -> Response:
        """TwiML: empty, or the acknowledgement as a reply message."""
        granted = [r.reply.text for r in results if r.reply is not None and r.reply.in_answer]
        return twiml(granted[0] if granted else None)

    def fetch_auth(self, url: str) -> FetchAuth | None:
        """MMS media sit behind the account's credentials: basic auth with the AccountSid
        the media URL names (``/Accounts/AC.../``) and the auth token, sent only under
        ``media_base_url``."""
        if not self.options.fetch_media:
            return None
        if not same_origin(url, self.options.media_base_url):
            return FetchAuth()
        match = _ACCOUNT_SID.search(urlsplit(url).path)
        if match is None:
            return FetchAuth()
        return FetchAuth(basic=(match.group(1), self.options.auth_token.get()))

    def decode(self, raw: RawMessage) -> InboundSms:
        """Read the form fields back into an SMS (pure)."""
        dump = parse_dump(raw.payload)
        form = dump.form() if dump.method == "POST" else dump.params()
        sid = form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid") or ""
        if not sid:
            msg = "Twilio request has no MessageSid"
            raise NormaliseError(msg)
        status = (form.get("SmsStatus") or form.get("MessageStatus") or "").lower()
        try:
            media_count = int(form.get("NumMedia") or 0)
        except ValueError:
            media_count = 0
        media = tuple(
            (form[f"MediaUrl{i}"], form.get(f"MediaContentType{i}"))
            for i in range(min(media_count, 10)) if form.get(f"MediaUrl{i}")
        )
        return InboundSms(
            sender=form.get("From", ""),
            text=form.get("Body", ""),
            provider_id=f"twilio:{sid}",
            recipient=form.get("To"),
            delivery_report=status not in _INBOUND_STATUSES,
            media=media,
        )
