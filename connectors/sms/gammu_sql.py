"""Gammu SMSD SQL service: read ``inbox`` rows with ``Processed = 'false'``, mark them
processed after the spool commit. SQLite (stdlib) and PostgreSQL (psycopg 3).

Each physical SMS part is one row; the parts of a concatenated message are found
through the concatenation element of their ``UDH`` and reassembled in sequence
order. The text is ``TextDecoded``, or the hex UCS-2 ``Text`` when that is empty.

The provider id is built from the row ``ID`` and its ``ReceivingDateTime``: stable
when a row is read again after a crash (the spool drops the repeat), and not
reused if the Gammu database is recreated and its ids start again at 1.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

import psycopg
import structlog

from connectors.base import IngestResult, RawMessage
from connectors.errors import AuthFailed, Misconfigured, NormaliseError, TransientError
from connectors.sms.backend import SmsBackend
from connectors.sms.config import GammuSqlOptions
from connectors.sms.message import InboundSms
from connectors.sms.multipart import MultipartWaiter, Part
from connectors.sms.outbound import AckPolicy
from connectors.sms.udh import EncodingError, decode_8bit, decode_hex_ucs2, parse_concat
from normalizer.timeutil import utc_now

_BACKEND = "gammu_sql"
COLUMNS = (
    "ID", "ReceivingDateTime", "SenderNumber", "RecipientID", "SMSCNumber",
    "Coding", "Class", "UDH", "Text", "TextDecoded",
)


class _Database:
    """A thin connection wrapper hiding the two drivers' placeholder styles."""

    def __init__(self, options: GammuSqlOptions) -> None:
        self.options = options
        self.is_sqlite = options.dsn.startswith("sqlite:///")
        self.conn: Any = None

    def table(self, name: str) -> str:
        if self.options.db_schema and not self.is_sqlite:
            return f'"{self.options.db_schema}"."{name}"'
        return f'"{name}"'

    def connect(self) -> None:
        if self.conn is not None:
            return
        try:
            if self.is_sqlite:
                path = self.options.dsn[len("sqlite:///"):]
                self.conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=10,
                                            isolation_level=None, check_same_thread=False)
            else:
                extra = {"password": self.options.password.get()} if self.options.password else {}
                self.conn = psycopg.connect(self.options.dsn, autocommit=True, connect_timeout=10, **extra)
        except psycopg.OperationalError as exc:
            text = str(exc)
            if "password authentication failed" in text or "no password supplied" in text:
                raise AuthFailed(f"Gammu database refused the login: {text.strip()}") from exc
            raise TransientError(f"cannot connect to the Gammu database: {text.strip()}") from exc
        except sqlite3.Error as exc:
            raise TransientError(f"cannot open the Gammu database: {exc}") from exc

    def has_table(self, name: str) -> bool:
        """True when table ``name`` exists (in ``db_schema`` or the search path)."""
        try:
            self._run(f"SELECT 1 FROM {self.table(name)} WHERE 1 = 0", (), fetch=True)
        except TransientError as exc:
            if isinstance(exc.__cause__, sqlite3.OperationalError) and "no such table" in str(exc.__cause__):
                return False
            if isinstance(exc.__cause__, psycopg.errors.UndefinedTable):
                return False
            raise
        return True

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self._run(sql, params, fetch=True)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._run(sql, params, fetch=False)

    def _run(self, sql: str, params: Sequence[Any], fetch: bool) -> Any:
        self.connect()
        if not self.is_sqlite:
            sql = sql.replace("?", "%s")
        try:
            cur = self.conn.execute(sql, tuple(params))
            return cur.fetchall() if fetch else None
        except (sqlite3.Error, psycopg.Error) as exc:
            self.close()
            raise TransientError(f"Gammu database error: {exc}") from exc

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except (sqlite3.Error, psycopg.Error, OSError):
                pass
            self.conn = None


def row_text(row: dict[str, Any]) -> str:
    """The text of one inbox row: ``TextDecoded``, else the decoded hex ``Text``.

    Raises:
        EncodingError: ``Text`` cannot be decoded as its ``Coding`` says.
    """
    decoded = row.get("TextDecoded") or ""
    if decoded:
        return decoded
    hex_text = (row.get("Text") or "").strip()
    if not hex_text:
        return ""
    if row.get("Coding") == "8bit":
        try:
            return decode_8bit(bytes.fromhex(hex_text))
        except ValueError as exc:
            raise EncodingError(str(exc)) from None
    return decode_hex_ucs2(hex_text)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return value


def _parse_time(value: Any, tz: timezone) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed


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
        self.db = _Database(options)
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
        return [{c: _jsonable(v) for c, v in zip(COLUMNS, r, strict=True)} for r in self.db.query(sql, params)]

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
            rows = list(assembled.parts)
            ids = [r["ID"] for r in rows]
            yield RawMessage(
                source_id=f"inbox:{'+'.join(map(str, ids))}",
                payload=json.dumps(rows, sort_keys=True, ensure_ascii=False).encode(),
                received_at=utc_now(),
                metadata={"backend": _BACKEND, "ids": ids, "complete": assembled.complete},
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
        texts = []
        for row in rows:
            try:
                texts.append(row_text(row))
            except EncodingError as exc:
                msg = f"inbox row {row.get('ID')}: {exc}"
                raise NormaliseError(msg) from None
        first = rows[0]
        stamp = str(first.get("ReceivingDateTime") or "").replace("-", "").replace(":", "").replace(" ", "T")
        provider_id = "inbox:" + "+".join(str(r.get("ID")) for r in rows) + "@" + stamp
        return InboundSms(
            sender=str(first.get("SenderNumber") or ""),
            text="".join(texts),
            provider_id=provider_id,
            sent_at=_parse_time(first.get("ReceivingDateTime"), self.tz),
            incomplete=not raw.metadata.get("complete", True),
        )

    # -- acknowledge ------------------------------------------------------------------

    def acknowledge(self, results: Sequence[IngestResult]) -> None:
        """Queue acknowledgements in ``outbox``, then mark the rows processed."""
        for number, text in self.ack.due(results):
            try:
                self.send(number, text)
            except TransientError:
                self.log.exception("could not queue the acknowledgement in the Gammu outbox")
        ids = [i for r in results for i in r.raw.metadata.get("ids", ())]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            self.db.execute(
                f"UPDATE {self.db.table(self.options.inbox_table)} SET \"Processed\" = 'true' "
                f'WHERE "ID" IN ({marks})',
                chunk,
            )

    def send(self, number: str, text: str) -> None:
        """Queue one SMS in Gammu's ``outbox`` table."""
        coding = "Default_No_Compression" if all(ord(c) < 0x7F for c in text) else "Unicode_No_Compression"
        self.db.execute(
            f"INSERT INTO {self.db.table(self.options.outbox_table)} "
            '("DestinationNumber", "TextDecoded", "Coding", "CreatorID", "SenderID", "Class") '
            "VALUES (?, ?, ?, ?, ?, -1)",
            (number, text, coding, "kanal", self.options.sender_id),
        )
