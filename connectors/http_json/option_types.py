"""Building blocks of the ``http_json`` options: checked JMESPath expressions, time
zones and time formats, and the strict base model every options block derives from.

Each annotated type validates when the config is loaded, so ``kanal check-config``
names a bad expression or format with its option. :func:`compile_expression` is
also what the mapper evaluates records with: a plain ``a.b.c`` path is walked
directly, anything else runs on one shared JMESPath interpreter.
"""

from __future__ import annotations

import zoneinfo
from functools import lru_cache
from typing import Annotated, Any

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.visitor import TreeInterpreter
from pydantic import AfterValidator, BaseModel, ConfigDict


class _FieldPath:
    """A plain ``a.b.c`` expression, walked directly: the same result as JMESPath
    (a missing key or a non-object gives None) without its tree interpreter."""

    __slots__ = ("keys",)

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys

    def search(self, value: Any) -> Any:
        for key in self.keys:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value


class _Compiled:
    """Any other expression, evaluated by one shared JMESPath interpreter."""

    __slots__ = ("ast",)
    _interpreter = TreeInterpreter()

    def __init__(self, ast: dict[str, Any]) -> None:
        self.ast = ast

    def search(self, value: Any) -> Any:
        return self._interpreter.visit(self.ast, value)


def _field_keys(ast: dict[str, Any]) -> list[str] | None:
    if ast["type"] == "field":
        return [ast["value"]]
    if ast["type"] == "subexpression":
        keys = [_field_keys(child) for child in ast["children"]]
        if all(k is not None for k in keys):
            return [key for part in keys for key in part]
    return None


@lru_cache(maxsize=1024)
def compile_expression(text: str) -> _FieldPath | _Compiled:
    """Compile a JMESPath expression once (cached: configs repeat few expressions).

    Raises:
        jmespath.exceptions.JMESPathError: not a valid expression.
    """
    ast = jmespath.compile(text).parsed
    keys = _field_keys(ast)
    return _FieldPath(keys) if keys is not None else _Compiled(ast)


def _jmespath(value: str) -> str:
    text = value.strip()
    if not text:
        msg = "empty JMESPath expression"
        raise ValueError(msg)
    try:
        compile_expression(text)
    except JMESPathError as exc:
        detail = " ".join(str(exc).split())
        msg = f"not a valid JMESPath expression ({detail}); quote constants as 'text'"
        raise ValueError(msg) from None
    return text


def _zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        msg = f"unknown time zone {value!r} (an IANA name such as Asia/Jakarta)"
        raise ValueError(msg) from None
    return value


def _time_format(value: str) -> str:
    if value in ("iso", "epoch", "epoch_ms"):
        return value
    if "%" not in value:
        msg = "time format must be iso, epoch, epoch_ms or a strptime pattern such as '%d-%m-%Y %H:%M:%S'"
        raise ValueError(msg)
    return value


#: A JMESPath expression over one record (``'text'`` for a constant, ``a || b`` for a fallback).
Expr = Annotated[str, AfterValidator(_jmespath)]
TimeZoneName = Annotated[str, AfterValidator(_zone)]
TimeFormat = Annotated[str, AfterValidator(_time_format)]


class StrictOptions(BaseModel):
    """Base of every ``http_json`` options block: unknown keys are refused, values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
