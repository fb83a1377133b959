"""A walk-in complaint that names no place gets the area of the desk that took it (issue 12,
item 5): the channel's location fields first, then the text, then the desk. The complaint
comes from the real walk-in connector and is routed by the real engine, with and without
the learned model."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest
import structlog

from config.models import TopologyConfig
from connectors.base import ChannelContext, RawMessage
from connectors.walkin.config import DESK_AREA_FLAG as WALKIN_FLAG
from connectors.walkin.config import WalkInOptions
from connectors.walkin.connector import WalkInConnector
from router.engine import Router, load_router_model
from router.learn.default import DEFAULT_MODEL_PATH
from router.location import DESK_AREA_FLAG

HASH = "$argon2id$v=19$m=65536,t=3,p=4$bWFkZS11cA$bWFkZS11cC1oYXNoLW5vdC1yZWFs"
CIDENG, GAMBIR_KEC = "31.71.01.1002", "31.71.01"
_refs = itertools.count(1)


@pytest.fixture(scope="module")
def walkin() -> WalkInConnector:
    options = WalkInOptions(desk="Loket Pengaduan Kec. Gambir", area=GAMBIR_KEC, desks=[
        {"id": "kel-cideng", "name": "Kelurahan Cideng", "kelurahan": CIDENG, "area": CIDENG, "password_hash": HASH},
        {"id": "balaikota", "name": "Balai Kota", "kelurahan": "31.71.01.1001", "password_hash": HASH},
    ])
    context = ChannelContext("walkin-desks", "walkin", 1.0, 1_000_000, 5_000_000, structlog.get_logger())
    return WalkInConnector(context, options)


@pytest.fixture(scope="module", params=["rules", "model"])
def router(request, rules) -> Router:
    model = load_router_model(DEFAULT_MODEL_PATH) if request.param == "model" else None
    return Router(rules, TopologyConfig(), model=model)


def desk_complaint(walkin: WalkInConnector, text: str, desk: str | None = "kel-cideng", **fields):
    payload = {"id": f"ref-{next(_refs)}", "description": text, **fields}
    if desk:
        payload["desk"] = desk
    raw = RawMessage(f"desk:{desk}", json.dumps(payload).encode(), datetime(2026, 3, 2, 2, 0, tzinfo=UTC))
    return walkin.normalise(raw)


def location(router: Router, complaint) -> dict:
    return json.loads(router.route(complaint).body)["routing"]["location"]


def test_the_flag_is_one_contract():
    assert WALKIN_FLAG == DESK_AREA_FLAG  # two layers that do not import each other


def test_a_complaint_naming_no_place_gets_the_desk_kelurahan(walkin, router):
    c = desk_complaint(walkin, "sampah numpuk udah seminggu ga diangkut, bau bgt tolong dong")
    assert c.flags == (f"{DESK_AREA_FLAG}{CIDENG}",)
    loc = location(router, c)
    assert (loc["method"], loc["level"], loc["kelurahan"], loc["kelurahan_code"]) == (
        "desk", "kelurahan", "Cideng", CIDENG)
    assert loc["kota_code"] == "31.71" and loc["note"] == "area of the desk Kelurahan Cideng"
    assert router.route(c).routing_key.endswith(".3171")  # the Suku Dinas of Jakarta Pusat can bind it


def test_the_channel_desk_gives_its_kecamatan(walkin, router):
    loc = location(router, desk_complaint(walkin, "lampu jalan mati semua, gelap banget kalo malem", desk=None))
    assert (loc["method"], loc["level"], loc["kelurahan"], loc["kecamatan"]) == ("desk", "kecamatan", None, "Gambir")


def test_the_text_comes_before_the_desk(walkin, router):
    loc = location(router, desk_complaint(walkin, "got mampet di kel. cipete utara, kby baru, air luber ke jalan"))
    assert (loc["method"], loc["kelurahan"]) == ("text", "Cipete Utara")
    kota = location(router, desk_complaint(walkin, "pohon tumbang di jaksel nutup jalan"))
    assert (kota["method"], kota["level"], kota["kota_code"]) == ("text", "kota", "31.74")


def test_the_location_fields_come_before_the_text_and_the_desk(walkin, router):
    c = desk_complaint(walkin, "banjir di kel. cipete utara", location={
        "kelurahan_code": "31.74.02.1001", "kelurahan": "Setia Budi"})
    loc = location(router, c)
    assert (loc["method"], loc["kelurahan"]) == ("place", "Setia Budi")


def test_a_desk_serving_all_jakarta_gives_nothing(walkin, router):
    c = desk_complaint(walkin, "pelayanan lambat sekali, antri dari pagi", desk="balaikota")
    assert c.flags == ()
    assert location(router, c)["method"] == "none"


def test_an_unknown_or_kota_code_in_the_flag_is_ignored(walkin, router):
    c = desk_complaint(walkin, "sampah numpuk di pinggir jalan")
    for flag in ("desk_area:31.99.99.9999", "desk_area:31.71", "desk_area:"):
        assert location(router, c.model_copy(update={"flags": (flag,)}))["method"] == "none"
