"""The ``twitter`` channel: mentions of the Pemprov's X accounts, polled with tweepy.

One instance polls every account in ``accounts`` with one app token; the accounts
share that token's budget. Each poll walks the accounts in order and, per account,
pages ``GET /2/users/:id/mentions`` from the newest mention back to the cursor
(see :mod:`connectors.twitter.cursor` for when the cursor moves). The pause
between polls comes from :class:`connectors.twitter.pacing.RequestBudget`.

Errors become channel states through :mod:`connectors.errors`: a 429 raises
``RateLimited`` with X's reset time and the runner waits on its stop event (so a
SIGTERM still stops it at once); 401/403 raise ``AuthFailed``; 5xx and network
errors raise ``TransientError`` (backoff with jitter).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any, ClassVar

import requests

from connectors.attachments import AttachmentBudget, same_origin
from connectors.base import (
    Accept,
    ChannelContext,
    CheckpointAdvance,
    Connector,
    FetchAuth,
    NormaliseResult,
    RawMessage,
)
from connectors.errors import RateLimited
from connectors.push import WebhookRoute
from connectors.twitter.client import TWEEPY_HOSTS, AccountUnavailable, XApiClient
from connectors.twitter.config import TwitterOptions
from connectors.twitter.cursor import AccountCursor, TwitterCheckpoint, snowflake_at, snowflake_time
from connectors.twitter.media import Download, MediaDownloader
from connectors.twitter.normalise import TYPE_NAME, normalise_mention
from connectors.twitter.oauth2 import TOKEN_PATH, UserTokens
from connectors.twitter.pacing import RequestBudget
from connectors.twitter.payload import (
    context_errors,
    mention_payloads,
    page_tweet_ids,
    unavailable_mentions,
)
from connectors.twitter.webhook import AccountActivityRoutes
from normalizer.complaint import Complaint
from normalizer.timeutil import utc_now


class TwitterConnector(Connector):
    """Takes in mentions of the configured X accounts as complaints."""

    type_name: ClassVar[str] = TYPE_NAME
    config_model: ClassVar[type[TwitterOptions]] = TwitterOptions

    def __init__(self, context: ChannelContext, options: TwitterOptions) -> None:
        super().__init__(context, options)
        self.options: TwitterOptions = options
        self.client: XApiClient | None = None
        self.budget = RequestBudget(options.rate_limit.requests, options.rate_limit.window_seconds,
                                    floor=context.poll_interval)
        self.user_ids: dict[str, str] = {}
        self.downloader: MediaDownloader | None = None
        #: Photos read by ``fetch``, by URL, until ``normalise`` takes them.
        self.media: dict[str, Download] = {}
        self._requests_last_poll = 0

    @property
    def account(self) -> str:
        """The polled accounts, e.g. ``@dkijakarta`` (comma-separated when several)."""
        return ", ".join(f"@{name}" for name in self.options.accounts)

    def open(self) -> None:
        """Create the tweepy client (no request is made yet)."""
        if self.client is None:
            o = self.options
            bearer = o.bearer_token.get() if o.bearer_token is not None else None
            self.client = XApiClient(bearer, o.api_base_url, o.request_timeout, self._user_tokens())
        if self.options.download_media and self.downloader is None:
            self.downloader = MediaDownloader(self.context.max_file_bytes, self.options.request_timeout)

    def fetch_auth(self, url: str) -> FetchAuth | None:
        """Photos are downloaded after the commit (``fetch_media``); the app bearer token
        goes only to the API's own host (pbs.twimg.com links need none)."""
        o = self.options
        if not o.fetch_media or o.download_media:
            return None
        if o.bearer_token is not None and same_origin(url, o.api_base_url):
            return FetchAuth(headers={"Authorization": f"Bearer {o.bearer_token.get()}"})
        return FetchAuth()

    def _user_tokens(self) -> Callable[[requests.Session], UserTokens] | None:
        oauth2, o = self.options.oauth2, self.options
        if oauth2 is None:
            return None

        def build(session: requests.Session) -> UserTokens:
            secret = oauth2.client_secret.get() if oauth2.client_secret is not None else None
            # Addressed like tweepy's own requests, so the session's adapter adds the prefix.
            return UserTokens(TWEEPY_HOSTS[1] + TOKEN_PATH, session, oauth2.client_id, secret,
                              oauth2.refresh_token.get(), self.state, o.request_timeout)

        return build

    def close(self) -> None:
        """Close the HTTP session."""
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.downloader is not None:
            self.downloader.close()
            self.downloader = None
        self.media.clear()

    # -- polling -----------------------------------------------------------------

    def fetch(self, since: Any) -> Iterator[RawMessage | CheckpointAdvance]:
        """Yield new mentions of every account; the checkpoint moves as the cursor module says."""
        self.open()
        client = self.client
        started_with = client.requests_made
        checkpoint = TwitterCheckpoint.from_json(since)
        self.media.clear()
        # One unreadable account (suspended, renamed) must not stop the others: it is
        # skipped, and reported once they are done, so the runner shows the error.
        unavailable: list[str] = []
        try:
            checkpoint = self._resolve_accounts(checkpoint, unavailable)
            for username in self.options.accounts:
                if username.lower() not in self.user_ids:
                    continue
                try:
                    checkpoint = yield from self._fetch_account(username, checkpoint)
                except AccountUnavailable as exc:
                    self._skip(username, exc, unavailable)
        finally:
            self._requests_last_poll = client.requests_made - started_with
        if unavailable:
            raise AccountUnavailable("; ".join(unavailable))

    def _skip(self, username: str, exc: AccountUnavailable, unavailable: list[str]) -> None:
        self.log.error("X account cannot be read; skipped this poll", account=f"@{username}", error=str(exc))
        unavailable.append(f"@{username}: {exc}")

    def _resolve_accounts(self, checkpoint: TwitterCheckpoint, unavailable: list[str]) -> TwitterCheckpoint:
        for username in self.options.accounts:
            key = username.lower()
            cursor = checkpoint.cursor(username)
            user_id = cursor.user_id or self.user_ids.get(key)
            if user_id is None:
                try:
                    user_id = self.client.user_id(username)
                except AccountUnavailable as exc:
                    self._skip(username, exc, unavailable)
                    continue
                self.log.info("X account resolved", account=f"@{username}", user_id=user_id)
            self.user_ids[key] = user_id
            if cursor.user_id != user_id:
                checkpoint = checkpoint.with_cursor(username, replace(cursor, user_id=user_id))
        return checkpoint

    def _first_since_id(self) -> str:
        return snowflake_at(utc_now() - timedelta(hours=self.options.backfill_hours))

    def _fetch_account(
        self, username: str, checkpoint: TwitterCheckpoint
    ) -> Iterator[RawMessage | CheckpointAdvance]:
        before = checkpoint.cursor(username)
        cursor = before if before.since_id else replace(before, since_id=self._first_since_id())
        user_id = cursor.user_id
        query_until = cursor.pending_until
        newest, oldest, count = cursor.pending_newest, cursor.pending_until, cursor.pending_count
        token: str | None = None
        while True:
            self._respect_budget()
            page = self.client.mentions_page(
                user_id, max_results=self.options.max_results, since_id=cursor.since_id,
                until_id=query_until, pagination_token=token,
            )
            yield from self._page_messages(page, username)
            meta = page.get("meta") or {}
            ids = page_tweet_ids(page)
            if newest is None and (meta.get("newest_id") or ids):
                newest = str(meta.get("newest_id") or max(ids, key=int))
            if meta.get("oldest_id") or ids:
                oldest = str(meta.get("oldest_id") or min(ids, key=int))
            count += len(ids)
            token = meta.get("next_token")
            if not token:
                break
            if oldest is not None:
                cursor = cursor.progressed(newest, oldest, count)
                checkpoint = checkpoint.with_cursor(username, cursor)
                yield CheckpointAdvance(checkpoint.to_json())
        if count >= self.options.reach_back_limit and oldest is not None:
            self._warn_gap(username, cursor, oldest, count)
        cursor = cursor.finished(newest)
        checkpoint = checkpoint.with_cursor(username, cursor)
        if cursor != before:
            yield CheckpointAdvance(checkpoint.to_json())
        return checkpoint

    def _page_messages(self, page: dict[str, Any], username: str) -> Iterator[RawMessage]:
        if self.downloader is not None:
            self._download_photos(page)
        received = utc_now()
        metadata = {"account": username, "own_ids": sorted(self.user_ids.values())}
        for mention in mention_payloads(page):
            yield RawMessage(mention.tweet_id, mention.payload, received, metadata)
        for gone in unavailable_mentions(page):
            self.log.info("mention unavailable; skipped", account=f"@{username}", tweet_id=gone.tweet_id,
                          reason=gone.reason)
            yield RawMessage(f"unavailable:{gone.tweet_id}", gone.payload, received,
                             {**metadata, "kind": "unavailable", "reason": gone.reason})
        missing = context_errors(page)
        if missing:
            self.log.debug("context of some mentions unavailable", account=f"@{username}", errors=missing)

    def _download_photos(self, page: dict[str, Any]) -> None:
        for medium in (page.get("includes") or {}).get("media") or []:
            url = medium.get("url") if isinstance(medium, dict) and medium.get("type") == "photo" else None
            if url and url not in self.media:
                self.media[url] = self.downloader.get(url)

    def _warn_gap(self, username: str, cursor: AccountCursor, oldest: str, count: int) -> None:
        self.log.warning(
            "possible gap in mentions: X pages back only so far; mentions in this window may be missing",
            account=f"@{username}", mentions_read=count, reach_back_limit=self.options.reach_back_limit,
            gap_from=snowflake_time(cursor.since_id).isoformat(), gap_to=snowflake_time(oldest).isoformat(),
        )

    def _respect_budget(self) -> None:
        retry_at = self.budget.blocked_until(self.client.rate_limit, time.time())
        if retry_at is not None:
            msg = "the window's request budget is spent (x-rate-limit-remaining: 0)"
            raise RateLimited(msg, retry_at)

    def next_poll_delay(self) -> float | None:
        """Pause before the next poll: what the last poll cost at the tier's even rate."""
        status = self.client.rate_limit if self.client else None
        return self.budget.pause_after_poll(self._requests_last_poll, status, time.time())

    # -- normalising and push ---------------------------------------------------

    def normalise(self, raw: RawMessage) -> NormaliseResult:
        """See :func:`connectors.twitter.normalise.normalise_mention`; photos that
        ``fetch`` downloaded are kept within the attachment caps."""
        result = normalise_mention(raw, self.name)
        if not self.media or not isinstance(result, Complaint) or not result.attachments:
            return result
        budget = AttachmentBudget(self.context.max_file_bytes, self.context.max_message_bytes)
        attachments = []
        for attachment in result.attachments:
            download = self.media.pop(attachment.url, None) if attachment.url else None
            if download is None:
                attachments.append(attachment)
            elif download.data is None:
                attachments.append(attachment.model_copy(update={"omitted_reason": download.omitted_reason}))
            else:
                kept = budget.take(download.data, attachment.filename, attachment.content_type)
                attachments.append(kept.model_copy(update={"url": attachment.url}))
        return Accept(result.model_copy(update={"attachments": tuple(attachments)}), budget.blobs)

    def webhook_routes(self) -> Sequence[WebhookRoute]:
        """The Account Activity routes, when ``webhook.enabled``."""
        if not self.options.webhook.enabled:
            return ()
        return AccountActivityRoutes(self).routes()
