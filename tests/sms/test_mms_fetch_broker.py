"""Twilio MMS photos through the real forwarder and RabbitMQ: a complaint whose photos
are being fetched is held, then published once, complete; a hold that ends while a
forwarder session is open (fetched, or its time over) is published in that same
session (all data made up)."""

from __future__ import annotations

import hashlib

import pytest

from config.models import TopologyConfig
from kanal.forwarder import Forwarder
from kanal.spool import Spool
from tests.core.broker_kit import broker_config, queue_depth, read_queue, running, wait_for
from tests.core.fake_media import Answer, FakeMedia, jpeg
from tests.sms.mms_kit import MEDIA, send_mms

pytestmark = pytest.mark.rabbitmq


def _by_sid(messages: list) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for message in messages:
        out.setdefault(message.json["provider_message_id"].removeprefix("twilio:"), []).append(message.json)
    return out


@pytest.mark.parametrize("release", ["fetched", "hold_over"])
def test_a_held_complaint_is_published_once_in_the_same_session_when_its_hold_ends(
    mms: dict, media: FakeMedia, amqp_url: str, topology: TopologyConfig, release: str
) -> None:
    spool: Spool = mms["spool"]
    photo = jpeg(color="green")
    media.answers[f"{MEDIA}/held-{release}"] = Answer(photo, headers={"Content-Type": "image/jpeg"})
    held, later = f"SM{release:0<32}"[:34], f"SM{'later' + release:0<32}"[:34]
    send_mms(mms["url"], held, [(media.url(f"{MEDIA}/held-{release}"), "image/jpeg")], body="Foto jalan rusak")
    send_mms(mms["url"], later, [], body="Lampu jalan mati")

    forwarder = Forwarder(spool, broker_config(amqp_url, topology))
    with running(forwarder):
        # The later complaint goes out; the session has read past the held one.
        wait_for(lambda: spool.depth() == 1, what="the later complaint confirmed")
        wait_for(lambda: queue_depth(amqp_url, topology.intake_queue) == 1, what="the later complaint")
        if release == "fetched":
            assert mms["fetcher"].fetch_due() == 1
        else:
            spool.fetch_hold_seconds = 0.0  # the hold is over and no fetcher ran (dead fetcher, dead provider)
        wait_for(lambda: spool.depth() == 0, what="the released complaint to be published")
        assert forwarder.stats.sessions == 1, "published in the session that had read past it"
    got = _by_sid(read_queue(amqp_url, topology.intake_queue))
    assert sorted(got) == sorted([held, later])
    assert all(len(copies) == 1 for copies in got.values()), "each complaint published once"
    [attachment] = got[held][0]["attachments"]
    if release == "fetched":
        digest = hashlib.sha256(photo).hexdigest()
        assert (attachment["sha256"], attachment["stored_ref"]) == (digest, f"attachment:sha256:{digest}")
        assert attachment["omitted_reason"] is None
        assert mms["store"].get(digest) == photo
    else:
        assert attachment["stored_ref"] is None
        assert attachment["omitted_reason"] == "kept_by_reference"
