"""The forwarder's parts on their own: the confirm window's bookkeeping, and the rule
that the forwarder uses no private API of pika (pure, no broker)."""

from __future__ import annotations

import ast
from pathlib import Path

import kanal.forwarder
from kanal.forwarder.window import ConfirmWindow
from kanal.spool import OutboxRow


def _row(seq: int) -> OutboxRow:
    return OutboxRow(seq, f"id-{seq}", "walkin-test", b"{}")


class TestConfirmWindow:
    def test_a_multiple_ack_takes_every_row_up_to_its_tag_in_publish_order(self) -> None:
        window = ConfirmWindow(size=10)
        for seq in range(1, 6):
            window.published(_row(seq))
        assert [r.seq for r in window.confirm(3, multiple=True)] == [1, 2, 3]
        assert len(window) == 2
        assert [r.seq for r in window.confirm(5, multiple=False)] == [5]
        assert [r.seq for r in window.confirm(4, multiple=False)] == [4]
        assert len(window) == 0

    def test_it_has_room_until_size_messages_are_in_flight(self) -> None:
        window = ConfirmWindow(size=2)
        window.published(_row(1))
        assert window.has_room()
        window.published(_row(2))
        assert not window.has_room()
        window.confirm(1, multiple=False)
        assert window.has_room()

    def test_a_returned_message_acked_afterwards_is_not_delivered(self) -> None:
        window = ConfirmWindow(size=10)
        window.published(_row(1))
        window.published(_row(2))
        window.returned("id-2")
        rows = window.confirm(2, multiple=True)
        assert [r.seq for r in window.delivered(rows)] == [1]

    def test_an_unknown_tag_confirms_nothing(self) -> None:
        window = ConfirmWindow(size=10)
        window.published(_row(1))
        assert window.confirm(7, multiple=False) == []
        assert len(window) == 1


def test_the_forwarder_uses_no_private_attribute_of_another_object() -> None:
    """``connection._terminate_stream`` and the like: a private API of pika (or of another
    class of ours) may change in any release without notice."""
    package = Path(kanal.forwarder.__file__).parent
    found = []
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Attribute):
                continue
            name = node.attr
            private = name.startswith("_") and not (name.startswith("__") and name.endswith("__"))
            on_self = isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"}
            if private and not on_self:
                found.append(f"{path.name}:{node.lineno}: .{name}")
    assert not found, "private attributes used: " + ", ".join(found)
