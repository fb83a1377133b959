"""Gammu SMSD ``files`` service: read the inbox folder, move handled files to done.

SMSD names inbox files ``IN<YYYYMMDD>_<HHMMSS>_<serial>_<sender>_<part>.<ext>``:
``serial`` tells apart messages received in the same second, ``part`` is the
0-based part number of a multipart message (each part its own file in the
``standard`` and ``unicode`` formats), ``ext`` is ``txt`` or ``bin`` (8-bit).
Content is UTF-8 text (``standard``), UTF-16BE behind a FE FF byte order mark
(``unicode``) or raw bytes (``.bin``).

A file that cannot be read (an I/O error, no permission) or decoded is taken apart
from the other parts of its message and quarantined alone; the rest of the message
is taken, flagged incomplete, and the rest of the inbox goes on.

A file is handled exactly once from Kanal's point of view: its name is the
provider id, the spool drops a second complaint with the same id, and the file
is moved to ``done_path`` only after the spool commit. A crash between the two
re-offers the file, which the spool absorbs as a duplicate, and then moves it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

import structlog

from connectors.base import IngestResult, RawMessage
from connectors.errors import NormaliseError, ReplyFailed, TransientError
from connectors.sms.backend import SmsBackend
from connectors.sms.config import GammuFilesOptions
from connectors.sms.message import InboundSms
from connectors.sms.multipart import MultipartWaiter, Part
from connectors.sms.outbound import AckPolicy, write_gammu_outbox_file
from connectors.sms.udh import EncodingError, decode_8bit, join_parts
from normalizer.timeutil import utc_now

_NAME = re.compile(r"^IN(\d{8})_(\d{6})_(\d{2,})_(.+)_(\d{2,})\.(txt|bin|smsbackup)$")
_BACKEND = "gammu_files"


@dataclass(frozen=True, slots=True)
class InboxName:
    """The parts of an SMSD inbox file name."""

    name: str
    date: str
    time: str
    serial: str
    sender: str
    part: int  # 0-based
    extension: str

    @property
    def group(self) -> tuple[str, str, str, str]:
        """What the parts of one multipart message share."""
        return (self.date, self.time, self.serial, self.sender)

    def received_at(self, tz: timezone) -> datetime:
        """The receive time in the name, read in the gateway's timezone."""
        return datetime.strptime(self.date + self.time, "%Y%m%d%H%M%S").replace(tzinfo=tz)


def parse_inbox_name(name: str) -> InboxName | None:
    """Parse an SMSD inbox file name; None if it is not one."""
    match = _NAME.match(name)
    if match is None:
        return None
    date, hms, serial, sender, part, ext = match.groups()
    return InboxName(name, date, hms, serial, sender, int(part), ext)


def decode_content(data: bytes, extension: str, inbox_format: str) -> str:
    """Decode one inbox file's bytes; a UTF-16 surrogate cut at the part's edge is kept
    alone (``surrogatepass``) for :func:`connectors.sms.udh.join_parts` to pair up.

    Raises:
        EncodingError: the bytes are not what the format says.
    """
    if extension == "bin":
        return decode_8bit(data)
    if extension != "txt":
        msg = f"SMSD {extension} files (InboxFormat=detail) are not supported; use standard or unicode"
        raise EncodingError(msg)
    if inbox_format == "unicode" or (inbox_format == "auto" and data.startswith(b"\xfe\xff")):
        data = data.removeprefix(b"\xfe\xff")
        if len(data) % 2:
            msg = "not valid UTF-16BE: odd number of bytes"
            raise EncodingError(msg)
        return data.decode("utf-16-be", "surrogatepass")
    try:
        return data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        msg = "file is not UTF-8 text (is SMSD's InboxFormat unicode?)"
        raise EncodingError(msg) from None


