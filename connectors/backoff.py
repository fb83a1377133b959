"""How long a failing channel waits before it tries again: one policy for every pull channel.

Network trouble (a refused connection, a server restart, a 5xx) is retried
quickly: 1, 2, 4, 8 ... seconds with full jitter, never more than
``transient_cap`` (60 s) apart, so a channel notices a server that is back
within about a minute however long the outage was. Refused credentials are
retried slowly (every ``auth_retry``, 5 min): trying a wrong password often gets
an account locked. A revoked token waits for a person (checked every
``reauth_retry``), and a rate limit is waited out as the source asked.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from connectors.errors import AuthFailed, Misconfigured, NeedsReauthorisation, RateLimited

#: Longest wait between retries after network trouble, seconds.
TRANSIENT_CAP = 60.0
#: How often a channel whose credentials were refused is tried again, seconds.
AUTH_RETRY = 300.0
#: How often a channel that needs re-authorisation checks its token again, seconds.
REAUTH_RETRY = 900.0
#: Upper bound on one rate-limit wait (a reset time far in the future is suspicious).
MAX_RATE_LIMIT_WAIT = 3600.0

_MAX_EXPONENT = 30  # 2**30 s is far past any cap; keeps the float finite


@dataclass(frozen=True)
class Backoff:
    """The wait before the next attempt of a failing channel.

    Parameters:
        base: the first transient wait's upper bound, seconds (doubles per failure).
        transient_cap: the longest transient wait, seconds.
        auth_retry: the wait after refused credentials, seconds.
        reauth_retry: the wait while a token needs re-authorisation, seconds.
        rate_limit_cap: the longest rate-limit wait, seconds.
        rng: the source of jitter (seed it in tests).
    """

    base: float = 1.0
    transient_cap: float = TRANSIENT_CAP
    auth_retry: float = AUTH_RETRY
    reauth_retry: float = REAUTH_RETRY
    rate_limit_cap: float = MAX_RATE_LIMIT_WAIT
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, error: BaseException, failures: int = 1) -> float:
        """Seconds to wait after ``error``, the ``failures``-th transient failure in a row."""
        if isinstance(error, RateLimited):
            return min(error.delay, self.rate_limit_cap)
        if isinstance(error, (AuthFailed, Misconfigured)):
            return self.auth_retry
        if isinstance(error, NeedsReauthorisation):
            return self.reauth_retry
        exponent = min(max(1, failures), _MAX_EXPONENT) - 1
        ceiling = min(self.transient_cap, self.base * 2.0**exponent)
        return self.rng.uniform(0.0, ceiling)  # full jitter: channels that failed together spread out
