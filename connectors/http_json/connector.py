"""The ``http_json`` channel: a JSON API polled and/or a JSON webhook, by config alone.

``fetch`` walks the pages the pagination options describe and yields one raw
message per record (its canonical JSON) with the checkpoint it makes safe:

- ``incremental.order: ascending``: each record carries the cursor (the largest
  cursor value so far), so the runner commits the cursor in the same spool
  transaction as the records; a poll cut short (429, 5xx, kill -9) resumes after
  the last durable record. Records older than the cursor are skipped; equal ones are
  offered again and the spool drops them as duplicates.
- ``descending`` (newest first): reading stops at the first record older than the
  cursor, and the cursor moves only after the last page, so a poll cut short reads
  the range again (duplicates again absorbed by the spool).
- no ``incremental``: every poll reads every page (a watch list); the spool dedups.

``normalise`` maps one record with :func:`connectors.http_json.mapper.map_record`.
The complaint id is derived from the channel's ``account`` and the record's own id,
so the same report pushed and polled is one complaint.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urljoin

from connectors.base import (
    UNCHANGED,
    ChannelContext,
    CheckpointAdvance,
    Connector,
    Drop,
    FetchAuth,
    NormaliseResult,
    RawMessage,
)
from connectors.errors import NormaliseError
from connectors.http_json import cursor
from connectors.http_json.config import HttpJsonOptions
from connectors.http_json.mapper import evaluate, map_record, select_records
from connectors.http_json.requester import Page, Requester
from connectors.http_json.webhook import UNREADABLE, PushRoute, record_message
from connectors.push import WebhookRoute
from normalizer.complaint import Complaint
from normalizer.timeutil import utc_now

TYPE_NAME = "http_json"


@dataclass(frozen=True)
class Preview:
    """What one record of a sample payload becomes (``kanal channels test``)."""

    index: int
    result: Complaint | Drop | None
    error: str | None = None


class HttpJsonConnector(Connector):
    """A JSON API or webhook described in config (LAPOR!, Qlue, a kelurahan form)."""

    type_name: ClassVar[str] = TYPE_NAME
    config_model: ClassVar[type[HttpJsonOptions]] = HttpJsonOptions

    def __init__(self, context: ChannelContext, options: HttpJsonOptions) -> None:
        super().__init__(context, options)
        self.options: HttpJsonOptions = options
        self.requester: Requester | None = None

    @property
    def account(self) -> str:
        """The source's name from the config (lapor.go.id, qlue.co.id...)."""
        return self.options.account

    @property
    def pulls(self) -> bool:
        """Polled only when ``pull`` is configured."""
        return self.options.pull is not None

    def open(self) -> None:
        """Create the HTTP session (no request yet)."""
        if self.options.pull is not None and self.requester is None:
            self.requester = Requester(self.options.pull)

    def close(self) -> None:
        """Close the HTTP session."""
        if self.requester is not None:
            self.requester.close()
            self.requester = None

    def fetch_auth(self, url: str) -> FetchAuth | None:
        """Photo URLs are downloaded after the commit (``fetch_photos``). The pull's
        credentials go only to the pull's own origin (https, host and port of
        ``pull.base_url``); any other host gets none."""
        if not self.options.fetch_photos:
            return None
        if self.requester is not None and self.requester.same_origin(url):
            return self.requester.credentials()
        return FetchAuth()

    # -- pull ------------------------------------------------------------------------

    def fetch(self, since: Any) -> Iterator[RawMessage | CheckpointAdvance]:
        """Yield the records of every page since checkpoint ``since`` (see the module docstring)."""
        self.open()
        pull = self.options.pull
        paging = pull.pagination
        incremental = pull.incremental
        known = cursor.stored(incremental, since) if incremental else None
        newest = known
        params = dict(pull.params)
        if incremental and incremental.param:
            sent = cursor.to_param(incremental, known)
            if sent is not None:
                params[incremental.param] = sent
        if paging.type in ("page", "offset"):
            params[paging.param] = str(paging.first)
        if paging.page_size_param:
            params[paging.page_size_param] = str(paging.page_size)
        url = self.requester.first_url()
        descending = incremental is not None and incremental.order == "descending"
        for _ in range(paging.max_pages):
            page = self.requester.get(url, params)
            records = select_records(page.body, pull.record_selector)
            received = utc_now()
            reached_known = False
            for record in records:
                value = cursor.of_record(incremental, record) if incremental else None
                if known is not None and value is not None and value < known:
                    if descending:
                        reached_known = True
                        break
                    continue
                checkpoint = UNCHANGED
                if value is not None and (newest is None or value > newest):
                    newest = value
                    if not descending:
                        checkpoint = cursor.to_checkpoint(newest)
                message = record_message(record, self.options.mapping.provider_id, received, "poll")
                yield RawMessage(message.source_id, message.payload, received, message.metadata, checkpoint)
            if reached_known or not records:
                break
            following = self._next(page, records, url, params)
            if following is None:
                break
            url, params = following
        else:
            self.log.warning("more pages remain after max_pages; the rest is read on the next poll"
                             + ("; a newest-first feed may leave a gap" if descending else ""),
                             max_pages=paging.max_pages)
        if descending and newest is not None and newest != known:
            yield CheckpointAdvance(cursor.to_checkpoint(newest))

    def _next(self, page: Page, records: list[Any], url: str, params: dict[str, str]
              ) -> tuple[str, dict[str, str]] | None:
        """URL and parameters of the next page, or None after the last one."""
        paging = self.options.pull.pagination
        short = paging.page_size is not None and len(records) < paging.page_size
        if paging.type == "page":
            return None if short else (url, {**params, paging.param: str(int(params[paging.param]) + 1)})
        if paging.type == "offset":
            return None if short else (url, {**params, paging.param: str(int(params[paging.param]) + len(records))})
        if paging.type == "cursor":
            token = evaluate(paging.next_path, page.body)
            return (url, {**params, paging.param: str(token)}) if token not in (None, "") else None
        if paging.type == "next_url":
            target = evaluate(paging.next_path, page.body)
            return (urljoin(page.url, str(target)), {}) if isinstance(target, str) and target else None
        if paging.type == "link_header":
            return (page.link_next, {}) if page.link_next else None
        return None

    # -- normalise, push, preview -------------------------------------------------------

    def normalise(self, raw: RawMessage) -> NormaliseResult:
        """Map one record (see :func:`connectors.http_json.mapper.map_record`)."""
        if raw.metadata.get("kind") == UNREADABLE:
            raise NormaliseError(str(raw.metadata.get("reason") or "unreadable push body"))
        try:
            record = json.loads(raw.payload)
        except (UnicodeDecodeError, ValueError) as exc:
            raise NormaliseError(f"record is not JSON: {exc}") from None
        result = map_record(record, self.options.mapping, self.channel_ref, raw.received_at, raw.raw_ref)
        if isinstance(result, Complaint) and "status_unknown" in result.flags:
            status = evaluate(self.options.mapping.status.path, record)
            self.log.warning("status not in mapping.status.accept; taken in and flagged", status=str(status),
                             provider_id=result.provider_message_id)
        return result

    def webhook_routes(self) -> Sequence[WebhookRoute]:
        """The signed POST route, when ``push`` is configured."""
        return PushRoute(self).routes() if self.options.push is not None else ()

    def preview(self, payload: bytes, push: bool = False) -> list[Preview]:
        """What a sample payload (a page as polled, or a push body with ``push``) maps to.

        Nothing is fetched or stored; for ``kanal channels test``.
        """
        body = json.loads(payload)
        selector = "@"
        if push and self.options.push is not None:
            selector = self.options.push.record_selector
        elif not push and self.options.pull is not None:
            selector = self.options.pull.record_selector
        out = []
        received = utc_now()
        for index, record in enumerate(select_records(body, selector)):
            message = record_message(record, self.options.mapping.provider_id, received, "test")
            try:
                out.append(Preview(index, self.normalise(message)))
            except NormaliseError as exc:
                out.append(Preview(index, None, str(exc)))
        return out
