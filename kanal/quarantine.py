"""``kanal quarantine``: look at and re-run messages that failed normalisation.

A retry rebuilds the raw message from the stored bytes and metadata and runs it
through the channel's current normaliser and the same runner path as live input
(no network): after a fix it becomes a complaint, or a deliberate drop; if it
still fails it stays in quarantine with the new error and one more attempt.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from config.loader import LoadedConfig
from connectors.attachments import LocalAttachmentStore
from connectors.base import RawMessage
from connectors.runner import ChannelRunner
from kanal.app import build_connector, open_spool
from kanal.spool import QuarantineEntry, Spool

EXIT_OK, EXIT_FAILURE = 0, 1


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def list_entries(loaded: LoadedConfig, channel: str | None, include_resolved: bool) -> int:
    """Print the quarantine, oldest first."""
    spool = open_spool(loaded)
    entries = spool.quarantined(channel, include_resolved)
    if not entries:
        print("quarantine is empty" + (f" for {channel}" if channel else ""))
    for e in entries:
        state = f"resolved ({e.resolution})" if e.resolved_at else f"{e.attempts} attempt(s)"
        print(f"#{e.qid:<5} {e.channel:<24} {_when(e.last_seen)}  {state}\n       {e.error[:160]}")
    return EXIT_OK


def show_entry(loaded: LoadedConfig, ids: list[int]) -> int:
    """Print one or more entries with a preview of the raw bytes."""
    if not ids:
        print("kanal quarantine show: name the entry ids to show (`kanal quarantine list` numbers them)",
              file=sys.stderr)
        return 2
    spool = open_spool(loaded)
    status = EXIT_OK
    for qid in ids:
        e = spool.quarantine_entry(qid)
        if e is None:
            print(f"#{qid}: no such quarantine entry")
            status = EXIT_FAILURE
            continue
        print(f"#{e.qid} channel={e.channel} type={e.channel_type} source_id={e.source_id}")
        print(f"  first seen {_when(e.first_seen)}, last seen {_when(e.last_seen)}, attempts {e.attempts}")
        if e.resolved_at:
            print(f"  resolved {_when(e.resolved_at)}: {e.resolution}")
        print(f"  error: {e.error}")
        print(f"  metadata: {e.metadata}")
        preview = e.payload[:2000].decode("utf-8", "replace")
        print(f"  raw ({len(e.payload)} bytes):\n" + "\n".join("    " + line for line in preview.splitlines()))
    return status


def retry_entries(loaded: LoadedConfig, ids: list[int], channel: str | None) -> int:
    """Re-run normalisation for entries (by id, or all open ones of a channel)."""
    spool = open_spool(loaded)
    if ids:
        entries = [e for e in (spool.quarantine_entry(i) for i in ids) if e is not None]
    elif channel:
        entries = spool.quarantined(channel)
    else:
        print("kanal quarantine retry: name entry ids or --channel NAME", file=sys.stderr)
        return 2
    failed = 0
    for entry in entries:
        outcome = retry_one(loaded, spool, entry)
        print(f"#{entry.qid}: {outcome}")
        failed += outcome.startswith("still failing")
    return EXIT_FAILURE if failed else EXIT_OK


def retry_one(loaded: LoadedConfig, spool: Spool, entry: QuarantineEntry) -> str:
    """Re-run one entry; returns a one-line description of what happened."""
    if entry.resolved_at:
        return f"already resolved ({entry.resolution})"
    try:
        connector = build_connector(loaded, entry.channel)
    except KeyError:
        return f"still failing: channel {entry.channel!r} is no longer in the config"
    runner = ChannelRunner(connector, spool, LocalAttachmentStore(loaded.kanal.attachments.path))
    raw = RawMessage(
        entry.source_id, entry.payload, datetime.fromtimestamp(entry.received_at, UTC), entry.metadata
    )
    try:
        result = runner.ingest([raw])[0]
    finally:
        connector.close()  # a channel may have connected to move the source (e-mail: Quarantine → Processed)
    if result.status == "quarantined":
        return f"still failing: {result.reason}"
    resolution = result.status if result.status != "dropped" else f"dropped:{result.reason}"
    spool.resolve_quarantine(entry.qid, resolution)
    suffix = f" as complaint {result.complaint_id}" if result.complaint_id else ""
    return f"{resolution}{suffix}"
