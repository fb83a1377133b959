"""The network side of a pull: authentication, the request budget, retries and the
partner's rate-limit answers. It returns parsed pages and raises the errors of
:mod:`connectors.errors`; it knows nothing of records, cursors or the spool.

- 5xx and network errors are retried a few times within the request (tenacity,
  exponential wait with jitter), then raise ``TransientError`` (the runner backs off).
- 429 raises ``RateLimited`` at the time ``Retry-After`` names (seconds or an HTTP
  date); the runner waits on its stop event, so a SIGTERM still stops at once.
- 401/403 raise ``AuthFailed`` (state ``auth_failed``); with OAuth2 a 401 first
  fetches a new token and tries once more.
- Kanal never sends more than ``budget.requests`` in any ``budget.window_seconds``.
"""

from __future__ import annotations

import collections
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
import tenacity

from connectors.base import FetchAuth
from connectors.errors import AuthFailed, ChannelError, RateLimited, TransientError
from connectors.http_json.pull_config import BasicAuth, Budget, HeaderAuth, OAuth2ClientCredentials, Pull

#: Wait assumed when a 429 names no time.
DEFAULT_RETRY_AFTER = 60.0


def retry_after(value: str | None, now: float) -> float:
    """Unix time a ``Retry-After`` header names (seconds or an HTTP date)."""
    if value:
        text = value.strip()
        if text.isdigit():
            return now + int(text)
        try:
            return max(now, parsedate_to_datetime(text).timestamp())
        except (TypeError, ValueError):
            pass
    return now + DEFAULT_RETRY_AFTER


class RequestBudget:
    """A sliding window of the requests sent; refuses one that would exceed the budget."""

    def __init__(self, budget: Budget) -> None:
        self.limit = budget.requests
        self.window = budget.window_seconds
        self.sent: collections.deque[float] = collections.deque()

    def take(self, now: float) -> None:
        """Count one request now.

        Raises:
            RateLimited: the window's budget is spent; ``retry_at`` is when it frees up.
        """
        while self.sent and self.sent[0] <= now - self.window:
            self.sent.popleft()
        if len(self.sent) >= self.limit:
            raise RateLimited(f"request budget spent ({self.limit} per {self.window:g}s)", self.sent[0] + self.window)
        self.sent.append(now)


@dataclass(frozen=True)
class Page:
    """One answer: the parsed body and the next-page link from the ``Link`` header."""

    body: Any
    url: str
    link_next: str | None


class _OAuth2Token:
    """A client-credentials token, fetched when missing or about to expire."""

    def __init__(self, auth: OAuth2ClientCredentials, session: requests.Session, timeout: float) -> None:
        self.auth = auth
        self.session = session
        self.timeout = timeout
        self.value: str | None = None
        self.expires_at = 0.0

    def get(self) -> str:
        if self.value is None or time.time() >= self.expires_at - self.auth.refresh_margin_seconds:
            self.refresh()
        return self.value

    def refresh(self) -> None:
        form = {"grant_type": "client_credentials"}
        if self.auth.scope:
            form["scope"] = self.auth.scope
        basic = None
        if self.auth.client_auth == "basic":
            basic = (self.auth.client_id, self.auth.client_secret.get())
        else:
            form |= {"client_id": self.auth.client_id, "client_secret": self.auth.client_secret.get()}
        try:
            answer = self.session.post(self.auth.token_url, data=form, auth=basic, timeout=self.timeout)
        except requests.RequestException as exc:
            raise TransientError(f"token endpoint unreachable: {type(exc).__name__}") from None
        if answer.status_code in (400, 401, 403):
            raise AuthFailed(f"token endpoint refused the client credentials (HTTP {answer.status_code})")
        if answer.status_code != 200:
            raise TransientError(f"token endpoint answered HTTP {answer.status_code}")
        try:
            data = answer.json()
            self.value = str(data["access_token"])
        except (ValueError, KeyError, TypeError):
            raise TransientError("token endpoint answer has no access_token") from None
        expires_in = data.get("expires_in")
        self.expires_at = time.time() + (float(expires_in) if isinstance(expires_in, (int, float)) else 3600.0)

    def invalidate(self) -> None:
        self.value = None


