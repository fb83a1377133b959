"""Mail that is not a citizen's complaint, recognised from its headers and shape.

Each check returns the drop reason counted in the spool (``dropped.<reason>``):

* ``bounce``: a delivery status notification (``multipart/report;
  report-type=delivery-status``, RFC 3464) or a non-standard bounce carrying
  ``X-Failed-Recipients``.
* ``auto_reply``: ``Auto-Submitted`` other than ``no`` (RFC 3834),
  ``X-Autoreply``, ``X-Autorespond``, or ``Precedence: bulk|junk|list``.
* ``own_address``: sent from the mailbox's own address or one of its aliases
  (copies of our own replies, loops).
"""

from __future__ import annotations

from collections.abc import Collection
from email.message import Message
from email.utils import getaddresses

from connectors.email.mime import header_text

_BULK_PRECEDENCE = frozenset({"bulk", "junk", "list"})


def is_bounce(message: Message) -> bool:
    """True for a delivery status notification."""
    if message.get_content_type() == "multipart/report":
        report_type = (message.get_param("report-type") or "").strip().lower()  # type: ignore[union-attr]
        if report_type in ("delivery-status", "") or _has_part(message, "message/delivery-status"):
            return True
    return header_text(message, "X-Failed-Recipients") is not None


def is_auto_reply(message: Message) -> bool:
    """True for an automatic reply or bulk mail."""
    auto = (header_text(message, "Auto-Submitted") or "").split(";", 1)[0].strip().lower()
    if auto and auto != "no":
        return True
    if (
        header_text(message, "X-Autoreply") is not None
        or header_text(message, "X-Autorespond") is not None
    ):
        return True
    return (header_text(message, "Precedence") or "").strip().lower() in _BULK_PRECEDENCE


def sender_address(message: Message) -> str | None:
    """The bare address in ``From`` (lower-case), or None."""
    value = header_text(message, "From")
    if not value:
        return None
    for _name, address in getaddresses([value]):
        if "@" in address:
            return address.strip().lower()
    return None


def drop_reason(message: Message, own_addresses: Collection[str]) -> str | None:
    """The reason to drop ``message`` on purpose, or None if it is a complaint."""
    if is_bounce(message):
        return "bounce"
    if is_auto_reply(message):
        return "auto_reply"
    sender = sender_address(message)
    if sender and sender in {a.strip().lower() for a in own_addresses}:
        return "own_address"
    return None


def _has_part(message: Message, content_type: str) -> bool:
    return any(part.get_content_type() == content_type for part in message.walk())
