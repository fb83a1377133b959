"""The dedup store, SQLite and PostgreSQL, through one interface."""

from __future__ import annotations

import threading
import time

import pytest

from router.dedup import PostgresDedupStore, SqliteDedupStore


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = SqliteDedupStore(tmp_path / "dedup.db", retention_days=1)
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        s = PostgresDedupStore(dsn, retention_days=1, table=request.getfixturevalue("dedup_table"))
    yield s
    s.close()


class TestDedupStore:
    def test_first_claim_is_fresh_and_the_second_is_not(self, store):
        with store.claim("c-1", "q.a") as claim:
            assert claim.fresh
        with store.claim("c-1") as claim:
            assert not claim.fresh
        assert store.was_routed("c-1")

    def test_failure_inside_the_claim_rolls_it_back(self, store):
        with pytest.raises(RuntimeError), store.claim("c-2"):
            raise RuntimeError("publish failed")
        assert not store.was_routed("c-2")
        with store.claim("c-2") as claim:
            assert claim.fresh

    def test_a_batch_is_claimed_in_one_transaction(self, store):
        with store.claim("b-1"):
            pass
        with store.claim_many([("b-3", "q"), ("b-1", "q"), ("b-2", None)]) as fresh:
            assert fresh == {"b-2", "b-3"}
        with pytest.raises(RuntimeError), store.claim_many([("b-4", "q"), ("b-5", "q")]):
            raise RuntimeError("tx.commit failed")
        assert not store.was_routed("b-4") and not store.was_routed("b-5")
        with store.claim_many([]) as fresh:
            assert fresh == set()

    def test_routed_among_answers_for_many_ids_at_once(self, store):
        ids = [f"m-{i}" for i in range(1203)]  # more than one query's worth
        with store.claim_many([(cid, "q") for cid in ids[::2]]):
            pass
        asked = [*ids, "never-1", "never-2"]
        assert store.routed_among(asked) == set(ids[::2])
        assert store.routed_among([]) == set()

    def test_withdrawn_ids_are_not_recorded_when_the_claim_commits(self, store):
        with store.claim_many([("w-1", "q"), ("w-2", "q")]) as fresh:
            assert fresh == {"w-1", "w-2"}
            store.withdraw(["w-2"])
        assert store.was_routed("w-1")
        assert not store.was_routed("w-2")
        with pytest.raises(RuntimeError, match="outside a claim"):
            store.withdraw(["w-1"])
        assert store.was_routed("w-1")

    def test_retention(self, store):
        with store.claim("old"):
            pass
        assert store.prune(now=time.time() + 2 * 86400) == 1
        assert not store.was_routed("old")

    def test_a_claim_rolled_back_leaves_no_trace(self, store):
        with pytest.raises(RuntimeError), store.claim_many([("d-1", "q"), ("d-2", "q")]):
            raise RuntimeError("router killed before the claim committed")
        assert store.routed_among(["d-1", "d-2", "never"]) == set()
        with store.claim_many([("d-1", "q")]) as fresh:
            assert fresh == {"d-1"}, "the redelivered complaint is claimed afresh"
        assert store.routed_among(["d-1", "d-2"]) == {"d-1"}

    def test_invalid_table_name(self, tmp_path):
        with pytest.raises(ValueError, match="invalid dedup table name"):
            SqliteDedupStore(tmp_path / "x.db", table="x; DROP TABLE y")


@pytest.mark.postgres
class TestSharedBetweenReplicas:
    def test_second_replica_waits_for_the_first_and_sees_its_outcome(self, postgres_dsn, dedup_table):
        a = PostgresDedupStore(postgres_dsn, table=dedup_table)
        b = PostgresDedupStore(postgres_dsn, table=dedup_table)
        seen: list[bool] = []
        holding = threading.Event()

        def second() -> None:
            holding.wait()
            with b.claim("shared") as claim:
                seen.append(claim.fresh)

        t = threading.Thread(target=second)
        t.start()
        with a.claim("shared") as claim:
            assert claim.fresh
            holding.set()
            time.sleep(0.3)
            assert seen == []  # blocked on our uncommitted row
        t.join(5)
        assert seen == [False]
        a.close()
        b.close()

    def test_a_dead_replicas_claim_is_released(self, postgres_dsn, dedup_table):
        a = PostgresDedupStore(postgres_dsn, table=dedup_table)
        b = PostgresDedupStore(postgres_dsn, table=dedup_table)
        ctx = a.claim("orphan")
        assert ctx.__enter__().fresh
        a._conn.close()  # the process died: its transaction is rolled back
        with b.claim("orphan") as claim:
            assert claim.fresh
        b.close()


def test_the_sqlite_store_is_safe_to_share_between_threads(tmp_path):
    store = SqliteDedupStore(tmp_path / "dedup.db", retention_days=1)
    fresh_counts: dict[str, int] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker(n: int) -> None:
        start.wait()
        try:
            for i in range(60):
                cid = f"t-{(n * 7 + i) % 100}"  # the threads' ids overlap
                with store.claim(cid, "q") as claim:
                    store.was_routed(cid)
                    if claim.fresh:
                        with lock:
                            fresh_counts[cid] = fresh_counts.get(cid, 0) + 1
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close()
    assert errors == []
    assert set(fresh_counts.values()) == {1}, "every id is fresh exactly once"
    assert len(fresh_counts) == 100
