"""Channel health for ``kanal status``, read from the spool's own tables.

It opens the spool read-only, so it works from another shell while ``kanal run``
is running, and shows channels from the config even before they first ran. It
needs none of the service's secrets (the CLI loads the config without reading them).

A channel's recorded state is only as true as the process that wrote it: ``kanal
run`` records a heartbeat every few seconds, and a channel whose process is gone
(kill -9, a crash, a reboot) or has stopped beating is shown as ``dead``, whatever
it last wrote.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from typing import Any

from config.loader import LoadedConfig
from connectors.errors import error_text

#: A heartbeat older than this means the process is hung or gone (it beats every 5 s).
STALE_AFTER = 30.0
#: States a channel records while its process runs; shown as ``dead`` when it does not.
LIVE_STATES = frozenset({"starting", "running", "backing_off", "auth_failed", "needs_reauthorisation"})


def pid_alive(pid: int) -> bool:
    """True when a process with ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def process_state(record: dict[str, Any] | None, now: float | None = None) -> dict[str, Any]:
    """Judge a ``processes`` row: ``running``, ``stopped``, ``dead`` or ``unresponsive``.

    ``dead``: the pid is gone from this machine without saying it stopped.
    ``unresponsive``: no heartbeat for :data:`STALE_AFTER` seconds (hung, or on
    another machine that no longer beats).
    """
    if record is None:
        return {"state": "unknown", "detail": "no kanal run has recorded a heartbeat in this spool"}
    now = time.time() if now is None else now
    out = {k: record[k] for k in ("pid", "host", "role", "started_at", "heartbeat_at", "stopped_at", "exit_reason")}
    age = now - record["heartbeat_at"]
    out["heartbeat_age"] = round(age, 1)
    if record["stopped_at"]:
        out["state"] = "stopped" if record["exit_reason"] in (None, "stopped") else "failed"
        out["detail"] = f"ended: {record['exit_reason']}"
    elif record["host"] == socket.gethostname() and not pid_alive(record["pid"]):
        out["state"] = "dead"
        out["detail"] = f"pid {record['pid']} is not running and did not stop cleanly (killed or crashed)"
    elif age > STALE_AFTER:
        out["state"] = "unresponsive"
        out["detail"] = f"no heartbeat for {age:.0f}s"
    else:
        out["state"] = "running"
        out["detail"] = f"pid {record['pid']}, heartbeat {age:.0f}s ago"
    return out


def _processes(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    try:
        rows = conn.execute("SELECT * FROM processes ORDER BY heartbeat_at DESC").fetchall()
    except sqlite3.OperationalError:  # a spool written before heartbeats existed
        return []
    return [dict(r) for r in rows]


def _live_state(row: dict[str, Any], processes: list[dict[str, Any]], now: float) -> tuple[str, str | None]:
    """The state to show for a channel row, given what is known of its process."""
    state, detail = row.get("state", "never_run"), row.get("detail")
    if state not in LIVE_STATES or not row.get("pid"):
        return state, detail
    record = next((p for p in processes if p["pid"] == row["pid"]), None)
    if record is None:
        if pid_alive(row["pid"]):
            return state, detail
        return "dead", f"kanal run (pid {row['pid']}) is not running; it last said {state}"
    judged = process_state(record, now)
    if judged["state"] == "running":
        return state, detail
    return "dead", f"kanal run (pid {row['pid']}) is {judged['state']}: {judged['detail']}; it last said {state}"


def _store_report(loaded: LoadedConfig, spool_path: Any) -> dict[str, Any]:
    """The attachment store's size, and the links still waiting for the fetcher."""
    from kanal.fetcher import store_usage

    root = loaded.kanal.attachments.path
    files, size = store_usage(root) if root.exists() else (0, 0)
    waiting = 0
    if spool_path.exists():
        conn = sqlite3.connect(f"file:{spool_path}?mode=ro", uri=True, timeout=10)
        try:
            waiting = conn.execute("SELECT count(*) FROM attachment_fetch WHERE state = 'pending'").fetchone()[0]
        except sqlite3.OperationalError:  # a spool from before the fetch queue
            waiting = 0
        finally:
            conn.close()
    return {"path": str(root), "files": files, "bytes": size, "fetch_pending": waiting}


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
    processes: list[dict[str, Any]] = []
    now = time.time()
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
            processes = _processes(conn)
        finally:
            conn.close()
    report["quarantine_open"] = sum(open_quarantine.values())
    report["attachments"] = _store_report(loaded, path)
    report["process"] = process_state(processes[0] if processes else None, now)
    configured = {c.name: c for c in loaded.kanal.channels}
    for name in list(configured) + [n for n in rows if n not in configured]:
        row = rows.get(name, {})
        channel = configured.get(name)
        state, detail = _live_state(row, processes, now)
        report["channels"].append({
            "name": name,
            "type": row.get("type") or (channel.type if channel else "?"),
            "enabled": bool(channel.enabled) if channel else False,
            "state": state,
            "detail": detail,
            "recorded_state": row.get("state", "never_run"),
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
