"""Logging with structlog: JSON lines off a terminal, readable on one, with personal
data (phone numbers, e-mail addresses) and credentials (URL passwords, secret query
parameters, bearer tokens) masked in every line, tracebacks included.

Libraries that log through the standard ``logging`` module (pika, kombu, waitress)
and exceptions that escape a thread go through the same processors, so no line
reaches stderr unmasked.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from typing import Any

import structlog

from config.redact import redact_credentials

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_PHONE = re.compile(r"(?<![\w/.-])(\+?62|0)(8\d)[\d\s-]{6,13}(\d{2})(?!\d)")


def mask_personal_data(text: str) -> str:
    """Mask e-mail addresses and Indonesian mobile numbers in ``text``.

    ``warga@example.org`` becomes ``w***@example.org`` and ``+6281234567890``
    becomes ``+628…90``: enough to tell two apart in a log, not enough to call.
    """
    text = _EMAIL.sub(r"\1***@\2", text)
    return _PHONE.sub(lambda m: f"{m.group(1)}{m.group(2)}…{m.group(3)}", text)


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_personal_data(redact_credentials(value))
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_mask(v) for v in value)
    return value


def mask_processor(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: mask personal data and credentials in every value of the event."""
    return {k: _mask(v) for k, v in event_dict.items()}


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {_escaped(k): _escaped(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_escaped(v) for v in value)
    return value


def escape_surrogates(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: write a lone UTF-16 surrogate (JSON lets senders put one in an
    id or a text) as ``\\ud83d``; a UTF-8 stream cannot take it, and a log line must
    never fail, let alone fail the delivery it reports on."""
    return {_escaped(k): _escaped(v) for k, v in event_dict.items()}


def configure_logging(level: str = "info", fmt: str = "auto") -> None:
    """Configure structlog for the process (idempotent)."""
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            mask_processor,
            escape_surrogates,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    root.handlers[:] = [_ToStructlog()]
    root.setLevel(max(logging.WARNING, getattr(logging, level.upper())))
    threading.excepthook = _log_thread_exception


class _ToStructlog(logging.Handler):
    """Hands standard-library log records (pika, kombu, waitress) to structlog."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a library's bad format string must not kill the caller
            message = str(record.msg)
        structlog.get_logger(record.name).log(record.levelno, message, logger=record.name, exc_info=record.exc_info)


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    """An exception that ended a thread nobody supervises: logged, masked, with its traceback."""
    if args.exc_type is SystemExit:
        return
    thread = args.thread.name if args.thread else "?"
    structlog.get_logger("kanal").critical(
        "unhandled exception in a thread", thread=thread, exc_info=(args.exc_type, args.exc_value, args.exc_traceback)
    )


def channel_logger(name: str, channel_type: str) -> structlog.typing.FilteringBoundLogger:
    """A logger bound to one channel instance."""
    return structlog.get_logger("kanal").bind(channel=name, channel_type=channel_type)
