"""The embedded default's router loop stores the integrity copy too (issue 12, item 6)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from config.models import TopologyConfig
from connectors.base import Outcome, RawMessage
from kanal.local_router import LocalRouterLoop
from kanal.spool import Spool
from normalizer.complaint import Reporter
from normalizer.wire import encode_complaint
from router.decision import integrity_copy_id
from router.engine import Router
from tests.router.helpers import make_complaint


def test_the_embedded_router_stores_the_integrity_copy_under_its_own_id(tmp_path, rules):
    spool = Spool(tmp_path / "spool.db")
    reporter = Reporter(name="Budi Contoh", phone="+6281200001234")
    complaint = make_complaint("sampah numpuk di gang, petugasnya minta uang rokok, pungli", reporter=reporter)
    raw = RawMessage(complaint.provider_message_id, b"raw", datetime.now(UTC))
    spool.commit("sms-test", "sms", [Outcome(raw, "accepted", complaint.model_copy(update={"raw_ref": raw.raw_ref}),
                                             encode_complaint(complaint))])
    topology = TopologyConfig()
    loop = LocalRouterLoop(spool, Router(rules, topology), topology.triage_queue)
    assert loop.drain_once() == 1 and spool.depth() == 0
    stored = {cid: (agency, queue, json.loads(body)) for cid, agency, queue, body, _ in spool.routed(10)}
    assert set(stored) == {str(complaint.id), integrity_copy_id(str(complaint.id))}
    agency, _, main = stored[str(complaint.id)]
    assert agency != "inspektorat" and main["routing"]["integrity"] is True
    agency, queue, copy = stored[integrity_copy_id(str(complaint.id))]
    assert (agency, queue, copy["routing"]["copy_of"]) == ("inspektorat", topology.confidential_queue,
                                                           str(complaint.id))
    assert copy["reporter"]["phone"] is None and copy["reporter"]["name"] is None
    spool.close()
