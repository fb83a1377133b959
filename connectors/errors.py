"""Errors a connector raises to tell the runner what state the channel is in.

The runner maps them to the channel states ops see in ``kanal status``; nothing
here stops the process or another channel.
"""

from __future__ import annotations

import time


class ChannelError(Exception):
    """Base class for channel-level failures (not one bad message: see NormaliseError)."""


class TransientError(ChannelError):
    """Network trouble, a 5xx, a dropped connection: retry with backoff and jitter."""


class RateLimited(ChannelError):
    """The source asked us to wait. ``retry_at`` is a Unix time."""

    def __init__(self, message: str, retry_at: float) -> None:
        super().__init__(message)
        self.retry_at = retry_at

    @property
    def delay(self) -> float:
        """Seconds from now until ``retry_at`` (never negative)."""
        return max(0.0, self.retry_at - time.time())


class AuthFailed(ChannelError):
    """Credentials rejected (401/403, IMAP login refused). Retried slowly."""


class NeedsReauthorisation(ChannelError):
    """The token was revoked or expired (Graph error 190): a person must re-authorise."""


class Misconfigured(ChannelError):
    """The source is reachable but not as the config says (a table or folder missing):
    a person must fix the config or the source. Retried slowly."""


class NormaliseError(Exception):
    """One message cannot be turned into a complaint; it goes to quarantine.

    Parameters:
        message: what is wrong with it, in words an operator can act on.
    """
