"""Kannel with its own concatenation off: smsbox calls the get-url once per part of a
long SMS. The parts are held in the spool (2xx only once durable), joined by their
UDH reference, and taken alone, flagged incomplete, after ``multipart_timeout``;
a restart in between loses nothing. Real HTTP, real spool file."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from connectors.webhooks import WebhookApp, WebhookServer
from kanal.spool import Spool
from tests.core.broker_kit import wait_for
from tests.sms.kit import SECRET, complaints, make_connector, make_runner

SECRET_REF = "${KANAL_TEST_SMS_SECRET}"
CHANNEL = "sms-08111272206"
CITIZEN = "081200001111"
PART_1 = "Jalan di depan SDN 03 Kemang berlubang besar sekali, sudah dua minggu belum diperbaiki dan "
PART_2 = "kemarin ada pengendara motor jatuh. Mohon segera ditambal."


def part_query(sequence: int, text: str, reference: int = 0x2A, total: int = 2, sender: str = CITIZEN,
               kannel_id: str | None = None) -> str:
    """A get-url query of one part, the UDH as the raw bytes %u sends."""
    udh = "".join(f"%{b:02X}" for b in (5, 0, 3, reference, total, sequence))
    kannel_id = kannel_id or f"6b1f7c3e-0000-4000-8000-00000000{reference:02x}{sequence:02x}"
    return (f"token={quote(SECRET)}&from={sender}&to=08111272206&text={quote(text)}"
            f"&time={int(time.time()) - 5}&id={kannel_id}&coding=0&charset=UTF-8&udh={udh}")


class Gateway:
    """One Kanal process: a spool on ``path``, the Kannel channel, its webhook server
    and (``running``) the channel's runner thread, as ``kanal run`` starts them."""

    def __init__(self, path: Path, tmp_path: Path, running: bool = False, **kannel: object) -> None:
        self.spool = Spool(path)
        connector = make_connector(backend="kannel", kannel={"token": SECRET_REF, **kannel},
                                   ack={"enabled": True, "window_seconds": 0})
        self.runner = make_runner(connector, self.spool, tmp_path)
        app = WebhookApp()
        app.add_channel(self.runner, connector.webhook_routes())
        self.server = WebhookServer(app, port=0, threads=4)
        self.server.start()
        self.url = f"{self.server.url}/webhooks/{CHANNEL}/kannel"
        self.thread = None
        if running:
            self.thread = threading.Thread(target=self.runner.run, daemon=True)
            self.thread.start()

    def send(self, query: str) -> requests.Response:
        return requests.get(f"{self.url}?{query}", timeout=10)

    def close(self) -> None:
        self.runner.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.server.stop(timeout=5)
        self.spool.close()


@pytest.fixture(name="gateways")
def _gateways(tmp_path: Path) -> Iterator[list[Gateway]]:
    started: list[Gateway] = []
    yield started
    for gateway in started:
        if gateway.server is not None:
            gateway.close()


def start(gateways: list[Gateway], tmp_path: Path, **kwargs: object) -> Gateway:
    gateway = Gateway(tmp_path / "spool.db", tmp_path, **kwargs)
    gateways.append(gateway)
    return gateway


def stop(gateway: Gateway) -> None:
    gateway.close()
    gateway.server = None  # type: ignore[assignment]


def test_parts_posted_separately_are_joined_by_their_udh_reference(tmp_path, gateways) -> None:
    kanal = start(gateways, tmp_path)

    first = kanal.send(part_query(2, PART_2))  # parts may arrive in any order
    assert first.status_code == 200 and first.text == ""
    assert complaints(kanal.spool) == [], "a part alone is held, not taken"
    [held] = kanal.spool.held_ready(CHANNEL, timeout=0)
    assert [p.sequence for p in held.parts] == [2], "the 2xx came after the part was durable"

    last = kanal.send(part_query(1, PART_1))

    [complaint] = complaints(kanal.spool)
    assert complaint["description"] == (PART_1 + PART_2).strip()
    assert complaint["flags"] == []
    assert complaint["reporter"]["phone"] == "+6281200001111"
    assert "KNL-" in last.text, "the acknowledgement travels in the answer to the last part"
    assert kanal.spool.held_ready(CHANNEL, timeout=0) == []
    raw, meta = kanal.spool.raw(complaint["raw_ref"])
    assert meta["parts"] == 2 and SECRET.encode() not in raw


def test_a_part_delivered_twice_is_held_once_and_not_again_after_the_join(tmp_path, gateways) -> None:
    kanal = start(gateways, tmp_path)
    query_1 = part_query(1, PART_1)

    assert kanal.send(query_1).status_code == 200
    assert kanal.send(query_1).status_code == 200  # Kannel retried: its answer was lost
    assert kanal.send(part_query(2, PART_2)).status_code == 200
    assert kanal.send(query_1).status_code == 200  # and once more, after the join

    assert len(complaints(kanal.spool)) == 1
    assert kanal.spool.held_ready(CHANNEL, timeout=0) == [], "nothing is left waiting to be taken alone"


def test_two_messages_of_one_sender_with_other_references_stay_apart(tmp_path, gateways) -> None:
    kanal = start(gateways, tmp_path)
    for query in (part_query(1, "Pesan A1 ", reference=7), part_query(1, "Pesan B1 ", reference=8),
                  part_query(2, "Pesan B2", reference=8), part_query(2, "Pesan A2", reference=7)):
        assert kanal.send(query).status_code == 200

    assert sorted(c["description"] for c in complaints(kanal.spool)) == ["Pesan A1 Pesan A2", "Pesan B1 Pesan B2"]


def test_a_held_part_survives_a_restart_and_is_joined_with_the_rest(tmp_path, gateways) -> None:
    before = start(gateways, tmp_path)
    assert before.send(part_query(1, PART_1)).status_code == 200
    stop(before)

    after = start(gateways, tmp_path)
    assert after.send(part_query(2, PART_2)).status_code == 200

    [complaint] = complaints(after.spool)
    assert complaint["description"] == (PART_1 + PART_2).strip()


def test_after_the_timeout_each_part_is_taken_alone_flagged_incomplete(tmp_path, gateways) -> None:
    kanal = start(gateways, tmp_path, running=True, multipart_timeout=0.3)
    assert kanal.send(part_query(1, PART_1, total=3)).status_code == 200
    assert kanal.send(part_query(3, "Terima kasih.", total=3)).status_code == 200

    wait_for(lambda: len(complaints(kanal.spool)) == 2, timeout=10, what="the parts taken alone")
    taken = sorted(complaints(kanal.spool), key=lambda c: c["description"])
    assert [c["description"] for c in taken] == [PART_1.strip(), "Terima kasih."]
    assert all(c["flags"] == ["incomplete"] for c in taken)
    assert kanal.spool.held_ready(CHANNEL, timeout=0) == []


def test_a_part_held_before_a_restart_is_taken_alone_after_the_timeout(tmp_path, gateways) -> None:
    before = start(gateways, tmp_path, multipart_timeout=0.3)
    assert before.send(part_query(1, PART_1)).status_code == 200
    stop(before)

    after = start(gateways, tmp_path, running=True, multipart_timeout=0.3)

    wait_for(lambda: len(complaints(after.spool)) == 1, timeout=10, what="the part taken alone")
    [complaint] = complaints(after.spool)
    assert complaint["flags"] == ["incomplete"]
    assert complaint["description"] == PART_1.strip()
