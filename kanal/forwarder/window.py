"""The confirm window: the messages a session has published and the broker has not yet
confirmed, by delivery tag, and the ones it returned as unroutable.

Pure bookkeeping, no I/O: the session publishes while the window has room and hands
each confirm to :meth:`ConfirmWindow.confirm`.
"""

from __future__ import annotations

from kanal.spool import OutboxRow


class ConfirmWindow:
    """Rows in flight on one channel in confirm mode.

    Parameters:
        size: most messages in flight at once (``confirm_window``).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._next_tag = 0
        self._in_flight: dict[int, OutboxRow] = {}  # delivery tag -> row, in publish order
        self._returned: set[str] = set()  # message ids the broker returned as unroutable

    def __len__(self) -> int:
        return len(self._in_flight)

    def has_room(self) -> bool:
        """True while fewer than ``size`` messages are in flight."""
        return len(self._in_flight) < self.size

    def published(self, row: OutboxRow) -> None:
        """Record a publish: it takes the channel's next delivery tag (tags count from 1)."""
        self._next_tag += 1
        self._in_flight[self._next_tag] = row

    def returned(self, message_id: str) -> None:
        """Record a ``basic.return``: the broker's later ack of it is no delivery."""
        self._returned.add(message_id)

    def confirm(self, tag: int, multiple: bool) -> list[OutboxRow]:
        """Take the rows a confirm (ack or nack) of ``tag`` covers out of the window."""
        in_flight = self._in_flight
        if not multiple:
            row = in_flight.pop(tag, None)
            return [row] if row is not None else []
        rows = []
        while in_flight:
            first = next(iter(in_flight))
            if first > tag:
                break
            rows.append(in_flight.pop(first))
        return rows

    def delivered(self, rows: list[OutboxRow]) -> list[OutboxRow]:
        """Those of acked ``rows`` that a queue took (not returned as unroutable)."""
        return [r for r in rows if r.id not in self._returned]
