"""Fixtures shared by every test area that talks to the real RabbitMQ."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from config.models import TopologyConfig
from tests.core.broker_kit import delete_topology, unique_topology
from tests.services import require_rabbitmq


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
