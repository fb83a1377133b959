"""The e-mail channel: one IMAP mailbox (e.g. dki@jakarta.go.id) per channel instance.

Cursor:
    Per folder, ``(UIDVALIDITY, last UID)``, stored by the runner in the same
    spool transaction as the complaints. A changed UIDVALIDITY rescans the
    folder; the ``Message-ID`` (or a content hash) gives the same complaint id
    again, so the spool drops what it already has.

Delivery:
    Mail is moved to ``processed_folder`` (``quarantine_folder`` for mail that
    could not be read) in :meth:`EmailConnector.acknowledge`, which the runner
    calls only after the commit. Nothing is ever deleted. A crash between the
    commit and the move leaves the mail in the folder below the cursor; every
    new connection first re-offers such leftovers, which the spool absorbs as
    duplicates, and then moves them.

Push:
    :meth:`EmailConnector.wait` IDLEs on the first folder when the server offers
    IDLE (renewed every ``idle_renew_seconds``, well inside the 29-minute limit);
    every further folder is watched by a :class:`~connectors.email.watch.FolderWatcher`
    on a connection of its own, which wakes that wait. The poll interval stays as a
    safety net, and without IDLE the channel polls.

Config keys: see :class:`connectors.email.config.EmailOptions`.
"""

from __future__ import annotations

import email.policy
import secrets
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from email.parser import BytesHeaderParser
from typing import Any

from connectors.base import (
    ChannelContext,
    CheckpointAdvance,
    Connector,
    IngestResult,
    NormaliseResult,
    RawMessage,
)
from connectors.email import partial
from connectors.email.client import FetchedMail, MailboxClient, plan_chunks
from connectors.email.config import EmailOptions
from connectors.email.normalise import EmailNormaliser, message_ids
from connectors.email.watch import FolderWatchers
from connectors.errors import TransientError
from normalizer.complaint import ChannelRef
from normalizer.timeutil import utc_now

Cursor = dict[str, dict[str, int]]

#: How often the IDLE on the first folder checks whether a watcher saw mail elsewhere.
_WAKE_CHECK_SECONDS = 0.1


def _message_id(raw: bytes) -> str | None:
    """The first id of the ``Message-ID`` header, in brackets, or None."""
    try:
        headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
        ids = message_ids(str(headers.get("Message-ID", "")))
    except Exception:  # noqa: BLE001 - a header the parser cannot read: look the mail up by its bytes
        return None
    return f"<{ids[0]}>" if ids else None


