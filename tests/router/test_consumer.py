"""The router against the real RabbitMQ and PostgreSQL: every agency reached,
triage, the confidential path, duplicates, poison messages, competing replicas."""

from __future__ import annotations

import json
import uuid

import pika
import pytest
from structlog.testing import capture_logs

from normalizer.complaint import Reporter
from router.decision import integrity_copy_id
from tests.router.conftest import agency_queue_names, wait_for
from tests.router.helpers import AGENCY_SAMPLES, make_complaint, publish_raw

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]


def _all_routed(broker, queues: dict[str, str]) -> dict[str, list[dict]]:
    out = {}
    for code, queue in queues.items():
        out[code] = [json.loads(body) for _, body in broker.drain(queue)]
    out["confidential"] = [json.loads(body) for _, body in broker.drain(broker.topology.confidential_queue)]
    return out


def _total(broker, queues) -> int:
    return sum(broker.depth(q) for q in queues.values()) + broker.depth(broker.topology.confidential_queue)


class TestRoutingOnRabbitMQ:
    def test_every_agency_is_reached_and_intake_is_empty(self, broker, start_router, rules):
        queues = agency_queue_names(broker.topology, rules)
        complaints = {agency: make_complaint(text) for agency, text in AGENCY_SAMPLES.items()}
        complaints["triage"] = make_complaint("Selamat pagi admin, semoga sehat selalu ya")
        start_router()
        for complaint in complaints.values():
            broker.publish(complaint)
        assert wait_for(lambda: _total(broker, queues) == len(complaints) + 1)  # + the integrity copy
        routed = _all_routed(broker, queues)
        pungli = complaints.pop("inspektorat")
        (copy,) = routed["confidential"]
        assert (copy["id"], copy["routing"]["integrity"], copy["reporter"]["phone"]) == (str(pungli.id), True, None)
        routed["dukcapil"] = [m for m in routed["dukcapil"] if m["id"] != str(pungli.id)]  # "surat pindah"
        for agency, complaint in complaints.items():
            where = agency
            ids = [m["id"] for m in routed[where]]
            assert ids == [str(complaint.id)], f"{agency}: {ids}"
            message = routed[where][0]
            assert message["routing"]["agency_code"] == agency
            assert message["description"] == complaint.description
        assert broker.depth(broker.topology.intake_queue) == 0

    def test_routed_message_properties(self, broker, start_router, rules):
        queues = agency_queue_names(broker.topology, rules)
        complaint = make_complaint("pohon tumbang di jl. cipete raya, kel. cipete utara, nutup jalan")
        start_router()
        broker.publish(complaint)
        assert wait_for(lambda: broker.depth(queues["distamhut"]) == 1)
        props, body = broker.drain(queues["distamhut"])[0]
        assert props.message_id == str(complaint.id)
        assert props.priority == 8
        assert props.delivery_mode == 2
        assert props.headers["kanal_agency"] == "distamhut"
        routing = json.loads(body)["routing"]
        assert routing["routing_key"] == "agency.distamhut.high.3174"
        assert routing["location"]["kelurahan_code"] == "31.74.07.1010"
        assert routing["coordinate_by"] == "2026-03-02T03:00:00Z"

    def test_confidential_complaints_reach_only_the_confidential_queue(self, broker, start_router, rules):
        queues = agency_queue_names(broker.topology, rules)
        secret_phone = "+6281200009999"
        reporter = Reporter(name="Pelapor Rahasia", phone=secret_phone, email="pelapor@example.org")
        pungli = make_complaint(AGENCY_SAMPLES["inspektorat"], reporter=reporter)
        via_inspektorat = make_complaint("jalan rusak di depan kantor wali kota, dibiarkan",
                                         channel_type="sms", channel_name="sms-inspektorat", reporter=reporter)
        flagged = make_complaint("sampah numpuk di gang", reporter=Reporter(phone=secret_phone, confidential=True))
        with capture_logs() as logs:
            start_router()
            for c in (pungli, via_inspektorat, flagged):
                broker.publish(c)
            assert wait_for(lambda: broker.depth(broker.topology.confidential_queue) == 3)
        logged = json.dumps(logs, default=str)
        assert "complaint routed" in logged
        assert secret_phone not in logged and "Pelapor" not in logged and "pelapor@" not in logged
        assert "500rb" not in logged  # nor the text
        routed = _all_routed(broker, queues)
        assert {m["id"] for m in routed["confidential"]} == {str(pungli.id), str(via_inspektorat.id), str(flagged.id)}
        copies = [m for m in routed["confidential"] if m["routing"].get("copy_of")]
        assert [m["id"] for m in copies] == [str(pungli.id)]  # issue 12 item 6: a copy without the reporter
        assert copies[0]["routing"]["copy_of"] == str(pungli.id)
        assert copies[0]["reporter"]["phone"] is None and copies[0]["reporter"]["name"] is None
        assert all(m["reporter"]["phone"] == secret_phone for m in routed["confidential"] if m not in copies)
        others = [m for code, ms in routed.items() if code != "confidential" for m in ms]
        assert [(m["id"], m["routing"]["integrity"]) for m in others] == [(str(pungli.id), True)]
        assert {m["routing"]["agency_code"] for m in routed["confidential"] if m not in copies} == {
            "inspektorat", "kelurahan"}

    def test_integrity_copy_reaches_the_inspektorat_without_the_reporter(self, broker, start_router, rules):
        queues = agency_queue_names(broker.topology, rules)
        reporter = Reporter(name="Siti Contoh", phone="+6281200007777", email="siti@example.org",
                            handle="@siticontoh")
        text = ("sampah numpuk di gang 3 minggu, petugasnya minta uang rokok dulu baru mau angkut, pungli. "
                "hubungi sy 081200007777 atau siti@example.org")
        complaint = make_complaint(text, reporter=reporter)
        start_router()
        broker.publish(complaint)
        assert wait_for(lambda: _total(broker, queues) == 2)
        messages = {q: broker.drain(q) for q in [*queues.values(), broker.topology.confidential_queue]}
        (props, body), = messages.pop(broker.topology.confidential_queue)
        (agency_props, agency_body), = [m for ms in messages.values() for m in ms]
        assert agency_props.message_id == str(complaint.id)
        assert json.loads(agency_body)["routing"]["integrity"] is True
        assert props.message_id not in (None, str(complaint.id))  # one message id per message
        assert props.headers["cloudEvents_id"] == props.message_id
        assert props.headers["kanal_copy_of"] == str(complaint.id)
        copy = json.loads(body)
        assert copy["routing"]["copy_of"] == copy["id"] == str(complaint.id)
        assert copy["routing"]["confidential"] is True and copy["routing"]["integrity"] is True
        raw = body.decode()
        for secret in ("Siti", "7777", "siti@", "@siticontoh"):
            assert secret not in raw, secret
        assert "pungli" in copy["description"]  # what the Inspektorat must read stays

    def test_a_complaint_another_consumer_held_is_routed_flagged_as_a_possible_repeat(
            self, broker, start_router, rules, amqp_url):
        queues = agency_queue_names(broker.topology, rules)
        complaint = make_complaint(AGENCY_SAMPLES["dishub"])
        broker.publish(complaint)
        holder = pika.BlockingConnection(pika.URLParameters(amqp_url))
        method, _, _ = holder.channel().basic_get(broker.topology.intake_queue, auto_ack=False)
        assert method is not None
        holder.close()  # gone without an ack: the broker delivers it again, marked redelivered
        consumer = start_router()
        assert wait_for(lambda: consumer.stats.routed == 1)
        [(props, _)] = broker.drain(queues["dishub"])
        assert props.message_id == str(complaint.id)
        assert props.headers["kanal_redelivered"] is True
        assert consumer.stats.redelivered == 1
        broker.publish(make_complaint(AGENCY_SAMPLES["dishub"] + " lagi"))
        assert wait_for(lambda: consumer.stats.routed == 2)
        [(props, _)] = broker.drain(queues["dishub"])
        assert "kanal_redelivered" not in (props.headers or {}), "a first delivery is not flagged"

    def test_same_complaint_twice_is_routed_once(self, broker, start_router, rules):
        queues = agency_queue_names(broker.topology, rules)
        complaint = make_complaint(AGENCY_SAMPLES["dishub"])
        consumer = start_router()
        broker.publish(complaint)
        broker.publish(complaint)
        assert wait_for(lambda: consumer.stats.duplicates == 1 and consumer.stats.routed == 1)
        assert broker.depth(queues["dishub"]) == 1
        assert broker.depth(broker.topology.intake_queue) == 0

    def test_poison_message_is_dead_lettered_with_reason_after_delivery_limit(self, broker, start_router):
        consumer = start_router()
        mid = str(uuid.uuid4())
        publish_raw(broker.channel, broker.topology.intake_exchange, broker.topology.intake_routing_key,
                    b'{"id": "not-a-uuid", "description": "jalan rusak"}', mid)
        good = make_complaint(AGENCY_SAMPLES["sda"])
        broker.publish(good)
        dlq = broker.topology.dead_letter_queue
        assert wait_for(lambda: broker.depth(dlq) == 1)
        props, body = broker.drain(dlq)[0]
        assert props.message_id == mid
        assert props.headers["kanal_dead_reason"] == "poison"
        assert "not a valid complaint" in props.headers["kanal_error"]
        assert "id" in props.headers["kanal_error"]
        assert props.headers["kanal_deliveries"] == broker.topology.delivery_limit
        assert body.startswith(b'{"id": "not-a-uuid"')
        assert consumer.stats.requeued == broker.topology.delivery_limit - 1
        assert wait_for(lambda: consumer.stats.routed == 1)
        assert broker.depth(broker.topology.intake_queue) == 0

    def test_unroutable_routed_message_is_retried_then_dead_lettered_never_dropped(self, broker, start_router,
                                                                                   rules):
        """A routed message no queue takes (its binding was removed) comes back as basic.return
        inside the commit: its intake message is retried, then dead-lettered with the reason,
        nothing reaches any agency queue, and its id is not remembered as routed."""
        queues = agency_queue_names(broker.topology, rules)
        consumer = start_router()
        broker.channel.queue_unbind(queues["dishub"], broker.topology.routed_exchange, routing_key="agency.dishub.#")
        lost = make_complaint(AGENCY_SAMPLES["dishub"])
        fine = make_complaint(AGENCY_SAMPLES["sda"])
        broker.publish(lost)
        broker.publish(fine)
        dlq = broker.topology.dead_letter_queue
        assert wait_for(lambda: broker.depth(dlq) == 1 and consumer.stats.routed == 1)
        props, body = broker.drain(dlq)[0]
        assert props.message_id == str(lost.id)
        assert props.headers["kanal_dead_reason"] == "unroutable"
        assert "agency.dishub." in props.headers["kanal_error"]
        assert "NO_ROUTE" in props.headers["kanal_error"]
        assert props.headers["kanal_deliveries"] == broker.topology.delivery_limit
        assert json.loads(body)["id"] == str(lost.id)  # the intake body, ready to replay
        assert consumer.stats.requeued == broker.topology.delivery_limit - 1
        assert broker.depth(broker.topology.intake_queue) == 0
        routed = _all_routed(broker, queues)
        assert [m["id"] for ms in routed.values() for m in ms] == [str(fine.id)]
        assert not consumer.router.dedup.was_routed(str(lost.id))
        assert consumer.router.dedup.was_routed(str(fine.id))

    def test_unroutable_integrity_copy_is_dead_lettered_and_its_complaint_routed_once(self, broker, start_router,
                                                                                      rules):
        """An integrity copy no queue takes (the confidential binding was removed) comes back as
        basic.return: the copy goes to the dead-letter exchange with the reason, the complaint
        itself stays routed once (no retry that would send the agency a second message)."""
        queues = agency_queue_names(broker.topology, rules)
        consumer = start_router()
        broker.channel.queue_unbind(broker.topology.confidential_queue, broker.topology.routed_exchange,
                                    routing_key="confidential.#")
        pungli = make_complaint("sampah numpuk di gang, petugasnya minta uang rokok, pungli")
        broker.publish(pungli)
        dlq = broker.topology.dead_letter_queue
        assert wait_for(lambda: broker.depth(dlq) == 1 and consumer.stats.routed == 1)
        props, body = broker.drain(dlq)[0]
        assert props.message_id == integrity_copy_id(str(pungli.id))
        assert props.headers["kanal_dead_reason"] == "unroutable"
        assert props.headers["kanal_copy_of"] == str(pungli.id)
        assert "confidential.inspektorat." in props.headers["kanal_error"]
        assert json.loads(body)["routing"]["copy_of"] == str(pungli.id)
        routed = _all_routed(broker, queues)
        assert [m["id"] for ms in routed.values() for m in ms] == [str(pungli.id)]
        assert consumer.router.dedup.was_routed(str(pungli.id))
        assert consumer.stats.requeued == 0 and broker.depth(broker.topology.intake_queue) == 0

    def test_two_replicas_route_each_complaint_once(self, broker, start_router, rules):
        queues = agency_queue_names(broker.topology, rules)
        texts = list(AGENCY_SAMPLES.values())
        complaints = [make_complaint(f"{texts[i % len(texts)]} (laporan ke-{i})") for i in range(120)]
        a, b = start_router(), start_router()
        for c in complaints:
            broker.publish(c)
        for c in complaints[:40]:  # the forwarder sent these twice
            broker.publish(c)
        assert wait_for(lambda: a.stats.routed + b.stats.routed + a.stats.duplicates + b.stats.duplicates == 160,
                        timeout=60)
        routed = _all_routed(broker, queues)
        ids = [m["id"] for ms in routed.values() for m in ms if not m["routing"].get("copy_of")]
        assert sorted(ids) == sorted(str(c.id) for c in complaints)
        assert a.stats.routed > 0 and b.stats.routed > 0
        assert a.stats.duplicates + b.stats.duplicates == 40