class GammuFilesBackend(SmsBackend):
    """Reads SMSD's inbox folder.

    Parameters:
        options: the ``gammu_files`` block.
        tz: the gateway's timezone (times in file names carry none).
        clock: monotonic seconds for the multipart timeout; wall: Unix time for file ages.
    """

    pulls = True

    def __init__(
        self,
        account: str,
        ack: AckPolicy,
        log: structlog.typing.FilteringBoundLogger,
        options: GammuFilesOptions,
        tz: timezone,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(account, ack, log)
        self.options = options
        self.tz = tz
        self.wall = wall
        self.waiter = MultipartWaiter(options.multipart_timeout, clock)

    def open(self) -> None:
        """Create the done folder; the inbox must exist (SMSD creates it)."""
        self.options.done_path.mkdir(parents=True, exist_ok=True)
        if not self.options.inbox_path.is_dir():
            msg = f"Gammu inbox folder {self.options.inbox_path} does not exist"
            raise TransientError(msg)

    # -- fetch ------------------------------------------------------------------

    def _scan(self) -> tuple[list[Part[InboxName]], dict[tuple, float], list[str]]:
        parts: list[Part[InboxName]] = []
        newest: dict[tuple, float] = {}
        strays: list[str] = []
        try:
            entries = list(os.scandir(self.options.inbox_path))
        except OSError as exc:
            msg = f"cannot read Gammu inbox {self.options.inbox_path}: {exc.strerror}"
            raise TransientError(msg) from exc
        for entry in entries:
            if not entry.name.startswith("IN") or not entry.is_file():
                continue
            try:
                mtime = entry.stat().st_mtime
            except FileNotFoundError:
                continue
            parsed = parse_inbox_name(entry.name)
            if parsed is None:
                if self.wall() - mtime >= self.options.settle_seconds:
                    strays.append(entry.name)
                continue
            newest[parsed.group] = max(newest.get(parsed.group, 0.0), mtime)
            parts.append(Part(parsed.group, parsed.part + 1, None, parsed))
        return parts, newest, strays

    def fetch(self) -> Iterator[RawMessage]:
        """Yield settled messages, multipart ones reassembled, oldest first."""
        parts, newest, strays = self._scan()
        settled_before = self.wall() - self.options.settle_seconds
        ready = [a for a in self.waiter.ready(parts) if newest[a.parts[0].group] <= settled_before]
        ready.sort(key=lambda a: (a.parts[0].date, a.parts[0].time, a.parts[0].serial, a.parts[0].part))
        for name in sorted(strays):
            yield from self._read([name], complete=True)
        for assembled in ready:
            yield from self._read([p.name for p in assembled.parts], assembled.complete)

    def _read(self, names: list[str], complete: bool) -> Iterator[RawMessage]:
        """The message made of ``names``; a file that cannot be read or decoded comes
        out as a message of its own (quarantined by :meth:`decode`), the rest incomplete."""
        blobs: dict[str, bytes] = {}
        for name in names:
            try:
                data = (self.options.inbox_path / name).read_bytes()
            except FileNotFoundError:
                return  # moved away meanwhile; the next scan decides again
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
                # No bytes to keep: the payload names the file, so each one is its own quarantine entry.
                note = json.dumps({"file": name, "unreadable": reason}, sort_keys=True).encode()
                yield self._raw([name], [note], True, unreadable=reason)
                continue
            blobs[name] = data
        if len(names) > 1:
            for name in [n for n in blobs if self._undecodable(n, blobs[n])]:
                yield self._raw([name], [blobs.pop(name)], True)
        if blobs:
            kept = [n for n in names if n in blobs]
            yield self._raw(kept, [blobs[n] for n in kept], complete and len(kept) == len(names))

    def _undecodable(self, name: str, data: bytes) -> bool:
        info = parse_inbox_name(name)
        try:
            decode_content(data, info.extension, self.options.inbox_format)  # type: ignore[union-attr]
        except EncodingError:
            return True
        return False

    @staticmethod
    def _raw(names: list[str], blobs: list[bytes], complete: bool, unreadable: str | None = None) -> RawMessage:
        if len(names) == 1:
            payload = blobs[0]
        else:
            parts = [{"file": n, "data": base64.b64encode(b).decode()} for n, b in zip(names, blobs, strict=True)]
            payload = json.dumps({"parts": parts}, sort_keys=True).encode()
        metadata = {"backend": _BACKEND, "files": names, "complete": complete}
        if unreadable is not None:
            metadata["unreadable"] = unreadable
        return RawMessage(source_id=names[0], payload=payload, received_at=utc_now(), metadata=metadata)

    # -- decode -------------------------------------------------------------------

    def decode(self, raw: RawMessage) -> InboundSms:
        """Decode the file(s) of one message (pure)."""
        names: list[str] = list(raw.metadata.get("files") or [raw.source_id])
        complete = bool(raw.metadata.get("complete", True))
        if raw.metadata.get("unreadable"):
            msg = f"cannot read {names[0]}: {raw.metadata['unreadable']}"
            raise NormaliseError(msg)
        if len(names) == 1:
            blobs = [raw.payload]
        else:
            try:
                envelope = json.loads(raw.payload)
                blobs = [base64.b64decode(p["data"]) for p in envelope["parts"]]
            except (ValueError, KeyError, TypeError) as exc:
                msg = f"multipart envelope is damaged: {exc}"
                raise NormaliseError(msg) from None
        parsed = [parse_inbox_name(n) for n in names]
        first = parsed[0]
        if first is None or any(p is None for p in parsed):
            msg = f"{names[0]!r} is not a Gammu inbox file name (IN<date>_<time>_<serial>_<sender>_<part>.<ext>)"
            raise NormaliseError(msg)
        texts = []
        for info, data in zip(parsed, blobs, strict=True):
            try:
                texts.append(decode_content(data, info.extension, self.options.inbox_format))  # type: ignore[union-attr]
            except EncodingError as exc:
                msg = f"{info.name}: {exc}"  # type: ignore[union-attr]
                raise NormaliseError(msg) from None
        try:
            text = join_parts(texts, complete)
        except EncodingError as exc:
            msg = f"{names[0]}: {exc}"
            raise NormaliseError(msg) from None
        provider_id = first.name if len(names) == 1 else f"{first.name}#{len(names)}"
        return InboundSms(
            sender=first.sender,
            text=text,
            provider_id=provider_id,
            sent_at=first.received_at(self.tz),
            incomplete=not complete,
        )

    # -- acknowledge ------------------------------------------------------------------

    def reply_route(self) -> Literal["answer", "outbox"] | None:
        """OUT files in SMSD's outbox folder, when ``outbox_path`` is set."""
        return "outbox" if self.options.outbox_path is not None else None

    def send(self, number: str, text: str) -> None:
        """Write one acknowledgement as an SMSD outbox file (ack sender thread)."""
        if self.options.outbox_path is None:
            msg = "gammu_files has no outbox_path"
            raise ReplyFailed(msg)
        try:
            write_gammu_outbox_file(self.options.outbox_path, number, text, self.options.outbox_format)
        except OSError as exc:
            msg = f"cannot write to the Gammu outbox folder: {exc}"
            raise ReplyFailed(msg) from None

    def acknowledge(self, results: Sequence[IngestResult]) -> None:
        """Move every handled file to the done folder."""
        for result in results:
            for name in result.raw.metadata.get("files") or [result.raw.source_id]:
                source = self.options.inbox_path / name
                try:
                    os.replace(source, self.options.done_path / name)
                except FileNotFoundError:
                    if not (self.options.done_path / name).exists():
                        self.log.warning("inbox file vanished before it was moved", file=name)
