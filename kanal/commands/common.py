"""What every ``kanal`` command shares: exit codes, finding and loading the config,
logging set-up, signal handling and time formatting."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from config.loader import ConfigError, ConfigIssue, LoadedConfig, load_config

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
#: ``kanal status``: the recorded kanal run process is dead, unresponsive or failed.
EXIT_DOWN = 3

DEFAULT_CONFIG = "kanal.yaml"

#: ``add(name, func, help_text, description, config=True)``: adds a command's parser.
AddCommand = Callable[..., argparse.ArgumentParser]


def config_path(args: argparse.Namespace) -> Path:
    """The config file: ``--config``, else ``$KANAL_CONFIG``, else ``./kanal.yaml``."""
    return Path(getattr(args, "config", None) or os.environ.get("KANAL_CONFIG") or DEFAULT_CONFIG)


def load(args: argparse.Namespace, path: Path | None = None, secrets: bool = True) -> LoadedConfig:
    """Load the config; with ``secrets=False`` references are checked but not read
    (for commands that only read the spool, run from an operator's shell)."""
    from config.secrets import unresolved_secrets
    from connectors.registry import options_model

    path = path or config_path(args)
    if not path.exists():
        hint = "pass --config PATH, set KANAL_CONFIG, or copy config/kanal.example.yaml to ./kanal.yaml"
        raise ConfigError(path, [ConfigIssue(str(path), f"no such file ({hint})")])
    if secrets:
        return load_config(path, options_model)
    with unresolved_secrets():
        return load_config(path, options_model)


def setup_logging(loaded: LoadedConfig | None, level: str | None = None) -> None:
    """Configure logging from the config's ``log`` block, ``level`` overriding its level."""
    from kanal.logs import configure_logging

    log_cfg = loaded.kanal.log if loaded else None
    configure_logging(level or (log_cfg.level if log_cfg else "info"), log_cfg.format if log_cfg else "auto")


def install_signal_handlers(stop: threading.Event) -> None:
    """Set ``stop`` on SIGTERM and SIGINT."""
    def handler(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def fmt_time(ts: float | None) -> str:
    """A Unix time as ``YYYY-MM-DD HH:MM:SSZ``, or ``-``."""
    if not ts:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
