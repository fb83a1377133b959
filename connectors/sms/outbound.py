"""Acknowledgement SMS: who gets one, with what text, and the delivery routes that are
not tied to a database (Gammu outbox files, Kannel's sendsms URL).

An acknowledgement is best effort and sent only after the complaint is durable.
At most one goes to a sender per window, so a flood of messages (or a loop with
another auto-responder) cannot make Kanal send a flood back. The window is kept
in memory: a restart allows one more acknowledgement per sender.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

import requests

from connectors.base import IngestResult
from connectors.sms.config import AckOptions
from connectors.sms.message import reference_number
from normalizer.timeutil import WIB


class AckPolicy:
    """Decides which committed results earn an acknowledgement SMS.

    Parameters:
        options: the channel's ``ack`` block.
        clock: monotonic seconds (tests may pass their own).
    """

    def __init__(self, options: AckOptions, clock: Callable[[], float] = time.monotonic) -> None:
        self.options = options
        self.clock = clock
        self._last_sent: dict[str, float] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """True when acknowledgements are switched on."""
        return self.options.enabled

    def text_for(self, complaint_uuid: object) -> str:
        """The Indonesian acknowledgement text for a complaint."""
        return self.options.text.replace("{ref}", reference_number(complaint_uuid))

    def due(self, results: Sequence[IngestResult]) -> list[tuple[str, str]]:
        """(number, text) for each newly accepted complaint whose sender may get one now.

        Duplicates, drops and quarantined messages never get one; nor does a sender
        who got one within the window. Calling this records the sending.
        """
        if not self.enabled:
            return []
        out: list[tuple[str, str]] = []
        with self._lock:
            now = self.clock()
            window = self.options.window_seconds
            if len(self._last_sent) > 10_000:
                self._last_sent = {n: t for n, t in self._last_sent.items() if now - t < window}
            for result in results:
                complaint = result.complaint
                if result.status != "accepted" or complaint is None:
                    continue
                number = complaint.reporter.phone
                if not number or not number.startswith("+"):
                    continue
                last = self._last_sent.get(number)
                if last is not None and now - last < window:
                    continue
                self._last_sent[number] = now
                out.append((number, self.text_for(complaint.id)))
        return out


def gammu_outbox_name(number: str, when: datetime, serial: int, extension: str = "txt") -> str:
    """An SMSD outbox file name: ``OUT<prio><date>_<time>_<serial>_<recipient>_<note>.<ext>``."""
    stamp = when.astimezone(WIB).strftime("%Y%m%d_%H%M%S")
    return f"OUTA{stamp}_{serial:02d}_{number}_kanal.{extension}"


def write_gammu_outbox_file(outbox: Path, number: str, text: str, fmt: str = "unicode") -> Path:
    """Write one outgoing SMS for Gammu SMSD's files service, atomically.

    The file is written under a name SMSD ignores (it reads only ``OUT*``) and then
    renamed, so SMSD never sends half a file.
    """
    outbox.mkdir(parents=True, exist_ok=True)
    data = b"\xfe\xff" + text.encode("utf-16-be") if fmt == "unicode" else text.encode("utf-8")
    now = datetime.now(WIB)
    fd, tmp = tempfile.mkstemp(prefix=".kanal-", dir=outbox)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    for serial in range(100):
        target = outbox / gammu_outbox_name(number, now, serial)
        if not target.exists():
            os.replace(tmp, target)
            return target
    os.unlink(tmp)
    msg = "no free outbox file name this second"
    raise OSError(msg)


def kannel_sendsms(
    url: str, username: str, password: str, sender: str, number: str, text: str, timeout: float = 10
) -> None:
    """Send one SMS through Kannel's ``sendsms`` interface (UTF-8 text).

    Raises:
        requests.RequestException: Kannel could not be reached or refused it.
    """
    response = requests.get(
        url,
        params={"username": username, "password": password, "from": sender, "to": number,
                "text": text, "charset": "UTF-8", "coding": "2" if _needs_ucs2(text) else "0"},
        timeout=timeout,
    )
    response.raise_for_status()


def _needs_ucs2(text: str) -> bool:
    return any(ord(c) > 0x7E for c in text)
