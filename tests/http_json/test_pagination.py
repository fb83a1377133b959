"""Numbered pages (``pagination.type: page``) and record offsets (``offset``) against a
local fake feed, through the real connector, runner and spool: every page is asked
for once, the last page is told by a short or an empty page, the incremental cursor
in the spool never runs ahead of the committed records, and a poll stopped part-way
resumes after the last durable record."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kanal.spool import Spool
from tests.http_json.conftest import spooled
from tests.http_json.fakes import FakeNumbered

#: The query parameter of each mode and the values of its first pages (page size 5).
MODES = {"page": ("hal", ["1", "2", "3", "4", "5", "6"]), "offset": ("mulai", ["0", "5", "10", "15", "20", "25"])}


def numbered_block(fake: FakeNumbered, mode: str, page_size: int | None = 5) -> dict[str, Any]:
    """A pull channel on ``fake`` with ``mode`` paging; ``start`` is left at its default."""
    pagination: dict[str, Any] = {"type": mode, "param": MODES[mode][0]}
    if page_size is not None:
        pagination |= {"page_size": page_size, "page_size_param": "per"}
    return {
        "name": "kota",
        "type": "http_json",
        "options": {
            "account": "laporan.kota.example",
            "pull": {"base_url": fake.url, "path": FakeNumbered.PATH, "record_selector": "data.laporan",
                     "pagination": pagination, "retries": 0,
                     "incremental": {"field": "id", "kind": "integer", "param": "since_id"}},
            "mapping": {"provider_id": "id", "description": "isi"},
        },
    }


def page_params(fake: FakeNumbered, mode: str) -> list[str | None]:
    """The page number or offset of every answered request, in order."""
    return [q.get(MODES[mode][0]) for q in fake.page_requests(FakeNumbered.PATH)]


def spooled_ids(spool: Spool) -> list[int]:
    return sorted(int(c["provider_message_id"]) for c in spooled(spool))


@pytest.mark.parametrize("mode", ["page", "offset"])
def test_every_page_is_read_once_and_a_short_page_is_the_last(spool: Spool, make_runner: Callable,
                                                              mode: str) -> None:
    with FakeNumbered(page_size=50) as fake:
        for _ in range(23):
            fake.add_report()
        make_runner(numbered_block(fake, mode)).poll_once()
        assert page_params(fake, mode) == MODES[mode][1][:5], "pages 1-5 once each; the short 5th is the last"
        assert {q.get("per") for q in fake.page_requests(FakeNumbered.PATH)} == {"5"}
        assert spooled_ids(spool) == list(range(1, 24))
        assert spool.load_checkpoint("kota") == {"version": 1, "cursor": 23}

        # The next poll sends the cursor and starts at the first page again.
        fake.requests.clear()
        for _ in range(2):
            fake.add_report()
        make_runner(numbered_block(fake, mode)).poll_once()
        [query] = fake.page_requests(FakeNumbered.PATH)
        assert query["since_id"] == "23" and query[MODES[mode][0]] == MODES[mode][1][0]
    assert spooled_ids(spool) == list(range(1, 26))
    assert spool.load_checkpoint("kota")["cursor"] == 25


@pytest.mark.parametrize("mode", ["page", "offset"])
@pytest.mark.parametrize("known_size", [True, False])
def test_a_full_last_page_ends_at_the_next_empty_page(spool: Spool, make_runner: Callable, mode: str,
                                                      known_size: bool) -> None:
    """20 records in pages of 5: four full pages, then one empty answer ends the poll,
    whether or not Kanal knows the page size (without it a short page proves nothing)."""
    with FakeNumbered(page_size=5) as fake:
        for _ in range(20):
            fake.add_report()
        make_runner(numbered_block(fake, mode, page_size=5 if known_size else None)).poll_once()
    assert page_params(fake, mode) == MODES[mode][1][:5]
    assert spooled_ids(spool) == list(range(1, 21))
    assert spool.load_checkpoint("kota")["cursor"] == 20


def _durable(spool_path: Path) -> tuple[int | None, set[int]]:
    """The committed cursor and the ids in the ledger, read as another process would."""
    conn = sqlite3.connect(spool_path)
    try:
        row = conn.execute("SELECT value FROM checkpoints WHERE channel = 'kota'").fetchone()
        ids = {int(pid) for (pid,) in conn.execute("SELECT provider_message_id FROM ledger WHERE channel = 'kota'")}
    except sqlite3.OperationalError:  # not created yet
        return None, set()
    finally:
        conn.close()
    return (json.loads(row[0])["cursor"] if row else None), ids


@pytest.mark.parametrize("mode", ["page", "offset"])
def test_the_cursor_follows_the_commits_and_a_stop_resumes_where_it_left_off(
        spool: Spool, make_runner: Callable, tmp_path: Path, mode: str) -> None:
    stop = threading.Event()
    seen: list[tuple[dict[str, str], int | None, set[int]]] = []

    def look(query: dict[str, str]) -> None:
        cursor, ids = _durable(tmp_path / "spool.db")
        seen.append((query, cursor, ids))
        if len(seen) == 3:
            stop.set()  # SIGTERM while page 3 is being read

    with FakeNumbered(page_size=50) as fake:
        for _ in range(23):
            fake.add_report()
        fake.on_page = look
        # Batches of 3 do not line up with pages of 5.
        make_runner(numbered_block(fake, mode), batch_size=3, stop=stop).poll_once()
        cursor, ids = _durable(tmp_path / "spool.db")
        assert cursor is not None and 10 <= cursor < 23, "stopped part-way, after what was read was committed"
        assert ids == set(range(1, cursor + 1))

        fake.requests.clear()
        make_runner(numbered_block(fake, mode), batch_size=3).poll_once()  # a restart
        resumed = fake.page_requests(FakeNumbered.PATH)
        assert {q["since_id"] for q in resumed} == {str(cursor)}, "every page of the next poll sends the cursor"
        assert [q[MODES[mode][0]] for q in resumed] == MODES[mode][1][:len(resumed)]

    # While paging, the cursor never named a record that was not yet durable.
    for query, at_request, durable in seen:
        if at_request is not None:
            assert durable >= set(range(1, at_request + 1)), (query, at_request, sorted(durable))
    assert [c for _, c, _ in seen][:3] == [None, 3, 9]
    assert spooled_ids(spool) == list(range(1, 24)), "each report once, none skipped"
    assert spool.load_checkpoint("kota")["cursor"] == 23
