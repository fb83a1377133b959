"""Gammu SMSD SQL backend on a real SQLite file and a real PostgreSQL (schema v17),
end to end into the spool; rows marked processed only after the commit."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from connectors.sms.gammu_schema import SQLITE_DDL, postgres_ddl
from connectors.sms.message import INCOMPLETE
from connectors.sms.udh import encode_hex_ucs2
from kanal.ack_sender import AckSender
from kanal.spool import Spool
from tests.services import require_postgres
from tests.sms.kit import ack_rows, complaints, counters, make_connector, make_runner, send_acks


@dataclass
class GammuDb:
    """A fake SMSD writing rows the way Gammu's SQL service does."""

    kind: str
    dsn: str
    conn: Any
    schema: str | None = None

    def table(self, name: str) -> str:
        return f'"{self.schema}".{name}' if self.schema else name

    def sql(self, text: str, params: tuple = ()) -> list[tuple]:
        if self.kind != "sqlite":
            text = text.replace("?", "%s")
        cur = self.conn.execute(text, params)
        return cur.fetchall() if cur.description else []

    def insert(self, sender: str, text: str, udh: str = "", received: str = "2026-11-27 10:20:30",
               decoded: bool = True, coding: str = "Unicode_No_Compression", recipient: str = "modem1") -> int:
        rows = self.sql(
            f'INSERT INTO {self.table("inbox")} ("ReceivingDateTime", "Text", "SenderNumber", "Coding", "UDH", '
            '"TextDecoded", "RecipientID") VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING "ID"',
            (received, encode_hex_ucs2(text), sender, coding, udh, text if decoded else "", recipient),
        )
        return rows[0][0]

    def insert_raw(self, sender: str, text_hex: str, decoded: bytes, udh: str = "",
                   received: str = "2026-11-27 10:20:30", coding: str = "Unicode_No_Compression") -> int:
        """Insert a row whose ``TextDecoded`` holds ``decoded`` byte for byte, as gammu-smsd 1.42
        does: SQLite and a SQL_ASCII PostgreSQL keep any bytes; a UTF-8 PostgreSQL refuses them,
        and SMSD then retries the insert with an empty ``TextDecoded``."""
        cols = (f'INSERT INTO {self.table("inbox")} ("ReceivingDateTime", "Text", "SenderNumber", "Coding", "UDH", '
                '"TextDecoded", "RecipientID") VALUES (?, ?, ?, ?, ?, {}, ?) RETURNING "ID"')
        params = (received, text_hex, sender, coding, udh)
        if self.kind == "sqlite":
            return self.sql(cols.format("CAST(? AS TEXT)"), (*params, decoded, "modem1"))[0][0]
        if self.kind == "postgres_sql_ascii":
            return self.sql(cols.format("convert_from(?::bytea, 'SQL_ASCII')"), (*params, decoded, "modem1"))[0][0]
        try:
            return self.sql(cols.format("convert_from(?::bytea, 'UTF8')"), (*params, decoded, "modem1"))[0][0]
        except psycopg.errors.CharacterNotInRepertoire:
            return self.sql(cols.format("?"), (*params, "", "modem1"))[0][0]

    def processed(self) -> dict[int, bool]:
        rows = self.sql(f'SELECT "ID", "Processed" FROM {self.table("inbox")} ORDER BY "ID"')
        return {i: p in (True, "true") for i, p in rows}

    def options(self, **extra: Any) -> dict:
        block = {"dsn": self.dsn, "multipart_timeout": 0.3}
        if self.schema:
            block["db_schema"] = self.schema
        block.update(extra)
        return block


@pytest.fixture(name="gammu_db", params=["sqlite", "postgres", "postgres_sql_ascii"])
def _gammu_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GammuDb]:
    if request.param == "sqlite":
        path = tmp_path / "smsd.db"
        conn = sqlite3.connect(path, isolation_level=None)
        conn.executescript(SQLITE_DDL)
        yield GammuDb("sqlite", f"sqlite:///{path}", conn)
        conn.close()
        return
    dsn = require_postgres()
    if request.param == "postgres_sql_ascii":
        yield from _sql_ascii_db(dsn)
        return
    schema = f"kanal_sms_{uuid.uuid4().hex[:10]}"
    conn = psycopg.connect(dsn, autocommit=True)
    conn.execute(f'CREATE SCHEMA "{schema}"')
    conn.execute(postgres_ddl(schema))
    try:
        yield GammuDb("postgres", dsn, conn, schema)
    finally:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        conn.close()


