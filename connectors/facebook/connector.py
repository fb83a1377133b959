"""The ``facebook`` channel type: one instance per Facebook Page.

Citizens write on the Page's wall, comment under its posts and message it on
Messenger; the Instagram professional account linked to the Page gets comments and
mentions. Webhooks (on the shared webhook server) are the primary path; polling the
Graph API is the safety net that finds whatever a webhook missed. Both give the
same provider message id for the same item, so the spool keeps one complaint.

Instagram: its events (``object: instagram``) are taken in by the instance of the
Page the account is linked to (``instagram_account_id``), with the same Page token
and app secret; a separate instance is not needed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from connectors.attachments import same_origin
from connectors.base import (
    ChannelContext,
    CheckpointAdvance,
    Connector,
    FetchAuth,
    NormaliseResult,
    RawMessage,
)
from connectors.facebook.client import GraphClient
from connectors.facebook.config import FacebookOptions
from connectors.facebook.instagram import MentionReader
from connectors.facebook.normalise import PageIdentity, normalise_item
from connectors.facebook.poller import PagePoller
from connectors.facebook.usage import UsageTracker
from connectors.facebook.webhook import answer_handshake, make_receiver
from connectors.push import WebhookRequest, WebhookRoute
from normalizer.complaint import ChannelRef


class FacebookConnector(Connector):
    """A Facebook Page (feed, comments, Messenger) and its linked Instagram account."""

    type_name: ClassVar[str] = "facebook"
    config_model: ClassVar[type[FacebookOptions]] = FacebookOptions
    options: FacebookOptions

    def __init__(self, context: ChannelContext, options: FacebookOptions) -> None:
        super().__init__(context, options)
        self.usage = UsageTracker(options.slow_down_at_percent, options.throttle_wait_seconds, log=self.log)
        self.page = PageIdentity(
            ChannelRef(type=context.type, name=context.name, account=options.page_id),
            options.page_id,
            options.instagram_account_id,
        )
        self._client: GraphClient | None = None
        self._mentions: MentionReader | None = None
        self._warned_version: str | None = None

    @property
    def account(self) -> str:
        """The Page id."""
        return self.options.page_id

    @property
    def pulls(self) -> bool:
        """Polled unless every edge is switched off (webhooks only)."""
        o = self.options
        return o.poll_feed or o.poll_comments or o.poll_conversations or (
            o.poll_instagram and o.instagram_account_id is not None)

    def open(self) -> None:
        """Build the Graph client (no request is made)."""
        if self._client is None:
            self._client = self._new_client()

    def fetch_auth(self, url: str) -> FetchAuth | None:
        """Media are downloaded after the commit (``fetch_media``); the Page token goes
        only to the Graph API's own host, CDN links are signed already."""
        if not self.options.fetch_media:
            return None
        if same_origin(url, self.options.graph_api_base_url):
            return FetchAuth(headers={"Authorization": f"Bearer {self.options.page_access_token.get()}"})
        return FetchAuth()

    def _new_client(self) -> GraphClient:
        o = self.options
        return GraphClient(o.page_access_token.get(), o.graph_api_version, o.graph_api_base_url,
                           o.request_timeout, self.usage)

    def close(self) -> None:
        """Close the HTTP sessions."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._mentions is not None:
            self._mentions.close()

    def fetch(self, since: Any) -> Iterator[RawMessage | CheckpointAdvance]:
        """Poll the feed, comments and conversations since the checkpoint."""
        self.open()
        assert self._client is not None
        yield from PagePoller(self._client, self.options, log=self.log, count=self.count).fetch(since)
        self._check_served_version()

    def _check_served_version(self) -> None:
        served = self.usage.served_version
        if served and served != self.options.graph_api_version and served != self._warned_version:
            self._warned_version = served
            self.log.warning("Graph API answered with another version than configured",
                             configured=self.options.graph_api_version, served=served)

    def normalise(self, raw: RawMessage) -> NormaliseResult:
        """Turn one post, comment, message or webhook event into a complaint (pure)."""
        return normalise_item(raw, self.page)

    def next_poll_delay(self) -> float | None:
        """The poll interval, stretched when usage is high and while throttled."""
        return self.usage.poll_delay(self.context.poll_interval)

    def webhook_routes(self) -> Sequence[WebhookRoute]:
        """GET (Meta's handshake) and POST (events) on ``<prefix>/<channel name>``."""
        o = self.options
        if not o.webhooks_enabled:
            return ()
        assert o.app_secret is not None and o.verify_token is not None
        verify_token, app_secret = o.verify_token, o.app_secret

        def handshake(request: WebhookRequest):
            return answer_handshake(request, verify_token.get())

        if o.fetch_mentions and o.instagram_account_id and self._mentions is None:
            self._mentions = MentionReader(self._new_client, o.instagram_account_id, self.log, self.count)
        receive = make_receiver(o.page_id, app_secret.get, lambda: datetime.now(UTC), self._mentions)
        return (WebhookRoute("GET", "", handshake), WebhookRoute("POST", "", receive))
