"""Threading replies before a commit: which complaint a new one answers.

A connector names the message it answers in one of two ways. With
``Accept.replies_to`` it gives the provider message id of that message (e-mail,
whose complaint ids also rest on the mail's content); :func:`resolve_replies` turns
it into ``in_reply_to``, the complaint first taken in under that provider id, in the
spool or earlier in the same batch. With ``in_reply_to`` set directly it names the
complaint id; :func:`link_replies` keeps that only when Kanal took the complaint in.
"""

from __future__ import annotations

import dataclasses
import uuid

from connectors.base import Outcome
from connectors.spool_protocol import SpoolWriter


def resolve_replies(spool: SpoolWriter, channel: str, outcomes: list[Outcome]) -> list[Outcome]:
    """Set ``in_reply_to`` from ``replies_to``: the complaint first taken in under that
    provider id by ``channel``, in the spool or earlier in this batch."""
    wanted = {o.replies_to for o in outcomes if o.replies_to and o.complaint}
    if not wanted:
        return outcomes
    found = spool.ids_by_provider_id(channel, wanted)
    resolved = []
    for outcome in outcomes:
        complaint = outcome.complaint
        if complaint is not None and outcome.replies_to:
            parent = found.get(outcome.replies_to)
            if parent is not None and parent != str(complaint.id):
                complaint = complaint.model_copy(update={"in_reply_to": uuid.UUID(parent)})
                outcome = dataclasses.replace(outcome, complaint=complaint, body=None, replies_to=None)
        if complaint is not None and complaint.provider_message_id in wanted:
            found.setdefault(complaint.provider_message_id, str(complaint.id))
        resolved.append(outcome)
    return resolved


def link_replies(spool: SpoolWriter, outcomes: list[Outcome]) -> list[Outcome]:
    """Keep ``in_reply_to`` only when it names a complaint Kanal took in (in the spool
    or in this batch)."""
    wanted = {str(o.complaint.in_reply_to) for o in outcomes if o.complaint and o.complaint.in_reply_to}
    if not wanted:
        return outcomes
    known = spool.known_ids(wanted) | {str(o.complaint.id) for o in outcomes if o.complaint}
    linked = []
    for outcome in outcomes:
        complaint = outcome.complaint
        if complaint and complaint.in_reply_to and str(complaint.in_reply_to) not in known:
            complaint = complaint.model_copy(update={"in_reply_to": None})
            outcome = dataclasses.replace(outcome, complaint=complaint, body=None, replies_to=None)
        linked.append(outcome)
    return linked
