"""``python -m router CONFIG``: run the router against RabbitMQ (what ``kanal router`` runs)."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from config.loader import load_config
from router.service import run_router


class _AnyChannelOptions(BaseModel):
    """The router does not run channels; their options are checked by ``kanal check-config``."""

    model_config = ConfigDict(extra="allow")


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, install SIGTERM/SIGINT handlers and run the router."""
    parser = argparse.ArgumentParser(prog="python -m router", description=__doc__)
    parser.add_argument("config", type=Path, help="the Kanal config file (broker.url must be set)")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run_router(load_config(args.config, lambda _type: _AnyChannelOptions), stop)


if __name__ == "__main__":
    main()