class TestRunRouter:
    def test_run_router_from_a_config_file(self, broker, rules, postgres_dsn, dedup_table, tmp_path, monkeypatch):
        """``kanal router``'s entry point: config file in, complaints routed, stops on the event."""
        import threading

        import yaml
        from pydantic import BaseModel, ConfigDict

        from config.loader import load_config
        from router.dedup import PostgresDedupStore
        from router.service import run_router

        class AnyOptions(BaseModel):
            model_config = ConfigDict(extra="allow")

        monkeypatch.setenv("KANAL_TEST_ROUTER_DSN", postgres_dsn)
        path = tmp_path / "kanal.yaml"
        path.write_text(yaml.safe_dump({
            "spool": {"path": str(tmp_path / "spool.db")},
            "broker": {"url": "amqp://guest@127.0.0.1:5672/%2F", "password": "${KANAL_TEST_ROUTER_PASSWORD}",
                       "topology": broker.topology.model_dump()},
            "router": {"dedup_dsn": "${KANAL_TEST_ROUTER_DSN}", "prefetch": 10,
                       "options": {"coordination_hours": 3}},
        }))
        monkeypatch.setenv("KANAL_TEST_ROUTER_PASSWORD", "guest")
        loaded = load_config(path, lambda _t: AnyOptions)
        stop = threading.Event()
        complaint = make_complaint(AGENCY_SAMPLES["gulkarmat"])
        queues = agency_queue_names(broker.topology, rules)
        thread = threading.Thread(target=run_router, args=(loaded, stop), daemon=True)
        thread.start()
        broker.publish(complaint)
        # Up to a minute: the process loads the default model and starts its feedback thread first.
        assert wait_for(lambda: _total(broker, queues) == 1 if _declared(broker, queues) else False, timeout=60)
        message = json.loads(broker.drain(queues["gulkarmat"])[0][1])
        assert message["routing"]["coordinate_by"] == "2026-03-02T03:00:00Z"
        stop.set()
        thread.join(10)
        assert not thread.is_alive()
        # the default dedup table of the config's DSN got the id; clean it up
        store = PostgresDedupStore(postgres_dsn)
        assert store.was_routed(str(complaint.id))
        with store._conn.transaction():
            store._conn.execute(f"DELETE FROM {store.table} WHERE id = %s", (str(complaint.id),))
            store._conn.execute(f"DELETE FROM {store.table}_recent WHERE id = %s", (str(complaint.id),))
        store.close()


