"""The incremental cursor: read from a record, compared, stored, sent back. Pure.

The checkpoint the spool keeps is ``{"version": 1, "cursor": <value>}``; a datetime
cursor is stored as ISO 8601 with its offset, so a change of ``send_format`` does not
invalidate it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from connectors.http_json.mapper import evaluate, parse_time, time_zone
from connectors.http_json.pull_config import Incremental

CHECKPOINT_VERSION = 1


def read(incremental: Incremental, value: Any) -> Any:
    """A raw cursor value as a comparable value (int, aware datetime or str); None if unusable."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        if incremental.kind == "integer":
            return int(value)
        if incremental.kind == "datetime":
            if isinstance(value, datetime):
                return value
            return parse_time(value, incremental.format, incremental.timezone)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
    return str(value)


def of_record(incremental: Incremental, record: Any) -> Any:
    """The cursor value of one record (None when it has none)."""
    return read(incremental, evaluate(incremental.field, record))


def stored(incremental: Incremental, checkpoint: Any) -> Any:
    """The cursor kept in a checkpoint (None on the first run)."""
    if not isinstance(checkpoint, dict) or checkpoint.get("cursor") is None:
        return None
    value = checkpoint["cursor"]
    if incremental.kind == "datetime" and isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return read(incremental, value)


def to_checkpoint(value: Any) -> dict[str, Any]:
    """The JSON checkpoint holding cursor ``value``."""
    return {"version": CHECKPOINT_VERSION, "cursor": value.isoformat() if isinstance(value, datetime) else value}


def to_param(incremental: Incremental, value: Any) -> str | None:
    """What is sent in ``incremental.param`` for cursor ``value`` (``start`` on the first run)."""
    if value is None:
        return incremental.start
    if isinstance(value, datetime):
        moment = (value - timedelta(seconds=incremental.lookback_seconds)).astimezone(time_zone(incremental.timezone))
        return moment.strftime(incremental.send_format) if incremental.send_format else moment.isoformat()
    return str(value)
