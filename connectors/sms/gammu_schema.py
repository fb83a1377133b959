"""Gammu SMSD's ``inbox`` and ``outbox`` tables, schema version 17 (gammu-smsd 1.42,
as packaged in Debian 12), for SQLite and PostgreSQL.

Written from the documented column list (names, types, defaults, the ``Coding``
values); used by the tests and by ops who want a scratch database to try the
connector against. A production database is created by Gammu's own scripts.
"""

from __future__ import annotations

CODINGS = (
    "Default_No_Compression",
    "Unicode_No_Compression",
    "8bit",
    "Default_Compression",
    "Unicode_Compression",
)
_CODING_CHECK = "CHECK (\"Coding\" IN (" + ", ".join(f"'{c}'" for c in CODINGS) + "))"

SQLITE_DDL = f"""
CREATE TABLE IF NOT EXISTS inbox (
    "UpdatedInDB" NUMERIC NOT NULL DEFAULT (datetime('now')),
    "ReceivingDateTime" NUMERIC NOT NULL DEFAULT (datetime('now')),
    "Text" TEXT NOT NULL,
    "SenderNumber" TEXT NOT NULL DEFAULT '',
    "Coding" TEXT NOT NULL DEFAULT 'Default_No_Compression',
    "UDH" TEXT NOT NULL,
    "SMSCNumber" TEXT NOT NULL DEFAULT '',
    "Class" INTEGER NOT NULL DEFAULT -1,
    "TextDecoded" TEXT NOT NULL DEFAULT '',
    "ID" INTEGER PRIMARY KEY AUTOINCREMENT,
    "RecipientID" TEXT NOT NULL,
    "Processed" TEXT NOT NULL DEFAULT 'false',
    "Status" INTEGER NOT NULL DEFAULT -1,
    {_CODING_CHECK}
);
CREATE TABLE IF NOT EXISTS outbox (
    "UpdatedInDB" NUMERIC NOT NULL DEFAULT (datetime('now')),
    "InsertIntoDB" NUMERIC NOT NULL DEFAULT (datetime('now')),
    "SendingDateTime" NUMERIC NOT NULL DEFAULT (datetime('now')),
    "SendBefore" time NOT NULL DEFAULT '23:59:59',
    "SendAfter" time NOT NULL DEFAULT '00:00:00',
    "Text" TEXT,
    "DestinationNumber" TEXT NOT NULL DEFAULT '',
    "Coding" TEXT NOT NULL DEFAULT 'Default_No_Compression',
    "UDH" TEXT,
    "Class" INTEGER DEFAULT -1,
    "TextDecoded" TEXT NOT NULL DEFAULT '',
    "ID" INTEGER PRIMARY KEY AUTOINCREMENT,
    "MultiPart" TEXT NOT NULL DEFAULT 'false',
    "RelativeValidity" INTEGER DEFAULT -1,
    "SenderID" TEXT,
    "SendingTimeOut" NUMERIC NOT NULL DEFAULT (datetime('now')),
    "DeliveryReport" TEXT DEFAULT 'default',
    "CreatorID" TEXT NOT NULL,
    "Retries" INTEGER DEFAULT 0,
    "Priority" INTEGER DEFAULT 0,
    "Status" TEXT NOT NULL DEFAULT 'Reserved',
    "StatusCode" INTEGER NOT NULL DEFAULT -1,
    {_CODING_CHECK}
);
"""


def postgres_ddl(schema: str | None = None) -> str:
    """The v17 ``inbox`` and ``outbox`` tables for PostgreSQL, optionally in ``schema``."""
    prefix = f'"{schema}".' if schema else ""
    return f"""
CREATE TABLE IF NOT EXISTS {prefix}inbox (
    "UpdatedInDB" timestamp(0) WITHOUT time zone NOT NULL DEFAULT LOCALTIMESTAMP(0),
    "ReceivingDateTime" timestamp(0) WITHOUT time zone NOT NULL DEFAULT LOCALTIMESTAMP(0),
    "Text" text NOT NULL,
    "SenderNumber" varchar(20) NOT NULL DEFAULT '',
    "Coding" varchar(255) NOT NULL DEFAULT 'Default_No_Compression',
    "UDH" text NOT NULL,
    "SMSCNumber" varchar(20) NOT NULL DEFAULT '',
    "Class" integer NOT NULL DEFAULT -1,
    "TextDecoded" text NOT NULL DEFAULT '',
    "ID" serial PRIMARY KEY,
    "RecipientID" text NOT NULL,
    "Processed" boolean NOT NULL DEFAULT false,
    "Status" integer NOT NULL DEFAULT -1,
    {_CODING_CHECK}
);
CREATE TABLE IF NOT EXISTS {prefix}outbox (
    "UpdatedInDB" timestamp(0) WITHOUT time zone NOT NULL DEFAULT LOCALTIMESTAMP(0),
    "InsertIntoDB" timestamp(0) WITHOUT time zone NOT NULL DEFAULT LOCALTIMESTAMP(0),
    "SendingDateTime" timestamp NOT NULL DEFAULT LOCALTIMESTAMP(0),
    "SendBefore" time NOT NULL DEFAULT '23:59:59',
    "SendAfter" time NOT NULL DEFAULT '00:00:00',
    "Text" text,
    "DestinationNumber" varchar(20) NOT NULL DEFAULT '',
    "Coding" varchar(255) NOT NULL DEFAULT 'Default_No_Compression',
    "UDH" text,
    "Class" integer DEFAULT -1,
    "TextDecoded" text NOT NULL DEFAULT '',
    "ID" serial PRIMARY KEY,
    "MultiPart" boolean NOT NULL DEFAULT false,
    "RelativeValidity" integer DEFAULT -1,
    "SenderID" varchar(255),
    "SendingTimeOut" timestamp(0) WITHOUT time zone DEFAULT LOCALTIMESTAMP(0),
    "DeliveryReport" varchar(10) DEFAULT 'default',
    "CreatorID" text NOT NULL,
    "Retries" integer DEFAULT 0,
    "Priority" integer DEFAULT 0,
    "Status" varchar(255) NOT NULL DEFAULT 'Reserved',
    "StatusCode" integer NOT NULL DEFAULT -1,
    {_CODING_CHECK}
);
"""
