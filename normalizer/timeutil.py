"""Time helpers: keep the source's offset, store UTC. Jakarta is WIB, UTC+07:00."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

WIB = timezone(timedelta(hours=7), "WIB")


def ensure_aware(value: datetime, assume: timezone = WIB) -> datetime:
    """Return ``value`` with a timezone; a naive time is taken to be in ``assume``."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        return value.replace(tzinfo=assume)
    return value


def to_utc(value: datetime, assume: timezone = WIB) -> datetime:
    """Return ``value`` converted to UTC (naive input is read as ``assume``)."""
    return ensure_aware(value, assume).astimezone(UTC)


def parse_local(text: str, fmt: str, tz: timezone = WIB) -> datetime:
    """Parse a gateway's local time string (no offset in it) as time in ``tz``."""
    return datetime.strptime(text.strip(), fmt).replace(tzinfo=tz)


def from_epoch(seconds: float, tz: timezone = WIB) -> datetime:
    """Return a Unix timestamp as an aware datetime expressed in ``tz``."""
    return datetime.fromtimestamp(seconds, tz)


def utc_now() -> datetime:
    """Return the current time in UTC (aware)."""
    return datetime.now(UTC)
