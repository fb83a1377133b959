"""The retry policy every pull channel shares: quick after network trouble, slow after refused credentials."""

from __future__ import annotations

import random
import time

from connectors.backoff import Backoff
from connectors.errors import AuthFailed, NeedsReauthorisation, RateLimited, TransientError


def waits(policy: Backoff, error: BaseException, failures: range) -> list[float]:
    return [policy.delay(error, n) for n in failures]


def test_after_a_long_outage_the_next_attempt_is_at_most_a_minute_away():
    policy = Backoff(rng=random.Random(11))
    for error in (TransientError("IMAP connect failed"), ConnectionRefusedError(), RuntimeError("bug")):
        delays = waits(policy, error, range(1, 2001))
        assert max(delays) <= 60.0
        assert max(delays[20:]) > 45.0, "long outages still spread their retries up to the cap"


def test_transient_waits_grow_from_about_a_second():
    policy = Backoff(rng=random.Random(3))
    assert all(policy.delay(TransientError("x"), 1) <= 1.0 for _ in range(100))
    assert all(policy.delay(TransientError("x"), 4) <= 8.0 for _ in range(100))
    assert max(policy.delay(TransientError("x"), 4) for _ in range(100)) > 4.0


def test_a_ten_minute_outage_is_noticed_within_a_minute():
    policy = Backoff(rng=random.Random(5))
    outage, elapsed, failures = 600.0, 0.0, 0
    while elapsed < outage:  # the attempts made while the server is down
        failures += 1
        elapsed += policy.delay(TransientError("down"), failures)
    assert elapsed - outage <= 60.0


def test_refused_credentials_keep_the_long_wait():
    policy = Backoff()
    assert policy.delay(AuthFailed("IMAP login refused"), 1) == 300.0
    assert policy.delay(AuthFailed("IMAP login refused"), 50) == 300.0
    assert policy.delay(NeedsReauthorisation("token revoked"), 1) == 900.0


def test_a_rate_limit_is_waited_out_but_not_for_ever():
    policy = Backoff()
    assert 119.0 < policy.delay(RateLimited("429", time.time() + 120), 1) <= 120.0
    assert policy.delay(RateLimited("429", time.time() + 86_400), 1) == 3600.0


def test_a_huge_failure_count_stays_a_finite_wait():
    assert 0.0 <= Backoff().delay(TransientError("x"), 10**9) <= 60.0
