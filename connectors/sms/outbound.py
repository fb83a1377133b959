"""Acknowledgement SMS: who gets one, with what text, and the delivery routes that are
not tied to a database (Gammu outbox files, Kannel's sendsms URL).

An acknowledgement is best effort and granted only with the complaint's commit.
At most one goes to a sender per window, so a flood of messages (or a loop with
another auto-responder) cannot make Kanal send a flood back. The window is kept
in the spool (:mod:`kanal.ack_outbox`), so a restart does not reopen it; the
SMS itself is sent by the ack sender thread, never before the webhook answer.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import requests

from connectors.base import Reply
from connectors.errors import ReplyFailed
from connectors.sms.config import AckOptions
from normalizer.complaint import Complaint
from normalizer.identity import reference_number
from normalizer.timeutil import WIB


class AckPolicy:
    """Decides which new complaints earn an acknowledgement SMS, and its text. Pure.

    Parameters:
        options: the channel's ``ack`` block.
    """

    def __init__(self, options: AckOptions) -> None:
        self.options = options

    @property
    def enabled(self) -> bool:
        """True when acknowledgements are switched on."""
        return self.options.enabled

    def text_for(self, complaint_uuid: object) -> str:
        """The Indonesian acknowledgement text for a complaint."""
        return self.options.text.replace("{ref}", reference_number(complaint_uuid))

    def reply_for(self, complaint: Complaint, in_answer: bool) -> Reply | None:
        """The acknowledgement for a newly accepted complaint, or None.

        Only a sender with a phone number in E.164 gets one (never a short code or
        a masked sender). Whether the sender's window is open is for the spool to
        decide, in the commit transaction.
        """
        number = complaint.reporter.phone
        if not self.enabled or not number or not number.startswith("+"):
            return None
        return Reply(number, self.text_for(complaint.id), self.options.window_seconds, in_answer)


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
        ReplyFailed: Kannel could not be reached or refused it. The message names
            host and path only: the query string carries the password, and so do
            the messages of requests' own exceptions, which are therefore dropped.
    """
    parts = urlsplit(url)
    where = f"{parts.hostname}{':' + str(parts.port) if parts.port else ''}{parts.path}"
    try:
        response = requests.get(
            url,
            params={"username": username, "password": password, "from": sender, "to": number,
                    "text": text, "charset": "UTF-8", "coding": "2" if _needs_ucs2(text) else "0"},
            timeout=timeout,
        )
    except requests.Timeout:
        msg = f"Kannel sendsms at {where}: no answer within {timeout:g}s"
        raise ReplyFailed(msg) from None
    except requests.RequestException as exc:
        msg = f"Kannel sendsms at {where}: {type(exc).__name__}"
        raise ReplyFailed(msg) from None
    if response.status_code >= 300:
        msg = f"Kannel sendsms at {where}: HTTP {response.status_code}"
        raise ReplyFailed(msg)


def _needs_ucs2(text: str) -> bool:
    return any(ord(c) > 0x7E for c in text)