class EmailConnector(Connector):
    """Reads an IMAP mailbox; see the module docstring for cursor and delivery."""

    type_name = "email"
    config_model = EmailOptions
    options: EmailOptions

    def __init__(self, context: ChannelContext, options: EmailOptions) -> None:
        super().__init__(context, options)
        self.client = MailboxClient(options)  # its OAuth2 token source is shared by the watchers
        self._sweep = True
        self._opened = False
        self._seen_uidnext: dict[str, int] = {}
        self._watchers = FolderWatchers(options, self.client.tokens, lambda f: self._seen_uidnext.get(f, 0),
                                        context.log)
        self._normaliser = EmailNormaliser(
            ChannelRef(type=self.type_name, name=context.name, account=self.account),
            [options.address, *options.own_addresses],
            context.max_file_bytes,
            context.max_message_bytes,
        )

    @property
    def account(self) -> str:
        """The mailbox address."""
        return self.options.address.lower()

    # -- connection -------------------------------------------------------------

    def open(self) -> None:
        """Connect, log in and create the Processed and Quarantine folders."""
        self._opened = True
        self._connected()

    def close(self) -> None:
        """Stop the folder watchers and log out."""
        self._watchers.stop()
        self.client.close()

    def _connected(self) -> MailboxClient:
        if self.client.connected and self.client.relogin_in() <= 0:
            self.log.info("imap logging in again with a fresh OAuth2 token")
            self.client.close()
        if not self.client.connected:
            self.client.connect()
            self.client.ensure_folder(self.options.processed_folder)
            self.client.ensure_folder(self.options.quarantine_folder)
            self._sweep = True  # a new connection first re-offers mail a crash left behind
            self.log.info("imap connected", host=self.options.host, idle=self.client.has("IDLE"))
        return self.client

    # -- pull -----------------------------------------------------------------

    def fetch(self, since: Any) -> Iterator[RawMessage | CheckpointAdvance]:
        """Yield new mail of every folder in UID order (and leftovers below the cursor)."""
        cursor: Cursor = {k: dict(v) for k, v in (since or {}).items()}
        self._watchers.arrived.clear()  # this fetch reads every folder; later arrivals set it again
        try:
            client = self._connected()
            sweep, self._sweep = self._sweep, False
            for folder in self.options.folders:
                yield from self._fetch_folder(client, folder, cursor, sweep)
        except TransientError:
            self.client.drop()
            self._sweep = True
            raise

    def _fetch_folder(
        self, client: MailboxClient, folder: str, cursor: Cursor, sweep: bool
    ) -> Iterator[RawMessage | CheckpointAdvance]:
        state = client.select(folder)
        self._seen_uidnext[folder] = state.uidnext
        known = cursor.get(folder)
        last = 0
        if known and known.get("uidvalidity") == state.uidvalidity:
            last = int(known.get("last_uid", 0))
        elif known:
            self.log.warning(
                "UIDVALIDITY changed; rescanning folder",
                folder=folder,
                old=known.get("uidvalidity"),
                new=state.uidvalidity,
            )
        uids = [uid for uid in client.uids() if sweep or uid > last]
        cursor[folder] = {"uidvalidity": state.uidvalidity, "last_uid": last}
        if not uids:
            if known != cursor[folder]:
                yield CheckpointAdvance({k: dict(v) for k, v in cursor.items()})
            return
        opts = self.options
        sizes = client.sizes(uids)
        for chunk in plan_chunks(uids, sizes, opts.fetch_chunk, opts.fetch_max_bytes):
            if client.selected != folder and client.select(folder).uidvalidity != state.uidvalidity:
                raise TransientError(f"UIDVALIDITY of {folder} changed during a fetch")
            large = {uid for uid in chunk if sizes.get(uid, 0) > opts.max_download_bytes}
            whole = [uid for uid in chunk if uid not in large]
            mails = [(mail, {}) for mail in (client.fetch(whole) if whole else [])]
            mails += [m for m in (self._fetch_reduced(client, uid, sizes[uid]) for uid in sorted(large)) if m]
            for mail, extra in sorted(mails, key=lambda m: m[0].uid):
                last = max(last, mail.uid)
                cursor[folder] = {"uidvalidity": state.uidvalidity, "last_uid": last}
                yield RawMessage(
                    source_id=f"{folder}/{state.uidvalidity}/{mail.uid}",
                    payload=mail.raw,
                    received_at=utc_now(),
                    metadata={
                        "folder": folder,
                        "uidvalidity": state.uidvalidity,
                        "uid": mail.uid,
                        "account": self.account,
                        "internaldate": mail.internaldate.isoformat()
                        if mail.internaldate
                        else None,
                        **extra,
                    },
                    checkpoint={k: dict(v) for k, v in cursor.items()},
                )

    def _fetch_reduced(self, client: MailboxClient, uid: int, size: int) -> tuple[FetchedMail, dict[str, Any]] | None:
        """Mail over ``max_download_bytes``: its header, text and small parts, with stubs
        for the rest (see :mod:`.partial`); None if it vanished meanwhile."""
        found = client.structure(uid)
        if found is None:
            return None
        structure, internaldate = found
        root = partial.plan(structure, self.context.max_file_bytes, self.options.max_download_bytes)
        mark = secrets.token_hex(16)
        raw = partial.rebuild(root, client.sections(uid, partial.sections(root)), mark)
        self.log.info("large mail taken without its big parts", uid=uid, size=size, fetched=len(raw))
        return FetchedMail(uid, raw, internaldate), {"fetched": "partial", "original_bytes": size, "omitted_mark": mark}

    def normalise(self, raw: RawMessage) -> NormaliseResult:
        """Turn one .eml into a complaint or a drop (pure; see :mod:`.normalise`)."""
        return self._normaliser(raw)

    def acknowledge(self, results: Sequence[IngestResult]) -> None:
        """Move committed mail out of its folder: to Processed, or to Quarantine.

        A connector that was never opened runs a ``kanal quarantine retry``: that mail
        sits in the Quarantine folder, and what the retry took in moves on to Processed.
        """
        if not self._opened:
            self._acknowledge_retried(results)
            return
        moves: dict[tuple[str, int], dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        for result in results:
            meta = result.raw.metadata
            if "folder" not in meta:
                continue
            target = (
                self.options.quarantine_folder
                if result.status == "quarantined"
                else self.options.processed_folder
            )
            moves[(meta["folder"], meta["uidvalidity"])][target].append(int(meta["uid"]))
        try:
            for (folder, uidvalidity), targets in moves.items():
                self._move(folder, uidvalidity, targets)
        except TransientError:
            self.client.drop()
            self._sweep = True
            raise

    def _acknowledge_retried(self, results: Sequence[IngestResult]) -> None:
        """Move the mail whose quarantine retry succeeded from Quarantine to Processed.

        The mail got a new UID in the Quarantine folder, so it is looked up there by its
        Message-ID and size and, unless the spool kept a reduced copy, by its bytes.
        """
        done = [r.raw for r in results if r.status != "quarantined" and "folder" in r.raw.metadata]
        if not done:
            return
        opts = self.options
        try:
            client = self._connected()
            client.select(opts.quarantine_folder)
            uids: set[int] = set()
            for raw in done:
                reduced = raw.metadata.get("archived") == "reduced" or raw.metadata.get("fetched") == "partial"
                original = raw.metadata.get("original_bytes") if reduced else None
                found = client.copies_of(raw.payload, _message_id(raw.payload), original)
                if not found:
                    self.log.warning("retried mail not found in the quarantine folder", source_id=raw.source_id)
                uids.update(found)
            client.move(sorted(uids), opts.processed_folder)
        except TransientError:
            self.client.drop()
            raise

    def _move(self, folder: str, uidvalidity: int, targets: dict[str, list[int]]) -> None:
        client = self._connected()
        if client.select(folder).uidvalidity != uidvalidity:
            self.log.warning(
                "UIDVALIDITY changed before the move; the rescan will move it", folder=folder
            )
            self._sweep = True
            return
        for target, uids in targets.items():
            client.ensure_folder(target)
            client.move(uids, target)

    # -- push -----------------------------------------------------------------

    def wait(self, stop: threading.Event, timeout: float) -> None:
        """Until new mail in any folder, ``timeout`` or ``stop``: IDLE on the first folder
        (the watchers of the others wake it); without IDLE, sleep."""
        client = self.client
        if not (self.options.idle and client.connected and client.has("IDLE")):
            stop.wait(timeout)
            return
        watchers = self._watchers
        watchers.check()
        watchers.start_missing()
        paused = watchers.paused_for()  # >0: back in time to start the watchers
        folder = self.options.folders[0]
        try:
            if watchers.arrived.is_set() or client.select(folder).uidnext > self._seen_uidnext.get(folder, 0):
                return  # mail arrived between the fetch and now
            client.idle_until(
                lambda: stop.is_set() or watchers.arrived.is_set(),
                min(timeout, client.relogin_in(), paused if paused > 0 else timeout),
                renew=self.options.idle_renew_seconds,
                step=_WAKE_CHECK_SECONDS,
            )
        except TransientError as exc:
            self.log.warning("IDLE failed; reconnecting on the next poll", error=str(exc))
            self.client.drop()
            self._sweep = True
        watchers.check()
