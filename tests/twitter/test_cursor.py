"""Snowflake ids, id order and the checkpoint's JSON round trip."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.twitter.cursor import (
    AccountCursor,
    TwitterCheckpoint,
    newer,
    snowflake_at,
    snowflake_time,
)


def test_snowflakes_turn_ids_into_times_and_back() -> None:
    moment = datetime(2026, 11, 27, 3, 0, 0, tzinfo=UTC)
    assert snowflake_time(snowflake_at(moment)) == moment
    # Ids of this size were issued in October 2021.
    assert snowflake_time("1445880548472328192").date().isoformat() == "2021-10-06"


def test_ids_compare_as_numbers_not_strings() -> None:
    assert newer("999", "1000") == "1000"
    assert newer(None, "5") == "5" and newer("5", None) == "5"


def test_checkpoint_round_trips_and_ignores_unknown_keys() -> None:
    cursor = AccountCursor(user_id="1000", since_id="20", pending_newest="40", pending_until="30", pending_count=7)
    checkpoint = TwitterCheckpoint().with_cursor("DKIJakarta", cursor)
    stored = checkpoint.to_json()
    assert stored["accounts"]["dkijakarta"]["pending_until"] == "30"
    stored["accounts"]["dkijakarta"]["added_later"] = True
    assert TwitterCheckpoint.from_json(stored).cursor("dkijakarta") == cursor
    assert TwitterCheckpoint.from_json(None).cursor("dkijakarta") == AccountCursor()
    assert cursor.finished("40") == AccountCursor(user_id="1000", since_id="40")
