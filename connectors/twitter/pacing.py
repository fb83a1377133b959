"""Spending the API tier's request budget evenly.

X counts requests to the mentions endpoint per app token over a window (15
minutes). A poll visits every configured account once, plus one request per extra
page, so the pause after a poll is what that poll cost at the tier's even rate
(``window / requests`` per request). When the response headers show less budget
left than the tier promises (another process shares the token, a lower tier than
configured), the headers win. With the budget spent, the next request waits for
the reset instead of asking for a 429.
"""

from __future__ import annotations

from connectors.twitter.client import RESET_MARGIN, RateLimitStatus


class RequestBudget:
    """Decides how long to pause between polls and whether a request may go now.

    Parameters:
        requests: requests the tier allows per window.
        window_seconds: the window's length.
        floor: the shortest pause between polls (the channel's ``poll_interval``).
    """

    def __init__(self, requests: int, window_seconds: float, floor: float) -> None:
        self.requests = requests
        self.window_seconds = window_seconds
        self.floor = floor

    @property
    def spacing(self) -> float:
        """Seconds of budget one request costs at the tier's even rate."""
        return self.window_seconds / self.requests

    def pause_after_poll(self, requests_used: int, status: RateLimitStatus | None, now: float) -> float:
        """Seconds to wait before the next poll, given what the last poll cost."""
        used = max(1, requests_used)
        pause = max(self.floor, used * self.spacing)
        if status is None or status.reset <= now:
            return pause
        left = status.reset - now
        if status.remaining <= 0:
            return max(pause, left + RESET_MARGIN)
        return max(pause, used * left / status.remaining)

    def blocked_until(self, status: RateLimitStatus | None, now: float) -> float | None:
        """Unix time the next request may go, when the window's budget is spent; else None."""
        if status is None or status.remaining > 0 or status.reset <= now:
            return None
        return status.reset + RESET_MARGIN