def _declared(broker, queues) -> bool:
    import pika

    conn = pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/%2F"))
    try:
        conn.channel().queue_declare(broker.topology.confidential_queue, passive=True)
        return True
    except pika.exceptions.ChannelClosedByBroker:
        return False
    finally:
        conn.close()


class TestReconnection:
    def test_router_recovers_when_its_database_connection_dies(self, broker, start_router, rules, postgres_dsn):
        import psycopg

        queues = agency_queue_names(broker.topology, rules)
        consumer = start_router()
        broker.publish(make_complaint(AGENCY_SAMPLES["dishub"]))
        assert wait_for(lambda: consumer.stats.routed == 1)
        pid = consumer.router.dedup._conn.info.backend_pid
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        later = [make_complaint(AGENCY_SAMPLES["sda"] + f" #{i}") for i in range(5)]
        for c in later:
            broker.publish(c)
        assert wait_for(lambda: consumer.stats.routed == 6, timeout=30)
        routed = _all_routed(broker, queues)
        ids = sorted(m["id"] for ms in routed.values() for m in ms)
        assert ids == sorted([routed["dishub"][0]["id"], *(str(c.id) for c in later)])
        assert consumer.stats.duplicates == 0
        assert broker.depth(broker.topology.intake_queue) == 0


class TestBatchAck:
    def test_a_batch_of_duplicates_only_is_acked_though_it_publishes_nothing(
            self, broker, amqp_url, topology, rules, postgres_dsn, dedup_table):
        """Such a batch skips the publish commit; its acks must still be committed."""
        import threading

        from router.consumer import RouterConsumer
        from router.dedup import PostgresDedupStore
        from router.engine import Router, RouterOptions

        complaint = make_complaint(AGENCY_SAMPLES["sda"])
        router = Router(rules, topology, RouterOptions(), lambda: PostgresDedupStore(postgres_dsn, table=dedup_table))
        consumer = RouterConsumer(amqp_url, topology, router, prefetch=20)
        stop = threading.Event()
        thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
        thread.start()
        assert consumer.ready.wait(20)
        broker.publish(complaint)
        assert wait_for(lambda: consumer.stats.routed == 1)
        for _ in range(3):
            broker.publish(complaint)
        assert wait_for(lambda: consumer.stats.duplicates == 3), consumer.stats
        stop.set()
        thread.join(15)
        assert not thread.is_alive()
        assert broker.depth(topology.intake_queue) == 0, "an unacked duplicate came back"
        assert broker.depth(agency_queue_names(topology, rules)["sda"]) == 1

    def test_a_mixed_batch_is_acked_whole_and_nothing_comes_back_after_a_restart(
            self, broker, amqp_url, topology, rules, postgres_dsn, dedup_table):
        """Routed, duplicate and poison deliveries share batches (one ``basic.ack multiple``
        each): every one is settled, and once the router's connection is gone nothing returns
        to the intake queue (an unacked delivery would)."""
        import threading

        from router.consumer import RouterConsumer
        from router.dedup import PostgresDedupStore
        from router.engine import Router, RouterOptions

        samples = list(AGENCY_SAMPLES.values())
        complaints = [make_complaint(f"{samples[i % len(samples)]} (no. {i})") for i in range(40)]
        for i, complaint in enumerate(complaints):
            broker.publish(complaint)
            if i % 4 == 0:
                broker.publish(complaint)  # ten resends, in the same or the next batch
            if i % 13 == 0:
                publish_raw(broker.channel, topology.intake_exchange, topology.intake_routing_key,
                            b"{not json", str(uuid.uuid4()))
        router = Router(rules, topology, RouterOptions(batch_max=7),
                        lambda: PostgresDedupStore(postgres_dsn, table=dedup_table))
        consumer = RouterConsumer(amqp_url, topology, router, prefetch=20)
        stop = threading.Event()
        thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
        thread.start()
        assert wait_for(lambda: consumer.stats.routed == 40 and consumer.stats.duplicates == 10
                        and consumer.stats.dead_lettered == 4, timeout=60), consumer.stats
        stop.set()
        thread.join(15)
        assert not thread.is_alive()
        assert broker.depth(topology.intake_queue) == 0
        assert broker.depth(topology.dead_letter_queue) == 4
        routed = _all_routed(broker, agency_queue_names(topology, rules))
        ids = [m["id"] for messages in routed.values() for m in messages if not m["routing"].get("copy_of")]
        assert sorted(ids) == sorted(str(c.id) for c in complaints)  # each once
        assert consumer.stats.requeued == 4 * (topology.delivery_limit - 1)
