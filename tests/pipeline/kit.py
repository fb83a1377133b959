"""Real Kanal processes for whole-pipeline tests: ``kanal run`` and ``kanal router``
as child processes started from a config file, a PostgreSQL database of their own,
and readers for every queue a complaint can end on."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import requests

from config.models import TopologyConfig
from router.topology import agency_queue_names
from tests.core.broker_kit import Delivered, read_queue, wait_for


class KanalProcess:
    """``python -m kanal ARGS`` as a child process whose output goes to ``log``.

    Parameters:
        args: the kanal command line after ``kanal`` (``["run", "--config", PATH]``).
        env: extra environment (the config's secrets).
        log: file that collects stdout and stderr of every start.
        health_url: polled after a start until it answers 2xx (``kanal run``'s /healthz).
    """

    def __init__(self, args: list[str], env: dict[str, str], log: Path, health_url: str | None = None) -> None:
        self.args = args
        self.env = {**os.environ, **env}
        self.log = log
        self.health_url = health_url
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self, wait: bool = True) -> None:
        """Start the process (again); with a health URL, wait until it answers."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kanal", *self.args], cwd=self.log.parent, env=self.env,
                stdout=out, stderr=out,
            )
        self.starts += 1
        if wait and self.health_url:
            wait_for(self.healthy, timeout=60, what=f"kanal {self.args[0]} to answer {self.health_url}")

    def healthy(self) -> bool:
        """True when the health URL answers 2xx; fails when the process has exited."""
        if self.exited():
            raise AssertionError(f"kanal {self.args[0]} exited with {self.process.returncode}:\n{self.tail()}")
        try:
            return requests.get(self.health_url, timeout=1).ok
        except requests.RequestException:
            return False

    def exited(self) -> bool:
        """True when the process has ended."""
        return self.process is not None and self.process.poll() is not None

    def kill9(self) -> None:
        """SIGKILL the process and reap it."""
        if self.process is not None and not self.exited():
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM and wait; returns the exit status."""
        assert self.process is not None
        if not self.exited():
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def tail(self, chars: int = 4000) -> str:
        """The end of the log."""
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@contextlib.contextmanager
def fresh_database(admin_dsn: str) -> Iterator[str]:
    """A PostgreSQL database of its own for one test (dropped afterwards); yields its DSN."""
    name = f"kanal_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    base = admin_dsn.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def routed_side_queues(topology: TopologyConfig) -> list[str]:
    """Every queue a routed complaint can end on: each agency's, triage, confidential,
    and the dead-letter queue."""
    queues = set(agency_queue_names(topology).values())
    queues.update({topology.confidential_queue, topology.dead_letter_queue})
    return sorted(queues)


def drain_queues(url: str, queues: list[str], settle: float = 0.3) -> dict[str, list[Delivered]]:
    """Read (and ack) everything in ``queues``: queue name -> messages."""
    return {queue: read_queue(url, queue, settle=settle, timeout=120) for queue in queues}


def delete_queues(url: str, queues: list[str], exchanges: list[str]) -> None:
    """Remove a test's queues and exchanges from the broker."""
    from tests.core.broker_kit import blocking_channel

    with blocking_channel(url) as channel:
        for queue in queues:
            channel.queue_delete(queue)
        for exchange in exchanges:
            channel.exchange_delete(exchange)