class Requester:
    """Sends the requests of one pull channel.

    Parameters:
        pull: the channel's pull options.
        session: the HTTP session (tests and the benchmark may pass their own).
    """

    def __init__(self, pull: Pull, session: requests.Session | None = None) -> None:
        self.pull = pull
        self.session = session or requests.Session()
        self.budget = RequestBudget(pull.budget)
        self.requests_made = 0
        self._origin = _origin(pull.base_url)
        auth = pull.auth
        self._static_headers = dict(pull.headers)
        self._token: _OAuth2Token | None = None
        if isinstance(auth, HeaderAuth):
            for header in auth.headers:
                self._static_headers[header.name] = header.prefix + header.value.get()
        elif isinstance(auth, BasicAuth):
            self.session.auth = (auth.username, auth.password.get())
        elif isinstance(auth, OAuth2ClientCredentials):
            self._token = _OAuth2Token(auth, self.session, pull.timeout_seconds)

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()

    def same_origin(self, url: str) -> bool:
        """True when ``url`` is https on the scheme, host and port of ``base_url``."""
        return urlsplit(url).scheme == "https" and _origin(url) == self._origin

    def credentials(self) -> FetchAuth:
        """The pull's credentials for a download from its own origin: its headers,
        basic auth, or the OAuth2 bearer (taken when the download is sent, so asking
        costs no token request)."""
        basic = self.session.auth if isinstance(self.session.auth, tuple) else None
        return FetchAuth(headers=_Headers(self._static_headers, self._token), basic=basic)

    def first_url(self) -> str:
        """The URL of the first page."""
        return self.pull.base_url + self.pull.path

    def get(self, url: str, params: dict[str, str]) -> Page:
        """One page, with retries of transient failures.

        Raises:
            RateLimited, AuthFailed, TransientError, ChannelError: see the module docstring.
        """
        if _origin(url) != self._origin:
            # A next-page link is followed only on the configured host: credentials go nowhere else.
            raise ChannelError(f"next page link leaves {self._origin[1]}; not followed")
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(TransientError),
            stop=tenacity.stop_after_attempt(self.pull.retries + 1),
            wait=tenacity.wait_exponential_jitter(multiplier=0.2, max=self.pull.retry_wait_max_seconds, jitter=0.2),
            reraise=True,
        )
        return retrying(self._get_once, url, params)

    def _get_once(self, url: str, params: dict[str, str]) -> Page:
        answer = self._send(url, params)
        if answer.status_code == 401 and self._token is not None:
            self._token.invalidate()  # expired or revoked early: one fresh token, one more try
            answer = self._send(url, params)
        status = answer.status_code
        if status == 429:
            raise RateLimited("the source answered 429", retry_after(answer.headers.get("Retry-After"), time.time()))
        if status in (401, 403):
            raise AuthFailed(f"the source refused the credentials (HTTP {status} from {urlsplit(url).path})")
        if status >= 500:
            raise TransientError(f"the source answered HTTP {status}")
        if status != 200:
            raise ChannelError(f"the source answered HTTP {status} for {urlsplit(url).path}")
        try:
            body = json.loads(answer.content)
        except ValueError:
            raise TransientError("the source's answer is not JSON") from None
        link = answer.links.get("next", {}).get("url")
        return Page(body, answer.url, link)

    def _send(self, url: str, params: dict[str, str]) -> requests.Response:
        self.budget.take(time.time())
        self.requests_made += 1
        headers = dict(self._static_headers)
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token.get()}"
        try:
            if self.pull.method == "POST":
                return self.session.post(url, json=params, headers=headers, timeout=self.pull.timeout_seconds)
            return self.session.get(url, params=params, headers=headers, timeout=self.pull.timeout_seconds)
        except requests.RequestException as exc:
            raise TransientError(f"request failed: {type(exc).__name__}") from None


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


class _Headers(Mapping[str, str]):
    """The static headers plus a bearer token read on first use."""

    def __init__(self, static: Mapping[str, str], token: _OAuth2Token | None) -> None:
        self._static = static
        self._token = token
        self._all: dict[str, str] | None = None

    def _resolved(self) -> dict[str, str]:
        if self._all is None:
            bearer = {"Authorization": f"Bearer {self._token.get()}"} if self._token is not None else {}
            self._all = {**self._static, **bearer}
        return self._all

    def __getitem__(self, key: str) -> str:
        return self._resolved()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._resolved())

    def __len__(self) -> int:
        return len(self._resolved())
