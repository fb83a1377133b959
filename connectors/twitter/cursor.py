"""The channel's checkpoint: one cursor per account, stored as one JSON object.

X returns mentions newest first and pages backwards. A poll therefore learns the
newest id on its first page but has taken in everything down to the old
``since_id`` only after its last page: ``since_id`` moves to that newest id with
the last page, never before. While a range is being read, the cursor also keeps
how far down it got (``pending_until``, the oldest id taken in so far), so a poll
cut short by a rate limit, a 5xx or a crash resumes below it with ``until_id``
instead of starting over; what a crash re-reads, the spool drops as duplicates.

Tweet ids are snowflakes: the upper bits are milliseconds since X's epoch, which
turns an id into a time (for the gap warning) and a time into a ``since_id`` (for
the first poll's backfill start).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

#: X's snowflake epoch, Unix milliseconds.
SNOWFLAKE_EPOCH_MS = 1288834974657

CHECKPOINT_VERSION = 1


def snowflake_time(tweet_id: str | int) -> datetime:
    """The UTC time encoded in a tweet id."""
    ms = (int(tweet_id) >> 22) + SNOWFLAKE_EPOCH_MS
    return datetime.fromtimestamp(ms / 1000, UTC)


def snowflake_at(moment: datetime) -> str:
    """The smallest tweet id X could have issued at ``moment`` (a valid ``since_id``)."""
    ms = int(moment.timestamp() * 1000) - SNOWFLAKE_EPOCH_MS
    return str(max(0, ms) << 22)


def newer(a: str | None, b: str | None) -> str | None:
    """The larger of two tweet ids (ids are compared as numbers, not strings)."""
    if a is None:
        return b
    if b is None:
        return a
    return a if int(a) >= int(b) else b


@dataclass(frozen=True)
class AccountCursor:
    """Where one account's mentions stand.

    Attributes:
        user_id: the account's numeric id, looked up once and remembered.
        since_id: every mention up to this id is durable.
        pending_newest: newest id of the range being read (None when no range is open).
        pending_until: oldest id taken in from that range so far.
        pending_count: mentions read in that range so far (for the reach-back gap check).
    """

    user_id: str | None = None
    since_id: str | None = None
    pending_newest: str | None = None
    pending_until: str | None = None
    pending_count: int = 0

    @property
    def reading(self) -> bool:
        """True while a range is partly read."""
        return self.pending_newest is not None

    def progressed(self, newest: str | None, oldest: str | None, count: int) -> AccountCursor:
        """The cursor after one more page of the open range (more pages follow)."""
        return replace(self, pending_newest=newest, pending_until=oldest, pending_count=count)

    def finished(self, newest: str | None) -> AccountCursor:
        """The cursor once the last page of a range is durable."""
        return AccountCursor(user_id=self.user_id, since_id=newer(self.since_id, newest))


@dataclass(frozen=True)
class TwitterCheckpoint:
    """The checkpoint of a channel instance: one :class:`AccountCursor` per username (lower case)."""

    accounts: dict[str, AccountCursor] = field(default_factory=dict)

    @classmethod
    def from_json(cls, value: Any) -> TwitterCheckpoint:
        """Read a stored checkpoint (None on the first run). Unknown keys are ignored."""
        if not isinstance(value, dict):
            return cls()
        accounts = {}
        for name, raw in (value.get("accounts") or {}).items():
            if isinstance(raw, dict):
                known = {k: raw[k] for k in AccountCursor.__dataclass_fields__ if k in raw}
                accounts[name.lower()] = AccountCursor(**known)
        return cls(accounts)

    def to_json(self) -> dict[str, Any]:
        """The JSON value the spool stores."""
        return {
            "version": CHECKPOINT_VERSION,
            "accounts": {name: asdict(cursor) for name, cursor in sorted(self.accounts.items())},
        }

    def cursor(self, username: str) -> AccountCursor:
        """The cursor of one account (empty when it has never been polled)."""
        return self.accounts.get(username.lower(), AccountCursor())

    def with_cursor(self, username: str, cursor: AccountCursor) -> TwitterCheckpoint:
        """A copy with one account's cursor replaced."""
        return TwitterCheckpoint({**self.accounts, username.lower(): cursor})
