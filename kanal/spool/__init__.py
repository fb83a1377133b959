"""The durable spool: SQLite in WAL mode, the one place where intake becomes durable.

One transaction stores a batch of complaints, their raw payloads and the channel's
new checkpoint, so a checkpoint can never run ahead of the data. A complaint id
that is already in the ledger is not stored again. The forwarder drains the outbox
in order and deletes a row only once the broker confirmed it; the ledger keeps the
ids for ``retention_days`` so a late re-fetch is still recognised.

Order: the outbox is read in ``seq`` (commit) order, except that a complaint whose
attachments are still being fetched is held back for at most ``fetch_hold_seconds``
and then published, under a new seq, after complaints committed later (see
:mod:`kanal.fetch_queue`).

The package, one responsibility per module:

* :mod:`kanal.spool.store` - :class:`Spool`: the file, the write connection, and the
  writes that are not intake (state, liveness, outbox removal, pruning);
* :mod:`kanal.spool.writer` - intake: the one transaction per batch, group commit;
* :mod:`kanal.spool.readers` - per-thread reader connections and the queries for
  status, metrics, quarantine and the channels;
* :mod:`kanal.spool.schema` - the tables, file permissions, opening a connection;
* :mod:`kanal.spool.records` - the rows the spool hands out.
"""

from kanal.spool.records import OutboxRow, QuarantineEntry, SpoolBusy
from kanal.spool.schema import FILE_MODE, SCHEMA
from kanal.spool.store import Spool

__all__ = ["FILE_MODE", "SCHEMA", "OutboxRow", "QuarantineEntry", "Spool", "SpoolBusy"]
