"""The connection to Gammu SMSD's database: SQLite (stdlib) or PostgreSQL (psycopg 3).

:class:`GammuDatabase` hides the two drivers' placeholder styles and maps their
errors to :mod:`connectors.errors`. Text columns come back as bytes (Kanal decodes
them itself, see :mod:`connectors.sms.gammu_rows`), so one row that is not UTF-8
cannot make the driver fail a whole batch.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.adapt import Loader

from connectors.errors import AuthFailed, TransientError
from connectors.sms.config import GammuSqlOptions


class _RawText(Loader):
    """Loads PostgreSQL text as the bytes the server sent, so Kanal decodes it itself."""

    def load(self, data: Any) -> bytes:
        return bytes(data)


class GammuDatabase:
    """A thin connection wrapper hiding the two drivers' placeholder styles.

    Shared by the channel's poll thread and the ack sender thread, hence the lock.
    """

    def __init__(self, options: GammuSqlOptions) -> None:
        self.options = options
        self.is_sqlite = options.dsn.startswith("sqlite:///")
        self.conn: Any = None
        self._lock = threading.RLock()

    def table(self, name: str) -> str:
        """Table ``name`` quoted for SQL, in ``db_schema`` when one is set (PostgreSQL)."""
        if self.options.db_schema and not self.is_sqlite:
            return f'"{self.options.db_schema}"."{name}"'
        return f'"{name}"'

    def connect(self) -> None:
        """Connect unless connected.

        Raises:
            AuthFailed: PostgreSQL refused the login.
            TransientError: the database cannot be reached or opened.
        """
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
        """Rows of ``sql`` (``?`` placeholders); a driver error closes the connection
        and raises :class:`TransientError`."""
        return self._run(sql, params, fetch=True)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run ``sql`` (``?`` placeholders, autocommit); errors as :meth:`query`."""
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
        """Disconnect (the next query connects again)."""
        with self._lock:
            if self.conn is not None:
                try:
                    self.conn.close()
                except (sqlite3.Error, psycopg.Error, OSError):
                    pass
                self.conn = None
