"""No silent death for the forwarder's helper thread either.

``kanal-forwarder-marks`` removes the rows RabbitMQ confirmed from the spool's
outbox. It is started by the forwarder, through the supervisor of `kanal run`. The
same proof as test_supervision_more_threads.py: a real `kanal run` with a bug
injected *in the child process* takes a complaint in and forwards it, then the test
says "now" (the file ``$KANAL_TEST_FAULT``) and the next removal raises. The process
must exit 1 within a bounded time, log that thread (not the forwarder, which gives
up after it) with the traceback, show as failed in `kanal status`, and keep the
complaint: on the intake queue, and still in the outbox to be published again after
the restart. Were the thread started without the supervisor, the forwarder's own
death would be the first and only one reported, and the test would fail on the name.

The e-mail channel's folder watchers are covered in tests/email/test_watch_failures.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from config.models import TopologyConfig
from tests.core.broker_kit import documented_broker, listen_port, read_queue, wait_for
from tests.core.test_supervision import _config, _env, _post, _status, _wait_healthy
from tests.core.test_supervision_threads import _assert_failed_with, _kept, _start

#: A bug in removing confirmed rows from the outbox (not a database error, which is retried).
MARKS_FAULT = """
from kanal.spool import Spool
mark_forwarded = Spool.mark_forwarded
def faulty_mark_forwarded(self, *args, **kwargs):
    if os.path.exists(os.environ["KANAL_TEST_FAULT"]):
        raise RuntimeError("injected fault: a bug in removing confirmed rows")
    return mark_forwarded(self, *args, **kwargs)
Spool.mark_forwarded = faulty_mark_forwarded
"""


@pytest.mark.rabbitmq
def test_a_confirmed_rows_remover_that_dies_stops_kanal_run_with_exit_1_and_loses_nothing(
    tmp_path: Path, amqp_url: str, topology: TopologyConfig
) -> None:
    port = listen_port()
    config = _config(tmp_path, port, {**documented_broker(amqp_url), "topology": topology.model_dump()})
    process, log = _start(tmp_path, config, MARKS_FAULT)
    try:
        _wait_healthy(port, process)
        first = _post(port, "BK-MK-0001")
        assert first.status_code == 202, first.text
        wait_for(lambda: _status(config, _env())[1]["spool_depth"] == 0, timeout=30,
                 what="the first complaint to be forwarded and removed from the outbox")
        (tmp_path / "fault-now").touch()
        second = _post(port, "BK-MK-0002")
        assert second.status_code == 202, second.text
        _assert_failed_with(process, log, config, "kanal-forwarder-marks")
    finally:
        if process.poll() is None:
            process.kill()
    first_id, second_id = first.json()["complaint_id"], second.json()["complaint_id"]
    assert _kept(config) == {second_id: "outbox"}, "confirmed but not removed: published again after the restart"
    queued = [m.properties.message_id for m in read_queue(amqp_url, topology.intake_queue, settle=0.2)]
    assert queued == [first_id, second_id], "both complaints reached RabbitMQ"
