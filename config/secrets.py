"""Secret references: ``${ENV_VAR}`` or ``file:/path``, never the secret itself.

A secret field in any channel's options is declared as :data:`Secret`. The YAML
holds only the reference; the value is read when the config is loaded (so a
missing variable is a config error, reported with the others) and is never
printed: ``repr`` and serialisation show the reference only.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import core_schema

_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_DEFERRED: ContextVar[bool] = ContextVar("kanal_secrets_deferred", default=False)


@contextlib.contextmanager
def unresolved_secrets() -> Iterator[None]:
    """Within this block, secret references are checked for their form but not read.

    For commands that only read the spool (``kanal status``, ``kanal quarantine
    list``): an operator's shell does not hold the service's secrets, and these
    commands do not need them. A secret loaded here has no value (:meth:`SecretValue.get`
    raises).
    """
    token = _DEFERRED.set(True)
    try:
        yield
    finally:
        _DEFERRED.reset(token)


class SecretValue:
    """A resolved secret that remembers where it came from and hides its value."""

    __slots__ = ("_value", "ref")

    def __init__(self, ref: str, value: str | None) -> None:
        self.ref = ref
        self._value = value

    @property
    def resolved(self) -> bool:
        """False when the config was loaded without reading secrets (:func:`unresolved_secrets`)."""
        return self._value is not None

    def get(self) -> str:
        """Return the secret itself; pass it straight to the library that needs it.

        Raises:
            RuntimeError: the config was loaded without reading secrets.
        """
        if self._value is None:
            msg = f"secret {self.ref} was not read (this command loads the config without secrets)"
            raise RuntimeError(msg)
        return self._value

    def __repr__(self) -> str:
        return f"SecretValue({self.ref!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretValue) and other.ref == self.ref

    def __hash__(self) -> int:
        return hash(self.ref)

    @classmethod
    def __get_pydantic_core_schema__(cls, _source: Any, _handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            resolve_secret,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda s: s.ref, return_schema=core_schema.str_schema()
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, _schema: core_schema.CoreSchema, _handler: GetJsonSchemaHandler) -> dict:
        return {
            "type": "string",
            "pattern": r"^(\$\{[A-Za-z_][A-Za-z0-9_]*\}|file:.+)$",
            "description": "Secret reference: ${ENV_VAR} or file:/path, never the secret itself.",
        }


def resolve_secret(reference: Any) -> SecretValue:
    """Resolve ``${ENV_VAR}`` or ``file:/path`` to a :class:`SecretValue`.

    Raises:
        ValueError: the value is not a reference, or what it names does not exist.
    """
    if isinstance(reference, SecretValue):
        return reference
    if not isinstance(reference, str):
        msg = "a secret must be a reference string: ${ENV_VAR} or file:/path"
        raise ValueError(msg)  # noqa: TRY004 - pydantic wants ValueError
    text = reference.strip()
    match = _ENV_REF.match(text)
    if _DEFERRED.get() and (match or (text.startswith("file:") and len(text) > 5)):
        return SecretValue(text, None)
    if match:
        name = match.group(1)
        value = os.environ.get(name)
        if value is None or value == "":
            msg = f"environment variable {name} is not set (referenced as {text})"
            raise ValueError(msg)
        return SecretValue(text, value)
    if text.startswith("file:"):
        path = Path(text[5:]).expanduser()
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            msg = f"cannot read secret file {path}: {exc.strerror or exc}"
            raise ValueError(msg) from None
        if not value:
            msg = f"secret file {path} is empty"
            raise ValueError(msg)
        return SecretValue(text, value)
    msg = "write secrets as a reference, ${ENV_VAR} or file:/path, never the secret itself"
    raise ValueError(msg)


#: Field type for secrets in config models.
Secret = SecretValue
