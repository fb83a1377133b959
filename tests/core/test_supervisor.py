"""The supervisor's view of its threads, as `/healthz` and the watchdog read it."""

from __future__ import annotations

import threading

import pytest

from kanal.supervisor import Supervisor


def test_a_thread_being_started_does_not_count_as_dead(monkeypatch: pytest.MonkeyPatch) -> None:
    """`/healthz` asked while ``kanal run`` starts its threads one by one must not see a
    thread that is about to start as a dead one (it answered 503 under load)."""
    supervisor = Supervisor(on_failure=lambda reason: None)
    release = threading.Event()
    supervisor.spawn("first", release.wait)
    seen_while_starting: list[list[str]] = []
    start = threading.Thread.start

    def start_slowly(thread: threading.Thread) -> None:
        seen_while_starting.append(supervisor.dead())  # a probe arriving before the thread runs
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", start_slowly)
    supervisor.spawn("second", release.wait)
    monkeypatch.undo()
    try:
        assert seen_while_starting == [[]]
        assert supervisor.dead() == []
        assert [t.name for t in supervisor.threads] == ["first", "second"]
    finally:
        supervisor.stopping()
        release.set()


def test_a_thread_that_returns_unasked_is_dead_and_fails_the_process() -> None:
    reasons: list[str] = []
    supervisor = Supervisor(on_failure=reasons.append)
    thread = supervisor.spawn("quitter", lambda: None)
    thread.join(5)
    assert supervisor.dead() == ["quitter"]
    assert reasons == ["thread quitter ended unexpectedly"]


def test_threads_ending_after_stopping_is_announced_fail_nothing() -> None:
    reasons: list[str] = []
    supervisor = Supervisor(on_failure=reasons.append)
    stop = threading.Event()
    thread = supervisor.spawn("worker", stop.wait)
    supervisor.stopping()
    stop.set()
    thread.join(5)
    assert reasons == []
    assert supervisor.failure is None
