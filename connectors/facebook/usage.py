"""Graph API usage and throttling: when to slow the poll down and when to stop asking.

Meta reports how much of a quota is used in response headers, as percentages:
``X-App-Usage`` and ``X-Page-Usage`` (``{"call_count": 28, "total_time": 25,
"total_cputime": 9}``) and, for Page tokens, ``X-Business-Use-Case-Usage``
(``{"<object id>": [{"type": "pages", "call_count": 100, ...,
"estimated_time_to_regain_access": 12}]}``, the last value in minutes). A
throttling error (codes 4, 17, 32, 613, 80001) means the quota is already spent.

A pause lasts what Meta says, counted from the response that said it: the
``estimated_time_to_regain_access`` of the newest usage headers. When Meta names
no time (``X-App-Usage`` has none, or the figure is 0) the pause is a short default
(``throttle_wait_seconds``, 60 s), so a burst of throttles costs minutes, not hours.

:class:`UsageTracker` reads both and answers two questions for the connector:
may it call the API now (:meth:`UsageTracker.check`), and how long should it
wait before the next poll (:meth:`UsageTracker.poll_delay`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from connectors.errors import RateLimited

#: Graph error codes that mean "you are throttled, back off" (80002 and 80006 are the
#: Instagram and Messenger business-use-case twins of 80001).
THROTTLING_CODES = frozenset({4, 17, 32, 341, 613, 80001, 80002, 80006})
#: Usage headers read from every response (case-insensitive in requests).
USAGE_HEADERS = ("X-App-Usage", "X-Page-Usage", "X-Business-Use-Case-Usage")
#: At 100 % usage the poll interval is this many times longer, short of a full stop.
MAX_STRETCH = 10.0
#: A usage figure older than this no longer says anything (Meta's window is one hour).
USAGE_TTL = 3600.0
#: Pause after a throttling signal that names no time, seconds (the config's default).
DEFAULT_THROTTLE_WAIT = 60.0


class UnreadableHeader(ValueError):
    """A usage header that is not the JSON object Meta documents."""


def read_usage_header(raw: str) -> tuple[list[float], float]:
    """The usage percentages and the regain time (minutes) in one header value.

    Raises:
        UnreadableHeader: not JSON, not an object, or a number out of float range.
    """
    try:
        value = json.loads(raw)
        if not isinstance(value, Mapping):
            msg = f"a JSON {type(value).__name__}, not an object"
            raise UnreadableHeader(msg)
        return _percentages(value), _regain_minutes(value)
    except UnreadableHeader:
        raise
    except (ValueError, OverflowError) as exc:  # JSONDecodeError is a ValueError
        raise UnreadableHeader(type(exc).__name__) from None


def _percentages(value: Any) -> list[float]:
    """Every usage percentage in one header value (flat or business-use-case shape)."""
    out: list[float] = []
    if isinstance(value, Mapping):
        for key in ("call_count", "total_time", "total_cputime", "acc_id_util_pct"):
            number = value.get(key)
            if isinstance(number, (int, float)):
                out.append(float(number))
        for nested in value.values():
            if isinstance(nested, (list, Mapping)):
                out.extend(_percentages(nested))
    elif isinstance(value, list):
        for item in value:
            out.extend(_percentages(item))
    return out


def _regain_minutes(value: Any) -> float:
    """The longest ``estimated_time_to_regain_access`` in a header value, in minutes."""
    best = 0.0
    if isinstance(value, Mapping):
        number = value.get("estimated_time_to_regain_access")
        if isinstance(number, (int, float)):
            best = max(best, float(number))
        for nested in value.values():
            if isinstance(nested, (list, Mapping)):
                best = max(best, _regain_minutes(nested))
    elif isinstance(value, list):
        for item in value:
            best = max(best, _regain_minutes(item))
    return best


class UsageTracker:
    """Keeps the latest usage figures and the throttle deadline of one Page token.

    Parameters:
        slow_down_at: usage percentage above which polls are spaced out.
        throttle_wait: seconds to pause after a throttling signal that names no time.
        clock: Unix time source (tests pass their own).
        log: where an unreadable usage header is reported (once per header name).
    """

    def __init__(
        self,
        slow_down_at: float = 75,
        throttle_wait: float = DEFAULT_THROTTLE_WAIT,
        clock: Callable[[], float] = time.time,
        log: Any = None,
    ) -> None:
        self.slow_down_at = slow_down_at
        self.throttle_wait = throttle_wait
        self.clock = clock
        self.log = log if log is not None else structlog.get_logger("kanal.facebook")
        self._unreadable: set[str] = set()
        self.percent = 0.0
        self.regain_minutes = 0.0
        self.observed_at = 0.0
        self.blocked_until = 0.0
        self.block_reason = ""
        self.served_version: str | None = None

    # -- input --------------------------------------------------------------

    def observe_headers(self, headers: Mapping[str, str]) -> None:
        """Read the usage headers of one Graph response (case-insensitive mapping)."""
        version = headers.get("facebook-api-version")
        if version:
            self.served_version = version
        figures: list[float] = []
        regain = 0.0
        seen = False
        for name in USAGE_HEADERS:
            raw = headers.get(name)
            if not raw:
                continue
            try:
                percentages, minutes = read_usage_header(raw)
            except UnreadableHeader as exc:
                if name not in self._unreadable:  # the value may name business ids: not logged
                    self._unreadable.add(name)
                    self.log.warning("unreadable Graph API usage header ignored", header=name, error=str(exc))
                continue
            seen = True
            figures.extend(percentages)
            regain = max(regain, minutes)
        if not seen:
            return
        self.percent = max(figures, default=0.0)
        self.regain_minutes = regain
        self.observed_at = self.clock()
        if self.percent >= 100 or regain > 0:
            self.block(f"usage at {self.percent:.0f}%", regain * 60 if regain else None)

    def response_hook(self, response: Any, *_args: Any, **_kwargs: Any) -> Any:
        """``requests`` response hook: facebook-sdk hides headers, the session does not."""
        self.observe_headers(response.headers)
        return response

    def block(self, reason: str, seconds: float | None = None) -> float:
        """Stop calling the API for ``seconds`` (default ``throttle_wait``); returns the Unix
        time access is expected back. A longer existing block is kept."""
        wait = seconds if seconds and seconds > 0 else self.throttle_wait
        until = self.clock() + wait
        if until > self.blocked_until:
            self.blocked_until = until
            self.block_reason = reason
        return self.blocked_until

    def throttled_error(self, code: int, message: str) -> RateLimited:
        """Record a throttling error from the API and return the error to raise."""
        regain = self.observed_at + self.regain_minutes * 60 - self.clock() if self.regain_minutes else 0
        retry_at = self.block(f"Graph error {code}: {message}", regain if regain > 0 else None)
        return RateLimited(f"Graph API throttling (code {code}): {message}", retry_at)

    # -- questions ------------------------------------------------------------

    def _fresh(self) -> bool:
        return self.observed_at > 0 and self.clock() - self.observed_at < USAGE_TTL

    @property
    def blocked(self) -> bool:
        """True while the API must not be called."""
        return self.clock() < self.blocked_until

    def check(self) -> None:
        """Raise :class:`RateLimited` while access has not been regained."""
        if self.blocked:
            msg = f"Graph API access paused ({self.block_reason})"
            raise RateLimited(msg, self.blocked_until)

    def poll_delay(self, base: float) -> float:
        """Seconds to wait before the next poll, given the configured interval ``base``.

        Below ``slow_down_at`` percent it is ``base``; above, it stretches linearly up
        to ``MAX_STRETCH`` times at 100 %; while blocked it is at least the time left.
        """
        delay = base
        if self._fresh() and self.percent > self.slow_down_at:
            span = max(1e-9, 100 - self.slow_down_at)
            share = min(1.0, (self.percent - self.slow_down_at) / span)
            delay = base * (1 + share * (MAX_STRETCH - 1))
        if self.blocked:
            delay = max(delay, self.blocked_until - self.clock())
        return delay
