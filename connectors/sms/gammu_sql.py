"""Gammu SMSD SQL service: read ``inbox`` rows with ``Processed = 'false'``, mark them
processed after the spool commit. SQLite (stdlib) and PostgreSQL (psycopg 3).

Each physical SMS part is one row; the parts of a concatenated message are found
through the concatenation element of their ``UDH`` and reassembled in sequence
order. The text is the hex ``Text`` of each part (UCS-2, or the bytes of an 8-bit
part), else ``TextDecoded``: gammu-smsd 1.42 puts the whole text of parts it linked
itself in the first row's ``TextDecoded`` and leaves the others empty, and encodes
each part's UTF-16 on its own, so an emoji cut at a part boundary becomes two lone
surrogates (bytes that are not UTF-8) which only join up across the rows.

Text columns are read as bytes and decoded here: a row that is not UTF-8 (SQLite and
a SQL_ASCII PostgreSQL store any bytes) must not make the driver fail the whole
batch. Each column that is not UTF-8 travels in the payload as hex under ``_bytes``,
so a quarantined row keeps its exact bytes. A row whose text cannot be read at all
is taken apart from the other parts of its message and quarantined alone.

The provider id is built from the row ``ID`` and its ``ReceivingDateTime``: stable
when a row is read again after a crash (the spool drops the repeat), and not
reused if the Gammu database is recreated and its ids start again at 1.

The connection to either database is :mod:`connectors.sms.gammu_db`; reading one
``inbox`` row (columns, bytes, the text of a part) is :mod:`connectors.sms.gammu_rows`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import timezone
from typing import Any, Literal

import structlog

from connectors.base import IngestResult, RawMessage
from connectors.errors import ChannelError, Misconfigured, NormaliseError, ReplyFailed
from connectors.sms.backend import SmsBackend
from connectors.sms.config import GammuSqlOptions
from connectors.sms.gammu_db import GammuDatabase
from connectors.sms.gammu_rows import COLUMNS, parse_receiving_time, read_row, row_problem, row_units
from connectors.sms.message import InboundSms
from connectors.sms.multipart import MultipartWaiter, Part
from connectors.sms.outbound import AckPolicy
from connectors.sms.udh import EncodingError, join_parts, parse_concat
from normalizer.timeutil import utc_now

_BACKEND = "gammu_sql"


class GammuSqlBackend(SmsBackend):
    """Polls Gammu's ``inbox`` table.

    Parameters:
        options: the ``gammu_sql`` block.
        tz: the gateway's timezone (``ReceivingDateTime`` carries none).
        clock: monotonic seconds for the multipart timeout.
    """

    pulls = True

    def __init__(
        self,
        account: str,
        ack: AckPolicy,
        log: structlog.typing.FilteringBoundLogger,
        options: GammuSqlOptions,
        tz: timezone,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(account, ack, log)
        self.options = options
        self.tz = tz
        self.db = GammuDatabase(options)
        self.waiter = MultipartWaiter(options.multipart_timeout, clock)

    def open(self) -> None:
        """Connect and check the tables this channel will use (errors become channel states).

        Raises:
            Misconfigured: the inbox table, or with acknowledgements on the outbox
                table, is not there: better refused at start than a traceback per ack.
        """
        self.db.connect()
        needed = [("inbox_table", self.options.inbox_table, "messages are read from it")]
        if self.ack.enabled:
            needed.append(("outbox_table", self.options.outbox_table, "ack.enabled queues acknowledgements in it"))
        for option, table, why in needed:
            if not self.db.has_table(table):
                msg = (f"Gammu table {table!r} (gammu_sql.{option}) is not in the database; {why}. "
                       "Create it (connectors/sms/gammu_schema.py has the DDL), fix the option, or turn ack off.")
                raise Misconfigured(msg)

    def close(self) -> None:
        """Disconnect."""
        self.db.close()

    # -- fetch --------------------------------------------------------------------

    def _unprocessed(self) -> list[dict[str, Any]]:
        cols = ", ".join(f'"{c}"' for c in COLUMNS)
        sql = f"SELECT {cols} FROM {self.db.table(self.options.inbox_table)} WHERE \"Processed\" = 'false'"
        params: list[Any] = []
        if self.options.recipient_id is not None:
            sql += ' AND "RecipientID" = ?'
            params.append(self.options.recipient_id)
        sql += f' ORDER BY "ID" LIMIT {int(self.options.batch_rows)}'
        return [read_row(r) for r in self.db.query(sql, params)]

    def fetch(self) -> Iterator[RawMessage]:
        """Yield unprocessed messages, concatenated parts reassembled, in id order."""
        parts: list[Part[dict[str, Any]]] = []
        for row in self._unprocessed():
            try:
                concat = parse_concat(row.get("UDH"))
            except EncodingError:
                concat = None  # decoded (and quarantined) as a message of its own
            if concat is None or concat.total == 1:
                parts.append(Part(("row", row["ID"]), 1, 1, row))
            else:
                key = ("concat", row["SenderNumber"], row["RecipientID"], concat.reference, concat.total)
                parts.append(Part(key, concat.sequence, concat.total, row))
        ready = self.waiter.ready(parts)
        ready.sort(key=lambda a: min(r["ID"] for r in a.parts))
        for assembled in ready:
            bad = [r for r in assembled.parts if row_problem(r) is not None]
            for row in bad:
                yield self._raw([row], complete=True)
            good = [r for r in assembled.parts if r not in bad]
            if good:
                yield self._raw(good, complete=assembled.complete and not bad)

    @staticmethod
    def _raw(rows: list[dict[str, Any]], complete: bool) -> RawMessage:
        ids = [r["ID"] for r in rows]
        return RawMessage(
            source_id=f"inbox:{'+'.join(map(str, ids))}",
            payload=json.dumps(rows, sort_keys=True, ensure_ascii=False).encode(),
            received_at=utc_now(),
            metadata={"backend": _BACKEND, "ids": ids, "complete": complete},
        )

    # -- decode ---------------------------------------------------------------------

    def decode(self, raw: RawMessage) -> InboundSms:
        """Decode the row(s) of one message (pure)."""
        try:
            rows = json.loads(raw.payload)
            if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
                raise ValueError("expected a list of rows")
        except ValueError as exc:
            msg = f"inbox rows are damaged: {exc}"
            raise NormaliseError(msg) from None
        complete = bool(raw.metadata.get("complete", True))
        for row in rows:
            problem = row_problem(row)
            if problem is not None:
                raise NormaliseError(problem)
        try:
            text = join_parts([row_units(r) for r in rows], complete)
        except EncodingError as exc:
            msg = f"inbox rows {'+'.join(str(r.get('ID')) for r in rows)}: {exc}"
            raise NormaliseError(msg) from None
        first = rows[0]
        stamp = str(first.get("ReceivingDateTime") or "").replace("-", "").replace(":", "").replace(" ", "T")
        provider_id = "inbox:" + "+".join(str(r.get("ID")) for r in rows) + "@" + stamp
        return InboundSms(
            sender=str(first.get("SenderNumber") or ""),
            text=text,
            provider_id=provider_id,
            sent_at=parse_receiving_time(first.get("ReceivingDateTime"), self.tz),
            incomplete=not complete,
        )

    # -- acknowledge ------------------------------------------------------------------

    def acknowledge(self, results: Sequence[IngestResult]) -> None:
        """Mark the rows processed."""
        ids = [i for r in results for i in r.raw.metadata.get("ids", ())]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            self.db.execute(
                f"UPDATE {self.db.table(self.options.inbox_table)} SET \"Processed\" = 'true' "
                f'WHERE "ID" IN ({marks})',
                chunk,
            )

    def reply_route(self) -> Literal["answer", "outbox"] | None:
        """Rows in Gammu's ``outbox`` table."""
        return "outbox"

    def send(self, number: str, text: str) -> None:
        """Queue one SMS in Gammu's ``outbox`` table (ack sender thread)."""
        coding = "Default_No_Compression" if all(ord(c) < 0x7F for c in text) else "Unicode_No_Compression"
        try:
            self.db.execute(
                f"INSERT INTO {self.db.table(self.options.outbox_table)} "
                '("DestinationNumber", "TextDecoded", "Coding", "CreatorID", "SenderID", "Class") '
                "VALUES (?, ?, ?, ?, ?, -1)",
                (number, text, coding, "kanal", self.options.sender_id),
            )
        except ChannelError as exc:
            raise ReplyFailed(str(exc)) from None
