"""Errors a connector raises to tell the runner what state the channel is in.

The runner maps them to the channel states ops see in ``kanal status``; nothing
here stops the process or another channel.
"""

from __future__ import annotations

import ast
import re
import time

# A Python bytes literal inside a message, as str() of a library's error shows a server reply.
_BYTES_REPR = re.compile(r"""\bb('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")


def error_text(error: BaseException | str) -> str:
    """An error as plain text for logs and ``kanal status``.

    Libraries put a server's raw reply into their exceptions, so ``str()`` shows
    ``b'[AUTHENTICATIONFAILED] Authentication failed.'``; each such bytes literal
    becomes its text.
    """
    return _BYTES_REPR.sub(_bytes_literal_text, str(error))


def _bytes_literal_text(match: re.Match[str]) -> str:
    try:
        value = ast.literal_eval(match.group(0))
    except (ValueError, SyntaxError):
        return match.group(0)
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else match.group(0)


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


class ReplyFailed(ChannelError):
    """A reply (acknowledgement) could not be delivered; the ack sender retries it.

    The message is logged and stored: it must name the gateway without secrets
    (host and path, never a URL with a password in its query).
    """


class Misconfigured(ChannelError):
    """The source is reachable but not as the config says (a table or folder missing):
    a person must fix the config or the source. Retried slowly."""


class NormaliseError(Exception):
    """One message cannot be turned into a complaint; it goes to quarantine.

    Parameters:
        message: what is wrong with it, in words an operator can act on.
    """
