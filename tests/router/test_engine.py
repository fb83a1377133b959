"""The routing decision: queues and keys, confidential path, redaction, duplicates, SLA."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from config.models import RouterConfig, TopologyConfig
from normalizer.complaint import Reporter
from router.engine import Router, RouterOptions
from tests.router.helpers import AGENCY_SAMPLES, make_complaint


@pytest.fixture
def router(rules) -> Router:
    return Router(rules, TopologyConfig())


def body(routed) -> dict:
    return json.loads(routed.body)


class TestDecision:
    def test_agency_queue_routing_key_and_body(self, router):
        c = make_complaint("Parkir liar di Jl. Kemang Raya, Kel. Bangka, bikin macet")
        r = router.route(c)
        assert (r.agency_code, r.queue, r.routing_key, r.priority) == (
            "dishub", "kanal.agency.dishub", "agency.dishub.normal.3174", 4)
        doc = body(r)
        assert doc["id"] == str(c.id) and doc["description"] == c.description
        routing = doc["routing"]
        assert routing["agency_name"] == "Dinas Perhubungan"
        assert routing["service_code"] == "parkir_liar"
        assert routing["location"]["kelurahan"] == "Bangka"
        assert routing["matched_rules"] and routing["confidence"] > 0.4
        assert routing["duplicate_of"] is None

    def test_triage(self, router):
        r = router.route(make_complaint("halo min, apa kabar?"))
        assert (r.agency_code, r.queue, r.triage) == ("triage", "kanal.agency.triage", True)
        assert r.routing_key == "agency.triage.normal.x"

    def test_due_times_follow_the_jakarta_rules(self, router):
        c = make_complaint(AGENCY_SAMPLES["dishub"])
        routing = body(router.route(c))["routing"]
        assert routing["coordinate_by"] == "2026-03-02T08:00:00Z"  # received 02:00Z + 6 h
        assert routing["complete_by"] == "2026-03-09T02:00:00Z"  # + 7 days

    def test_urgent_complaint_gets_high_priority_and_the_urgent_sla(self, router):
        r = router.route(make_complaint("pohon tumbang menutup jalan di Kel. Gambir"))
        assert (r.priority, r.routing["priority"], r.routing_key) == (8, "high", "agency.distamhut.high.3171")
        assert r.routing["coordinate_by"] == "2026-03-02T03:00:00Z"

    def test_sla_is_configurable(self, rules):
        cfg = RouterConfig(options={"coordination_hours": 2, "completion_days": 3})
        r = Router.from_config(cfg, TopologyConfig()).route(make_complaint(AGENCY_SAMPLES["dishub"]))
        expected = ("2026-03-02T04:00:00Z", "2026-03-05T02:00:00Z")
        assert (r.routing["coordinate_by"], r.routing["complete_by"]) == expected

    def test_unknown_option_is_rejected(self):
        with pytest.raises(ValidationError, match="coordination_hour"):
            Router.from_config(RouterConfig(options={"coordination_hour": 2}), TopologyConfig())

    def test_custom_rules_file(self, tmp_path):
        path = tmp_path / "rules.yaml"
        path.write_text("agencies: {pkb: {name: Dinas Perkebunan}}\n"
                        "categories: {kebun: {agency: pkb, name: Kebun, terms: {kebun: 3}}}\n")
        cfg = RouterConfig(rules=path, model="none")  # the shipped model knows none of these agencies
        r = Router.from_config(cfg, TopologyConfig()).route(make_complaint("kebun kotor"))
        assert (r.agency_code, r.queue) == ("pkb", "kanal.agency.pkb")


class TestConfidential:
    def test_pungli_goes_to_its_agency_and_an_anonymous_copy_to_the_inspektorat(self, router):
        reporter = Reporter(name="Budi Contoh", phone="+6281200001234")
        text = "sampah numpuk di gang, petugasnya minta uang rokok, pungli"
        r = router.route(make_complaint(text, reporter=reporter))
        assert (r.agency_code, r.confidential, r.routing["integrity"]) == ("kelurahan", False, True)
        assert body(r)["reporter"]["phone"] == "+6281200001234"
        (copy,) = r.copies
        assert (copy.queue, copy.routing_key) == ("kanal.confidential", "confidential.inspektorat.normal")
        doc = json.loads(copy.body)
        assert doc["reporter"]["phone"] is None and doc["reporter"]["name"] is None
        assert doc["routing"]["copy_of"] == doc["id"] == r.complaint_id
        # Its own message id (one id per message across the routed queues), the same on a redelivery.
        assert copy.message_id != r.complaint_id
        again = make_complaint(text, reporter=reporter, message_id="pungli-1")
        other = make_complaint(text, reporter=reporter, message_id="pungli-2")
        assert router.route(again).copies[0].message_id == router.route(again).copies[0].message_id
        assert router.route(again).copies[0].message_id != router.route(other).copies[0].message_id
        # Scoring against history that labels such a report `inspektorat` counts the copy.
        assert (r.reaches("kelurahan"), r.reaches("inspektorat"), r.reaches("sda")) == (True, True, False)
        plain = router.route(make_complaint("sampah numpuk di gang belum diangkut"))
        assert (plain.reaches("kelurahan"), plain.reaches("inspektorat")) == (True, False)

    def test_pungli_with_confidentiality_asked_goes_only_to_the_confidential_queue(self, router):
        reporter = Reporter(name="Budi Contoh", phone="+6281200001234", confidential=True)
        r = router.route(make_complaint("oknum lurah minta uang pelicin, pungli", reporter=reporter))
        assert (r.queue, r.routing_key, r.copies) == ("kanal.confidential", "confidential.inspektorat.normal", ())
        assert r.reaches("inspektorat")
        assert body(r)["reporter"]["phone"] == "+6281200001234"

    def test_inspektorat_channel_is_confidential_whatever_the_text(self, rules):
        router = Router(rules, TopologyConfig(), RouterOptions(confidential_channels=["wbs-form"]))
        for name in ("sms-inspektorat", "wbs-form"):
            r = router.route(make_complaint(AGENCY_SAMPLES["binamarga"], channel_name=name))
            assert (r.agency_code, r.queue) == ("inspektorat", "kanal.confidential")

    def test_anonymous_reporter_is_redacted_for_agency_queues(self, router):
        reporter = Reporter(name="Siti Contoh", phone="+6281200005678", email="siti@example.org", anonymous=True)
        c = make_complaint("sampah numpuk di gang, hubungi saya 0812-0000-5678 atau siti@example.org",
                           reporter=reporter)
        raw = router.route(c).body.decode()
        assert "Siti" not in raw and "5678" not in raw and "siti@example.org" not in raw
        assert json.loads(raw)["reporter"]["anonymous"] is True

    def test_log_fields_carry_no_identity_or_text(self, router):
        c = make_complaint(AGENCY_SAMPLES["kelurahan"], reporter=Reporter(name="Ani", phone="+6281200000002"))
        fields = json.dumps(router.route(c).log_fields())
        assert "Ani" not in fields and "+62812" not in fields and "sampah" not in fields.lower().replace("sampah_", "")


class TestDuplicates:
    def test_same_person_same_problem_on_another_channel_is_linked(self, router):
        reporter = Reporter(phone="+6281200000777")
        first = router.route(make_complaint(AGENCY_SAMPLES["sda"], channel_type="sms", reporter=reporter))
        second = router.route(make_complaint("banjir lagi, air masuk rumah kami di kampung melayu",
                                             channel_type="email", reporter=reporter))
        assert second.duplicate_of == first.complaint_id
        assert (second.agency_code, second.routing["priority"], second.priority) == ("sda", "low", 1)
        assert second.routing_key.startswith("agency.sda.low.")

    def test_near_identical_text_about_the_same_place_is_linked(self, router):
        text = "Pohon besar tumbang di Jl. Cipete Raya, Kel. Cipete Utara, menutup jalan"
        a = router.route(make_complaint(text, reporter=Reporter(handle="@warga1"), channel_type="twitter"))
        b = router.route(make_complaint(text + "!!", reporter=Reporter(name="Warga Dua"), channel_type="facebook"))
        assert b.duplicate_of == a.complaint_id

    def test_different_problems_are_not_linked(self, router):
        reporter = Reporter(phone="+6281200000888")
        router.route(make_complaint(AGENCY_SAMPLES["sda"], reporter=reporter))
        other = router.route(make_complaint(AGENCY_SAMPLES["dishub"], reporter=reporter))
        assert other.duplicate_of is None

    def test_outside_the_window_is_not_linked(self, router):
        reporter = Reporter(phone="+6281200000999")
        first = make_complaint(AGENCY_SAMPLES["sda"], reporter=reporter)
        router.route(first)
        later = make_complaint(AGENCY_SAMPLES["sda"], reporter=reporter,
                               received_at=first.received_at + timedelta(hours=73))
        assert router.route(later).duplicate_of is None

    def test_the_same_id_again_is_not_its_own_duplicate(self, router):
        c = make_complaint(AGENCY_SAMPLES["sda"])
        router.route(c)
        assert router.route(c).duplicate_of is None


@pytest.mark.postgres
class TestSharedDuplicates:
    def test_two_replicas_link_a_repeat_through_postgresql(self, rules, postgres_dsn, dedup_table):
        import psycopg

        from router.shared_duplicates import PostgresDuplicateIndex, drop_shared_index

        table = f"{dedup_table}_recent"
        try:
            replicas = [
                Router(rules, TopologyConfig(), duplicates_factory=lambda: PostgresDuplicateIndex(postgres_dsn, table))
                for _ in range(2)
            ]
            reporter = Reporter(email="warga@example.org")
            complaint = make_complaint(AGENCY_SAMPLES["distamhut"], channel_type="email", reporter=reporter)
            first = replicas[0].route(complaint)
            repeat = replicas[1].route(make_complaint("pohon tumbang lagi di panglima polim, tolong",
                                                      channel_type="email", reporter=reporter))
            assert repeat.duplicate_of == first.complaint_id
            text = "Sampah numpuk di gang RT 07 Kel. Paseban, udah seminggu ga diangkut"
            a = replicas[1].route(make_complaint(text, reporter=Reporter(name="A")))
            b = replicas[0].route(make_complaint(text + " bau bgt", reporter=Reporter(name="B")))
            assert b.duplicate_of == a.complaint_id
            assert replicas[0].route(make_complaint(AGENCY_SAMPLES["dukcapil"])).duplicate_of is None
        finally:
            with psycopg.connect(postgres_dsn, autocommit=True) as conn:
                drop_shared_index(conn, table)

    def test_a_batch_links_within_itself_and_to_earlier_batches_like_one_by_one(self, rules, postgres_dsn,
                                                                                 dedup_table):
        """route_many sends the batch's lookups in one pipeline: each complaint still sees
        the ones before it, in the same batch too; a failing decision stays its own."""
        import psycopg

        from router.shared_duplicates import PostgresDuplicateIndex, drop_shared_index

        table = f"{dedup_table}_recent"
        try:
            router = Router(rules, TopologyConfig(),
                            duplicates_factory=lambda: PostgresDuplicateIndex(postgres_dsn, table))
            text = "Sampah numpuk di gang RT 07 Kel. Paseban, udah seminggu ga diangkut"
            earlier = router.route(make_complaint(text, reporter=Reporter(name="A")))
            same_person = Reporter(phone="+6281200004444")
            batch = [
                make_complaint(AGENCY_SAMPLES["dukcapil"], reporter=same_person),
                make_complaint(text + " bau bgt", reporter=Reporter(name="B")),
                make_complaint(AGENCY_SAMPLES["dukcapil"] + " tolong", reporter=same_person),
                make_complaint(AGENCY_SAMPLES["sda"]),
            ]
            first, repeat_of_earlier, repeat_in_batch, other = router.route_many(batch)
            assert first.duplicate_of is None
            assert repeat_of_earlier.duplicate_of == earlier.complaint_id
            assert repeat_in_batch.duplicate_of == first.complaint_id
            assert other.duplicate_of is None
            # Same kelurahan, other words: below the similarity threshold, not linked.
            (unrelated,) = router.route_many([make_complaint("Lampu jalan mati di Kel. Paseban sejak kemarin malam")])
            assert unrelated.duplicate_of is None
            # The index in PostgreSQL links exactly as the in-memory one does.
            texts = [text, text + " bau bgt", text + " tolong segera diangkut pak", "Sampah di Kel. Paseban",
                     AGENCY_SAMPLES["sda"], AGENCY_SAMPLES["sda"] + " lagi", AGENCY_SAMPLES["dishub"]]
            sequence = [make_complaint(t, reporter=Reporter(name=f"W{i}")) for i, t in enumerate(texts * 2)]
            memory = Router(rules, TopologyConfig())
            expected = [memory.route(c).duplicate_of for c in sequence]
            assert any(expected) and not all(expected)
            fresh = Router(rules, TopologyConfig(), duplicates_factory=lambda: PostgresDuplicateIndex(
                postgres_dsn, f"{table}_2"))
            got = [r.duplicate_of for r in fresh.route_many(sequence[:5]) + fresh.route_many(sequence[5:])]
            assert got == expected
        finally:
            with psycopg.connect(postgres_dsn, autocommit=True) as conn:
                drop_shared_index(conn, table)
                drop_shared_index(conn, f"{table}_2")

    def test_of_originals_received_at_the_same_second_the_first_added_is_named(self, postgres_dsn, dedup_table):
        """Gateways give times to the second, so originals tie: the first added is named, as
        the in-memory index does, whatever the query plan (an index scan and a sequential
        scan named different ones before the tie was broken)."""
        import psycopg

        from router.shared_duplicates import PostgresDuplicateIndex, drop_shared_index

        table = f"{dedup_table}_recent"
        index = PostgresDuplicateIndex(postgres_dsn, table)
        try:
            person = Reporter(phone="+6281200007777")
            at = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
            earlier = [make_complaint(f"jalan rusak no. {i}", reporter=person, received_at=at) for i in range(5)]
            earlier.sort(key=lambda c: str(c.id), reverse=True)  # added first: the largest id
            words = frozenset({"jalan", "rusak"})
            index.check_and_add_many([(c, words, "jalan-rusak", None) for c in earlier])
            repeat = make_complaint("jalan rusak lagi", reporter=person, received_at=at + timedelta(minutes=5))
            (original,) = index.check_and_add_many([(repeat, words, "jalan-rusak", None)])
            assert original == str(earlier[0].id)  # a tie broken by id would name the smallest
        finally:
            index.close()
            with psycopg.connect(postgres_dsn, autocommit=True) as conn:
                drop_shared_index(conn, table)

    def test_the_identity_index_has_no_pending_list_also_on_tables_made_before(self, postgres_dsn, dedup_table):
        """A GIN pending list is scanned by every lookup until a vacuum merges it: off, also
        for a table an earlier version created with the default (which gains ``seq`` too)."""
        import psycopg

        from router.shared_duplicates import PostgresDuplicateIndex, drop_shared_index

        table = f"{dedup_table}_recent"
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE {table} (id TEXT PRIMARY KEY, received_at TIMESTAMPTZ NOT NULL, "
                         "identities TEXT[] NOT NULL, category TEXT, place TEXT, words TEXT[] NOT NULL)")
            conn.execute(f"CREATE INDEX {table}_ids ON {table} USING GIN (identities)")
            try:
                PostgresDuplicateIndex(postgres_dsn, table).close()
                options = conn.execute("SELECT reloptions FROM pg_class WHERE relname = %s", (f"{table}_ids",))
                assert options.fetchone()[0] == ["fastupdate=off"]
                # ... and gains the column that orders originals received the same second.
                seq = conn.execute("SELECT 1 FROM information_schema.columns WHERE table_name = %s "
                                   "AND column_name = 'seq'", (table,))
                assert seq.fetchone() is not None
            finally:
                drop_shared_index(conn, table)

    def test_stored_words_are_the_sorted_word_set_also_when_a_word_holds_a_space(self, postgres_dsn, dedup_table):
        """The words travel as one space-separated text the server splits; a word with a space
        (no tokeniser makes one) still arrives whole, and an empty set is an empty array."""
        import psycopg

        from router.shared_duplicates import PostgresDuplicateIndex, drop_shared_index

        table = f"{dedup_table}_recent"
        index = PostgresDuplicateIndex(postgres_dsn, table)
        try:
            cases = [frozenset({"sampah", "numpuk", "gang", "07"}), frozenset({"dua kata", "satu"}), frozenset()]
            complaints = [make_complaint(f"teks {i}") for i in range(len(cases))]
            index.check_and_add_many([(c, w, "sampah", "3171011001") for c, w in zip(complaints, cases)])
            with psycopg.connect(postgres_dsn, autocommit=True) as conn:
                for c, words in zip(complaints, cases):
                    row = conn.execute(f"SELECT words FROM {table} WHERE id = %s", (str(c.id),)).fetchone()
                    assert row[0] == sorted(words)
            # The Jaccard lookup reads the same words: 4 of 5 shared links, 2 of 4 does not.
            near, far = make_complaint("lagi"), make_complaint("beda")
            got = index.check_and_add_many([
                (near, frozenset({"sampah", "numpuk", "gang", "07", "bau"}), None, "3171011001"),
                (far, frozenset({"dua kata", "lain", "lagi"}), None, "3171011001")])
            assert got == [str(complaints[0].id), None]
        finally:
            index.close()
            with psycopg.connect(postgres_dsn, autocommit=True) as conn:
                drop_shared_index(conn, table)


class TestBody:
    def test_the_routed_body_is_the_complaint_json_plus_routing_byte_for_byte(self, router):
        """The body is written without the dict round trip where that gives the same bytes:
        non-ASCII text, quotes, control characters, coordinates (also tiny ones, which pydantic
        and json spell differently)."""
        from router.decision import build_body

        text = 'Jalan "rusak" di Kel. Menteng \\ é 漢字 ☺ \x01\u2028 got mampet'
        samples = [make_complaint(text), make_complaint(text, lat=-6.1754, long=106.8272)]
        samples += [make_complaint("pohon tumbang", lat=v, long=v) for v in (0.0, 1e-5, 9.999e-5, 0.0012, -0.5)]
        for c in samples:
            routed = router.route(c)
            assert routed.body == build_body(c.model_dump(mode="json"), routed.routing, redact=False)


    def test_the_routing_object_is_encoded_as_json_writes_it(self):
        """pydantic-core encodes the routing object where it writes json's bytes; tiny floats,
        which it spells differently, and any text that looks like one go through json."""
        import json
        import math

        from router.decision import encode_json

        floats = [0.0, -0.0, 1.0, 0.001, 0.926, 4.5, -1.25, 1e-4, 9.99e-5, 1e-5, -2.5e-7, 1e-300, 5e-324, 1e16,
                  1.5e300, math.inf, -math.inf, math.nan, 0.1 + 0.2]
        floats += [m * 10.0 ** e for e in range(-320, 300, 7) for m in (1.0, -3.7, 9.999999)]  # every magnitude
        texts = ["", "é 漢字 ☺", 'quote " back \\ slash', "\x00\x1f\x7f\u2028 tab\t", "e-KTP 0.00001 rusak", "c:3e-5",
                 "[1e-5]", "f0ca970c-7a1c-5b64-8b4d-11c11453429e-x"]
        values = [*floats, *texts, None, True, 2**70, [1, "a", None], {"nested": {"x": [0.5, 1e-5]}}, [1e-5, 2e-7]]
        for value in values:
            routing = {"reasons": ["w:jalan"], "value": value, "location": {"candidates": [value]}}
            expected = json.dumps(routing, ensure_ascii=False, separators=(",", ":")).encode()
            assert encode_json(routing) == expected, value


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(_JSON_VALUES)
def test_encode_json_writes_what_json_writes(value):
    from router.decision import encode_json

    try:
        expected = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:  # a lone surrogate: neither writes it
        return
    assert encode_json(value) == expected


class TestContract:
    def test_every_routed_body_validates_against_the_routed_schema(self, router):
        from router.contract import RoutedComplaint, routed_json_schema

        samples = [make_complaint(t) for t in AGENCY_SAMPLES.values()]
        samples.append(make_complaint("halo", reporter=Reporter(anonymous=True, phone="+6281200000003")))
        samples.append(make_complaint("pohon tumbang", lat=-6.1754, long=106.8272))
        for c in samples:
            routed = router.route(c)
            parsed = RoutedComplaint.model_validate_json(routed.body)
            assert str(parsed.id) == routed.complaint_id
            assert parsed.routing.queue == routed.queue
        assert routed_json_schema()["properties"]["routing"]
