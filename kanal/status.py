"""Channel health for ``kanal status``, read from the spool's own tables.

It opens the spool read-only, so it works from another shell while ``kanal run``
is running, and shows channels from the config even before they first ran.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from config.loader import LoadedConfig
from connectors.errors import error_text


def read_status(loaded: LoadedConfig) -> dict[str, Any]:
    """Return the status report as a JSON-able dict."""
    path = loaded.kanal.spool.path
    report: dict[str, Any] = {
        "spool": str(path), "spool_depth": 0, "quarantine_open": 0, "routed": 0, "channels": [],
    }
    rows: dict[str, dict[str, Any]] = {}
    checkpoints: dict[str, Any] = {}
    counters: dict[str, dict[str, int]] = {}
    open_quarantine: dict[str, int] = {}
    if path.exists():
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        conn.row_factory = sqlite3.Row
        try:
            report["spool_depth"] = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
            report["routed"] = conn.execute("SELECT count(*) FROM routed").fetchone()[0]
            for row in conn.execute("SELECT * FROM channel_status"):
                rows[row["channel"]] = dict(row)
            for row in conn.execute("SELECT channel, value FROM checkpoints"):
                checkpoints[row["channel"]] = json.loads(row["value"])
            for row in conn.execute("SELECT channel, name, count FROM counters"):
                counters.setdefault(row["channel"], {})[row["name"]] = row["count"]
            for row in conn.execute(
                "SELECT channel, count(*) AS n FROM quarantine WHERE resolved_at IS NULL GROUP BY channel"
            ):
                open_quarantine[row["channel"]] = row["n"]
        finally:
            conn.close()
    report["quarantine_open"] = sum(open_quarantine.values())
    configured = {c.name: c for c in loaded.kanal.channels}
    for name in list(configured) + [n for n in rows if n not in configured]:
        row = rows.get(name, {})
        channel = configured.get(name)
        report["channels"].append({
            "name": name,
            "type": row.get("type") or (channel.type if channel else "?"),
            "enabled": bool(channel.enabled) if channel else False,
            "state": row.get("state", "never_run"),
            "detail": row.get("detail"),
            "last_success": row.get("last_success"),
            "last_error": error_text(row["last_error"]) if row.get("last_error") else None,
            "last_error_at": row.get("last_error_at"),
            "last_error_past": _recovered_since_error(row),
            "accepted": row.get("accepted", 0),
            "duplicates": row.get("duplicates", 0),
            "dropped": row.get("dropped", 0),
            "quarantined": row.get("quarantined", 0),
            "quarantine_open": open_quarantine.get(name, 0),
            "checkpoint": checkpoints.get(name),
            "counters": counters.get(name, {}),
            "pid": row.get("pid"),
        })
    return report


def _recovered_since_error(row: dict[str, Any]) -> bool:
    """True when the channel's last error is history: a poll succeeded after it."""
    error_at, success_at = row.get("last_error_at"), row.get("last_success")
    return bool(error_at and success_at and success_at > error_at)
