"""Kanal's router: from the intake queue to the agency that must act.

Modules: ``engine`` (the routing decision, :class:`~router.engine.Router`),
``classify``/``rules``/``textnorm`` (category), ``location``/``gazetteer``/``areas``
(kelurahan), ``priority`` (priority and SLA), ``duplicates``/``shared_duplicates``
(cross-channel duplicates), ``decision``/``contract`` (the routed message),
``dedup`` (the store shared by replicas), ``consumer``/``intake``/``topology`` (the
RabbitMQ side). See docs/router.md. Heavy modules load on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["Router", "RouterConsumer", "run_router"]

_HOMES = {"Router": "router.engine", "RouterConsumer": "router.consumer", "run_router": "router.service"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    msg = f"module 'router' has no attribute {name!r}"
    raise AttributeError(msg)
