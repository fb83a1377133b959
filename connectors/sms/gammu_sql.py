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
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any, Literal

import psycopg
import structlog
from psycopg.adapt import Loader

from connectors.base import IngestResult, RawMessage
from connectors.errors import AuthFailed, ChannelError, Misconfigured, NormaliseError, ReplyFailed, TransientError
from connectors.sms.backend import SmsBackend
from connectors.sms.config import GammuSqlOptions
from connectors.sms.message import InboundSms
from connectors.sms.multipart import MultipartWaiter, Part
from connectors.sms.outbound import AckPolicy
from connectors.sms.udh import EncodingError, decode_8bit, join_parts, parse_concat
from normalizer.timeutil import utc_now

_BACKEND = "gammu_sql"
COLUMNS = (
    "ID", "ReceivingDateTime", "SenderNumber", "RecipientID", "SMSCNumber",
    "Coding", "Class", "UDH", "Text", "TextDecoded",
)


#: Key of a row's columns that are not UTF-8, as hex (a Kanal key, not a Gammu column).
RAW_BYTES = "_bytes"


class _RawText(Loader):
    """Loads PostgreSQL text as the bytes the server sent, so Kanal decodes it itself."""

    def load(self, data: Any) -> bytes:
        return bytes(data)


class _Database:
    """A thin connection wrapper hiding the two drivers' placeholder styles.

    Shared by the channel's poll thread and the ack sender thread, hence the lock.
    """

    def __init__(self, options: GammuSqlOptions) -> None:
        self.options = options
        self.is_sqlite = options.dsn.startswith("sqlite:///")
        self.conn: Any = None
        self._lock = threading.RLock()

    def table(self, name: str) -> str:
        if self.options.db_schema and not self.is_sqlite:
            return f'"{self.options.db_schema}"."{name}"'
        return f'"{name}"'

    def connect(self) -> None:
        with self._lock:
            self._connect()

    def _connect(self) -> None:
        if self.conn is not None:
            return
        try:
            if self.is_sqlite:
                path = self.options.dsn[len("sqlite:///"):]
                self.conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=10,
                                            isolation_level=None, check_same_thread=False)
                self.conn.text_factory = bytes
            else:
                extra = {"password": self.options.password.get()} if self.options.password else {}
                self.conn = psycopg.connect(self.options.dsn, autocommit=True, connect_timeout=10, **extra)
                for name in ("text", "varchar", "bpchar"):
                    self.conn.adapters.register_loader(name, _RawText)
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
        if not self.is_sqlite:
            sql = sql.replace("?", "%s")
        with self._lock:
            self.connect()
            try:
                cur = self.conn.execute(sql, tuple(params))
                return cur.fetchall() if fetch else None
            except (sqlite3.Error, psycopg.Error) as exc:
                self.close()
                raise TransientError(f"Gammu database error: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            if self.conn is not None:
                try:
                    self.conn.close()
                except (sqlite3.Error, psycopg.Error, OSError):
                    pass
                self.conn = None


def _column(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).decode("utf-8")  # UnicodeDecodeError: the caller keeps the bytes
    return value


def read_row(values: Sequence[Any]) -> dict[str, Any]:
    """One inbox row as a JSON-able dict; columns that are not UTF-8 become None, their
    bytes kept as hex under :data:`RAW_BYTES`."""
    row: dict[str, Any] = {}
    for column, value in zip(COLUMNS, values, strict=True):
        try:
            row[column] = _column(value)
        except UnicodeDecodeError:
            row[column] = None
            row.setdefault(RAW_BYTES, {})[column] = bytes(value).hex()
    return row


def row_units(row: dict[str, Any]) -> str:
    """The text of one inbox row, lone UTF-16 surrogates kept (they pair up across parts).

    Raises:
        EncodingError: neither ``Text`` nor ``TextDecoded`` can be read.
    """
    hex_text = (row.get("Text") or "").strip()
    if hex_text:
        try:
            data = bytes.fromhex(hex_text)
        except ValueError:
            msg = "Text is not hex"
            raise EncodingError(msg) from None
        if row.get("Coding") == "8bit":
            return decode_8bit(data)
        if len(data) % 2:
            msg = "Text is not UCS-2 (odd number of bytes)"
            raise EncodingError(msg)
        return data.decode("utf-16-be", "surrogatepass")
    raw = (row.get(RAW_BYTES) or {}).get("TextDecoded")
    if raw is None:
        return row.get("TextDecoded") or ""
    try:
        return bytes.fromhex(raw).decode("utf-8", "surrogatepass")
    except (ValueError, UnicodeDecodeError):
        msg = "TextDecoded is not UTF-8 and there is no hex Text to read instead"
        raise EncodingError(msg) from None


def row_problem(row: dict[str, Any]) -> str | None:
    """Why this row cannot be read on its own, or None."""
    unreadable = sorted(set(row.get(RAW_BYTES) or {}) - {"TextDecoded"})
    if unreadable:
        return f"inbox row {row.get('ID')}: {', '.join(unreadable)} not UTF-8"
    try:
        row_units(row)
    except EncodingError as exc:
        return f"inbox row {row.get('ID')}: {exc}"
    return None


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
            sent_at=_parse_time(first.get("ReceivingDateTime"), self.tz),
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
