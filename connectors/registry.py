"""Channel types by name: a built-in table plus the ``kanal.connectors`` entry points.

Built-in types are imported lazily, so a missing SDK only breaks the channel that
needs it. A channel type shipped as its own package registers in its
``pyproject.toml``::

    [project.entry-points."kanal.connectors"]
    qlue = "kanal_qlue.connector:QlueConnector"

Every type is checked when it is loaded (a Connector subclass with a pydantic
``config_model``), so a broken plugin fails at start-up, not at first message.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points

from pydantic import BaseModel

from config.loader import UnknownChannelType
from connectors.base import Connector

ENTRY_POINT_GROUP = "kanal.connectors"

BUILTIN: dict[str, str] = {
    "sms": "connectors.sms.connector:SmsConnector",
    "email": "connectors.email.connector:EmailConnector",
    "twitter": "connectors.twitter.connector:TwitterConnector",
    "facebook": "connectors.facebook.connector:FacebookConnector",
    "walkin": "connectors.walkin.connector:WalkInConnector",
    "http_json": "connectors.http_json.connector:HttpJsonConnector",
}


def _plugins() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def known_types() -> dict[str, str]:
    """Every channel type name and the ``module:Class`` it loads (built-ins win)."""
    return {**_plugins(), **BUILTIN}


@cache
def connector_class(type_name: str) -> type[Connector]:
    """Load the connector class for ``type_name``.

    Raises:
        UnknownChannelType: no such type (with a "did you mean").
        ImportError: the type's module or its SDK cannot be imported.
        TypeError: the plugin does not follow the connector contract.
    """
    table = known_types()
    if type_name not in table:
        raise UnknownChannelType(type_name, table)
    module_name, _, attr = table[type_name].partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        msg = f"{table[type_name]} is not a kanal Connector subclass"
        raise TypeError(msg)
    model = getattr(cls, "config_model", None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        msg = f"{table[type_name]} has no pydantic config_model"
        raise TypeError(msg)
    return cls


def options_model(type_name: str) -> type[BaseModel]:
    """The pydantic model of a channel type's ``options`` block."""
    return connector_class(type_name).config_model
