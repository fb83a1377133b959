"""The intake side of the router: decoding intake messages, the broker URL.

A body that is not a valid complaint is a :class:`PoisonMessage`; its reason lists
the fields and what is wrong with them, never their values, because the values may
be personal data and the reason ends up in logs and dead-letter headers.
"""

from __future__ import annotations

from pydantic import ValidationError

from config.models import BrokerConfig
from normalizer.complaint import Complaint
from normalizer.wire import decode_complaint


class PoisonMessage(Exception):
    """The message cannot be routed, whatever we retry (bad body, routing bug)."""


def decode_intake(body: bytes) -> Complaint:
    """Decode an intake message body; raises :class:`PoisonMessage` with a reason that
    names fields and problems but never their values."""
    try:
        return decode_complaint(body)
    except ValidationError as exc:
        # Field locations and messages only: the input may hold personal data.
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}"
                             for e in exc.errors(include_input=False, include_url=False)[:5])
        msg = f"not a valid complaint: {problems}"
        raise PoisonMessage(msg) from None
    except (UnicodeDecodeError, ValueError) as exc:
        msg = f"not a valid complaint: {type(exc).__name__}"
        raise PoisonMessage(msg) from None


def broker_url(broker: BrokerConfig) -> str:
    """The AMQP URL with the ``password`` secret in place (see :meth:`BrokerConfig.connection_url`)."""
    return broker.connection_url()