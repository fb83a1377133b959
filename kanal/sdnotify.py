"""systemd's notify protocol, written by hand (one datagram; no new dependency).

With ``Type=notify`` a unit learns that the process is up (``READY=1``), that it is
stopping (``STOPPING=1``), and with ``WatchdogSec=`` that it is still well
(``WATCHDOG=1``, sent at half the interval, and only while the process is healthy:
a process whose threads died stops feeding the watchdog, and systemd restarts it).
Outside systemd (``NOTIFY_SOCKET`` unset) every call does nothing.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable

import structlog

log = structlog.get_logger("kanal.sdnotify")


def notify(*states: str) -> bool:
    """Send ``states`` (``READY=1``...) to ``$NOTIFY_SOCKET``; False when there is none or it failed."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address or not states:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(states).encode())
    except OSError as exc:
        log.warning("could not notify systemd", error=str(exc))
        return False
    return True


def watchdog_interval() -> float | None:
    """Seconds between two ``WATCHDOG=1`` (half of ``WatchdogSec``), or None when no
    watchdog is asked of this process."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1_000_000 / 2


def feed_watchdog(healthy: Callable[[], bool], stop: threading.Event) -> None:
    """Send ``WATCHDOG=1`` every half interval while ``healthy()``, until ``stop`` is set.

    Without a watchdog configured it only waits for ``stop``.
    """
    interval = watchdog_interval()
    if interval is None:
        stop.wait()
        return
    while not stop.is_set():
        if healthy():
            notify("WATCHDOG=1")
        stop.wait(interval)
