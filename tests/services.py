"""Helpers for tests that need a real service: skip locally when it is absent,
fail in CI (``CI=true``) so a missing service can never pass as green."""

from __future__ import annotations

import os
import shutil
import socket

import pytest

RABBITMQ_URL = os.environ.get("KANAL_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
POSTGRES_DSN = os.environ.get("KANAL_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def in_ci() -> bool:
    """True when running under CI (``CI=true``)."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """True if something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def missing(what: str) -> None:
    """Skip the test locally, fail it in CI."""
    if in_ci():
        pytest.fail(f"{what} is required in CI but is not available", pytrace=False)
    pytest.skip(f"{what} not available")


def require_port(name: str, host: str, port: int) -> None:
    """Require a TCP service."""
    if not port_open(host, port):
        missing(f"{name} at {host}:{port}")


def require_rabbitmq() -> str:
    """Require the shared RabbitMQ; returns its URL."""
    require_port("RabbitMQ", "127.0.0.1", 5672)
    return RABBITMQ_URL


def require_postgres() -> str:
    """Require PostgreSQL; returns a DSN."""
    require_port("PostgreSQL", "127.0.0.1", 5432)
    return POSTGRES_DSN


def require_program(name: str) -> str:
    """Require an executable on PATH (or in /usr/sbin); returns its path."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin")
    if path is None:
        missing(f"program {name}")
    return path