def _sql_ascii_db(dsn: str) -> Iterator[GammuDb]:
    """A throwaway SQL_ASCII database, as old Gammu installs created: the server stores
    whatever bytes it is given, and psycopg hands text columns back as bytes."""
    name = f"kanal_sms_ascii_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(dsn, autocommit=True)
    admin.execute(f"CREATE DATABASE {name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
    db_dsn = urlsplit(dsn)._replace(path=f"/{name}").geturl()
    conn = psycopg.connect(db_dsn, autocommit=True)
    conn.execute("SET client_encoding TO 'UTF8'")  # SMSD writes UTF-8; the server passes it through
    conn.execute(postgres_ddl())
    try:
        yield GammuDb("postgres_sql_ascii", db_dsn, conn)
    finally:
        conn.close()
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")  # the connector under test may still hold a session
        admin.close()


def sql_connector(db: GammuDb, **extra: Any):
    block = db.options(**extra.pop("block", {}))
    return make_connector(backend="gammu_sql", gammu_sql=block, **extra)


def concat_udh(ref: int, total: int, seq: int) -> str:
    return f"050003{ref:02X}{total:02X}{seq:02X}"


def test_unprocessed_rows_become_complaints_and_are_marked_processed(
    gammu_db: GammuDb, spool: Spool, tmp_path: Path
) -> None:
    a = gammu_db.insert("+6281200001111", "Trotoar rusak di Jl. Contoh")
    b = gammu_db.insert("081200002222", "Parkir liar 🚗 di bahu jalan", decoded=False)  # only hex Text
    gammu_db.sql(f"UPDATE {gammu_db.table('inbox')} SET \"Processed\" = 'true' WHERE \"ID\" = ?", (a,))
    c = gammu_db.insert("6281200003333", "Pohon tumbang", received="2026-11-27 11:00:00")
    connector = sql_connector(gammu_db)
    assert make_runner(connector, spool, tmp_path).poll_once() == 2

    taken = complaints(spool)
    assert [t["description"] for t in taken] == ["Parkir liar 🚗 di bahu jalan", "Pohon tumbang"]
    assert [t["reporter"]["phone"] for t in taken] == ["+6281200002222", "+6281200003333"]
    assert taken[1]["requested_datetime"] == "2026-11-27T11:00:00+07:00"
    assert taken[1]["provider_message_id"] == f"inbox:{c}@20261127T110000"
    assert gammu_db.processed() == {a: True, b: True, c: True}


def test_three_concatenated_ucs2_parts_out_of_order_become_one_complaint(
    gammu_db: GammuDb, spool: Spool, tmp_path: Path
) -> None:
    parts = ["Mohon perbaikan jalan ", "di Kelurahan Kebon Kacang, ", "banyak motor jatuh 😢🛵"]
    ids = [gammu_db.insert("081200004444", parts[i], udh=concat_udh(0x4A, 3, i + 1), decoded=False) for i in (1, 2, 0)]
    connector = sql_connector(gammu_db)
    make_runner(connector, spool, tmp_path).poll_once()

    [complaint] = complaints(spool)
    assert complaint["description"] == "".join(parts)
    assert complaint["flags"] == []
    assert all(gammu_db.processed()[i] for i in ids)


def test_missing_part_is_taken_alone_after_the_timeout(gammu_db: GammuDb, spool: Spool, tmp_path: Path) -> None:
    first = gammu_db.insert("081200005555", "Air PAM mati ", udh=concat_udh(7, 3, 1))
    third = gammu_db.insert("081200005555", "sejak kemarin.", udh=concat_udh(7, 3, 3))
    connector = sql_connector(gammu_db)
    runner = make_runner(connector, spool, tmp_path)
    assert runner.poll_once() == 0
    assert gammu_db.processed() == {first: False, third: False}
    time.sleep(0.35)
    assert runner.poll_once() == 2
    taken = complaints(spool)
    assert [t["description"] for t in taken] == ["Air PAM mati", "sejak kemarin."]
    assert all(t["flags"] == [INCOMPLETE] for t in taken)
    assert gammu_db.processed() == {first: True, third: True}


def test_crash_between_commit_and_marking_gives_no_second_complaint(
    gammu_db: GammuDb, spool: Spool, tmp_path: Path
) -> None:
    row = gammu_db.insert("081200006666", "Lampu merah mati di perempatan")
    inbox = gammu_db.table("inbox")
    if gammu_db.kind == "sqlite":
        gammu_db.sql(f"CREATE TRIGGER no_mark BEFORE UPDATE ON {inbox} BEGIN SELECT RAISE(ABORT, 'disk gone'); END")
        undo = "DROP TRIGGER no_mark"
    else:
        fn = f'"{gammu_db.schema}".no_mark' if gammu_db.schema else "no_mark"
        gammu_db.sql(
            f"CREATE FUNCTION {fn}() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk gone'; END $$ LANGUAGE plpgsql"
        )
        gammu_db.sql(f"CREATE TRIGGER no_mark BEFORE UPDATE ON {inbox} FOR EACH ROW EXECUTE FUNCTION {fn}()")
        undo = f"DROP TRIGGER no_mark ON {inbox}"
    make_runner(sql_connector(gammu_db), spool, tmp_path).poll_once()
    assert len(complaints(spool)) == 1
    assert gammu_db.processed() == {row: False}

    gammu_db.sql(undo)
    make_runner(sql_connector(gammu_db), spool, tmp_path).poll_once()
    assert len(complaints(spool)) == 1
    assert gammu_db.processed() == {row: True}
    [channel] = {r.channel for r in spool.pending(10)}
    status = spool.channel_status(channel)
    assert (status["accepted"], status["duplicates"]) == (1, 1)


def test_noise_is_dropped_and_an_undecodable_row_quarantined(gammu_db: GammuDb, spool: Spool, tmp_path: Path) -> None:
    gammu_db.insert("INDOSAT", "Paket nelpon murah")
    bad = gammu_db.insert("081200007777", "x", decoded=False)
    gammu_db.sql(f"UPDATE {gammu_db.table('inbox')} SET \"Text\" = 'D83D' WHERE \"ID\" = ?", (bad,))  # lone surrogate
    connector = sql_connector(gammu_db)
    make_runner(connector, spool, tmp_path).poll_once()

    assert complaints(spool) == []
    assert counters(spool, "sms-08111272206") == {"dropped.alphanumeric_sender": 1}
    [entry] = spool.quarantined()
    assert "UTF-16BE" in entry.error
    assert b"D83D" in entry.payload
    assert all(gammu_db.processed().values())


def test_acknowledgement_is_queued_as_an_outbox_row(gammu_db: GammuDb, spool: Spool, tmp_path: Path) -> None:
    gammu_db.insert("081200008888", "Got mampet")
    gammu_db.insert("081200008888", "Masih mampet", received="2026-11-27 10:25:00")
    connector = sql_connector(gammu_db, block={"sender_id": "modem1"}, ack={"enabled": True})
    make_runner(connector, spool, tmp_path).poll_once()
    assert send_acks(spool, connector) == 1

    outbox = gammu_db.table("outbox")
    rows = gammu_db.sql(f'SELECT "DestinationNumber", "TextDecoded", "CreatorID", "SenderID" FROM {outbox}')
    assert len(complaints(spool)) == 2
    assert len(rows) == 1, "one acknowledgement per sender within the window"
    number, text, creator, sender_id = rows[0]
    assert (number, creator, sender_id) == ("+6281200008888", "kanal", "modem1")
    assert "nomor KNL-" in text


def test_an_acknowledgement_the_gammu_outbox_refuses_is_retried(
    gammu_db: GammuDb, spool: Spool, tmp_path: Path
) -> None:
    outbox = gammu_db.table("outbox")
    if gammu_db.kind == "sqlite":
        gammu_db.sql(f"CREATE TRIGGER no_send BEFORE INSERT ON {outbox} BEGIN SELECT RAISE(ABORT, 'disk gone'); END")
        undo = "DROP TRIGGER no_send"
    else:
        fn = f'"{gammu_db.schema}".no_send' if gammu_db.schema else "no_send"
        gammu_db.sql(f"CREATE FUNCTION {fn}() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk gone'; END $$ "
                     "LANGUAGE plpgsql")
        gammu_db.sql(f"CREATE TRIGGER no_send BEFORE INSERT ON {outbox} FOR EACH ROW EXECUTE FUNCTION {fn}()")
        undo = f"DROP TRIGGER no_send ON {outbox}"
    gammu_db.insert("081200008989", "Sampah belum diangkut")
    connector = sql_connector(gammu_db, ack={"enabled": True})
    make_runner(connector, spool, tmp_path).poll_once()
    assert gammu_db.processed() == {1: True}, "the inbox row is marked although the ack is not out yet"

    sender = AckSender(spool, {connector.name: connector}, base_delay=0)
    assert sender.send_due() == 0
    [row] = ack_rows(spool)
    assert (row["state"], row["attempts"]) == ("pending", 1)
    assert "disk gone" in row["last_error"]
    gammu_db.sql(undo)
    assert sender.send_due() == 1
    sender.outbox.close()
    rows = gammu_db.sql(f'SELECT "DestinationNumber" FROM {outbox}')
    assert rows == [("+6281200008989",)]
    assert [r["state"] for r in ack_rows(spool)] == ["sent"]


def test_a_surrogate_pair_cut_between_two_parts_is_joined_and_the_batch_goes_on(
    gammu_db: GammuDb, spool: Spool, tmp_path: Path
) -> None:
    """gammu-smsd 1.42 encodes the UTF-16 of each part on its own: an emoji cut at the part
    boundary becomes two lone surrogates, i.e. TextDecoded bytes that are not UTF-8."""
    before = gammu_db.insert("081200001010", "Got mampet di Jl. Kenari")
    first, second = "Banjir lagi ", "🌊 tolong pompa"  # the wave's surrogate pair is split below
    units = (first + second).encode("utf-16-be")
    cut = len(first.encode("utf-16-be")) + 2
    halves = [units[:cut], units[cut:]]
    ids = [
        gammu_db.insert_raw("081200002020", half.hex().upper(), half.decode("utf-16-be", "surrogatepass")
                            .encode("utf-8", "surrogatepass"), udh=concat_udh(0x21, 2, seq + 1))
        for seq, half in enumerate(halves)
    ]
    after = gammu_db.insert("081200003030", "Lampu PJU mati", received="2026-11-27 10:30:00")
    connector = sql_connector(gammu_db)
    assert make_runner(connector, spool, tmp_path).poll_once() == 3

    assert [t["description"] for t in complaints(spool)] == [
        "Got mampet di Jl. Kenari", "Banjir lagi 🌊 tolong pompa", "Lampu PJU mati"]
    assert spool.quarantined() == []
    assert gammu_db.processed() == {before: True, ids[0]: True, ids[1]: True, after: True}


def test_a_row_that_cannot_be_read_is_quarantined_alone_with_its_bytes(
    gammu_db: GammuDb, spool: Spool, tmp_path: Path
) -> None:
    good = gammu_db.insert("081200004040", "Pohon tumbang menutup jalan")
    garbage = b"Parkir liar \xff\xfe di trotoar"
    bad = gammu_db.insert_raw("081200005050", "", garbage, coding="Unicode_Compression")  # no hex Text to fall back on
    later = gammu_db.insert("081200006060", "Air PAM keruh")
    connector = sql_connector(gammu_db)
    make_runner(connector, spool, tmp_path).poll_once()

    assert [t["description"] for t in complaints(spool)] == ["Pohon tumbang menutup jalan", "Air PAM keruh"]
    if gammu_db.kind == "postgres":  # a UTF-8 database refused the bytes; SMSD stored an empty text
        [entry] = spool.quarantined()
        assert "empty" in entry.error
    else:
        [entry] = spool.quarantined()
        assert "TextDecoded" in entry.error
        assert garbage.hex() in entry.payload.decode()
    assert gammu_db.processed() == {good: True, bad: True, later: True}


def test_parts_linked_by_smsd_are_not_doubled(gammu_db: GammuDb, spool: Spool, tmp_path: Path) -> None:
    """When SMSD links the parts itself, 1.42 writes the whole text in the first row's
    TextDecoded and leaves the others empty (smsd/services/sql.c, ``%T``); ``Text`` holds each part."""
    parts = ["Saluran air di gang kami ", "tersumbat sampah plastik."]
    whole = "".join(parts).encode()
    ids = [
        gammu_db.insert_raw("081200007070", encode_hex_ucs2(part), whole if seq == 0 else b"",
                            udh=concat_udh(0x33, 2, seq + 1))
        for seq, part in enumerate(parts)
    ]
    make_runner(sql_connector(gammu_db), spool, tmp_path).poll_once()

    assert [t["description"] for t in complaints(spool)] == ["".join(parts)]
    assert all(gammu_db.processed()[i] for i in ids)


def test_acknowledgements_without_an_outbox_table_stop_the_channel_at_start(
    gammu_db: GammuDb, spool: Spool, tmp_path: Path
) -> None:
    gammu_db.sql(f'DROP TABLE {gammu_db.table("outbox")}')
    gammu_db.insert("081200009999", "Lampu jalan mati")
    connector = make_connector(backend="gammu_sql", gammu_sql=gammu_db.options(), ack={"enabled": True},
                               open_now=False)
    runner = make_runner(connector, spool, tmp_path)
    thread = threading.Thread(target=runner.run)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while (spool.channel_status(runner.name) or {}).get("state") in (None, "starting"):
            assert time.monotonic() < deadline, "the channel never left 'starting'"
            time.sleep(0.02)
        state = spool.channel_status(runner.name)
    finally:
        runner.stop.set()
        thread.join(10)
    assert state["state"] == "misconfigured"
    assert "outbox" in state["last_error"] and "ack" in state["last_error"]
    assert complaints(spool) == [], "nothing is taken in while acknowledgements cannot be sent"
    assert not any(gammu_db.processed().values())
