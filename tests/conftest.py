"""Fixtures shared by every test area that talks to the real RabbitMQ."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from config.models import TopologyConfig
from tests.core.broker_kit import delete_topology, unique_topology
from tests.services import require_rabbitmq

#: Examples per fuzz test (tests/fuzz). Small by default so the suite stays fast; a long
#: run sets it, e.g. ``KANAL_FUZZ_EXAMPLES=5000 pytest -s tests/fuzz`` (``-s`` prints the
#: outcome counts per endpoint).
FUZZ_EXAMPLES = int(os.environ.get("KANAL_FUZZ_EXAMPLES") or 20)

settings.register_profile(
    "kanal-fuzz",
    max_examples=FUZZ_EXAMPLES,
    deadline=None,  # real HTTP and SQLite on a shared machine: times vary
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


@pytest.fixture(name="amqp_url")
def _amqp_url() -> str:
    """The shared broker's URL (the test fails in CI when it is absent)."""
    return require_rabbitmq()


@pytest.fixture(name="topology")
def _topology(amqp_url: str, request: pytest.FixtureRequest) -> Iterator[TopologyConfig]:
    """Intake exchange, queue, DLX and DLQ names unique to this test, deleted afterwards."""
    area = request.module.__name__.split(".")[1] if "." in request.module.__name__ else "tests"
    names = unique_topology(f"kanaltest.{area}")
    yield names
    delete_topology(amqp_url, names)
