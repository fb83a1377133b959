"""Thin network layer over the real tweepy v2 ``Client``.

tweepy builds every URL as ``https://api.twitter.com`` + route and has no host
option, but it sends through a public ``requests.Session``. :class:`BaseUrlAdapter`
is mounted on that session and rewrites scheme and host to the configured API base
URL (an egress proxy, a staging mock, a test server), keeping a path prefix it
has (``https://proxy.internal/x`` sends ``/2/users/...`` to ``/x/2/users/...``),
and gives every request a timeout, which tweepy never sets.

Authentication is the app's bearer token, or an OAuth 2.0 user-context access token
(:mod:`connectors.twitter.oauth2`) that is refreshed before it expires and once more
when X answers 401. A response hook records the ``x-rate-limit-*``
headers of the mentions endpoint for the pacing budget. tweepy's exceptions are
mapped to the channel errors the runner understands; nothing else happens here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import requests
import tweepy
from requests.adapters import HTTPAdapter

from connectors.errors import AuthFailed, ChannelError, RateLimited, TransientError

if TYPE_CHECKING:
    from connectors.twitter.oauth2 import UserTokens

#: Hosts tweepy (or a future tweepy) addresses; both are redirected.
TWEEPY_HOSTS = ("https://api.twitter.com", "https://api.x.com")

#: What a complaint needs from a mention, asked for on every page.
EXPANSIONS = (
    "author_id",
    "attachments.media_keys",
    "referenced_tweets.id",
    "referenced_tweets.id.author_id",
    "geo.place_id",
)
TWEET_FIELDS = (
    "created_at", "lang", "conversation_id", "referenced_tweets", "entities", "attachments",
    "geo", "author_id", "in_reply_to_user_id", "withheld",
)
USER_FIELDS = ("username", "name")
MEDIA_FIELDS = ("url", "preview_image_url", "type", "variants", "alt_text")
PLACE_FIELDS = ("full_name", "name", "country_code", "geo", "place_type")

#: Wait after a 429 without a usable reset time, seconds.
DEFAULT_RATE_LIMIT_WAIT = 60.0
#: Shortest wait after a 429, seconds.
MIN_RATE_LIMIT_WAIT = 1.0
#: Margin added to X's reset time: it is whole seconds on X's clock, not ours, so a
#: request sent at the reset itself may still fall in the spent window.
RESET_MARGIN = 1.0

_MENTIONS_PATH = re.compile(r"/2/users/[^/]+/mentions$")


class AccountUnavailable(ChannelError):
    """One configured account cannot be read (no such user, suspended, deleted)."""


class CredentialsRefused(AuthFailed):
    """The API answered 401 or 403 (``status``)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class BaseUrlAdapter(HTTPAdapter):
    """Sends tweepy's requests to ``base_url`` instead of the hard-coded host.

    Parameters:
        base_url: ``scheme://host[:port][/prefix]`` that answers the API.
        timeout: seconds applied to every request that has none.
    """

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__()
        parts = urlsplit(base_url)
        self._scheme, self._netloc = parts.scheme, parts.netloc
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        parts = urlsplit(request.url)
        path = self._prefix + parts.path
        request.url = urlunsplit((self._scheme, self._netloc, path, parts.query, parts.fragment))
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().send(request, **kwargs)


@dataclass(frozen=True)
class RateLimitStatus:
    """The ``x-rate-limit-*`` headers of the last mentions response.

    Attributes:
        limit: requests allowed in the window.
        remaining: requests left in the window.
        reset: Unix time the window resets.
        observed_at: Unix time the response arrived.
    """

    limit: int
    remaining: int
    reset: float
    observed_at: float


def parse_rate_limit(headers: Any, now: float | None = None) -> RateLimitStatus | None:
    """Read the rate-limit headers of a response; None when absent or malformed."""
    try:
        return RateLimitStatus(
            limit=int(headers["x-rate-limit-limit"]),
            remaining=int(headers["x-rate-limit-remaining"]),
            reset=float(headers["x-rate-limit-reset"]),
            observed_at=time.time() if now is None else now,
        )
    except (KeyError, TypeError, ValueError):
        return None


class XApiClient:
    """The X API as the connector uses it: user lookup and the mentions timeline.

    Parameters:
        bearer_token: the app-only bearer token (None with ``user_tokens``).
        base_url: where the API answers (default the real host).
        timeout: seconds per request.
        user_tokens: builds the OAuth 2.0 user-context token source from this
            client's session (:class:`connectors.twitter.oauth2.UserTokens`).
    """

    def __init__(self, bearer_token: str | None, base_url: str, timeout: float = 30,
                 user_tokens: Callable[[requests.Session], UserTokens] | None = None) -> None:
        self.tweepy = tweepy.Client(bearer_token=bearer_token, return_type=dict, wait_on_rate_limit=False)
        session = self.tweepy.session
        for host in TWEEPY_HOSTS:
            session.mount(host, BaseUrlAdapter(base_url, timeout))
        session.hooks["response"].append(self._observe)
        self.user_tokens = user_tokens(session) if user_tokens is not None else None
        self.rate_limit: RateLimitStatus | None = None
        self.requests_made = 0

    def _observe(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        if _MENTIONS_PATH.search(urlsplit(response.url).path):
            self.requests_made += 1
            status = parse_rate_limit(response.headers)
            if status is not None:
                self.rate_limit = status

    def close(self) -> None:
        """Close the HTTP session."""
        self.tweepy.session.close()

    def user_id(self, username: str) -> str:
        """Return the numeric id of ``username`` (``GET /2/users/by/username/:username``).

        Raises:
            AccountUnavailable: the account does not exist or cannot be read, plus
                the errors of :meth:`mentions_page`.
        """
        body = self._call(self.tweepy.get_user, username=username)
        data = body.get("data") if isinstance(body, dict) else None
        if not data or not data.get("id"):
            msg = f"X has no readable account @{username}: {_problems(body)}"
            raise AccountUnavailable(msg)
        return str(data["id"])

    def mentions_page(
        self,
        user_id: str,
        *,
        max_results: int,
        since_id: str | None = None,
        until_id: str | None = None,
        start_time: datetime | None = None,
        pagination_token: str | None = None,
    ) -> dict[str, Any]:
        """Return one page of ``GET /2/users/:id/mentions`` as the API's JSON.

        Raises:
            RateLimited: 429 (``retry_at`` one second after ``x-rate-limit-reset``).
            AuthFailed: 401 or 403.
            TransientError: 5xx, a network error, a timeout, a body that is not JSON.
            AccountUnavailable: 404, the user id no longer exists.
            ChannelError: any other refusal (400...).
        """
        body = self._call(
            self.tweepy.get_users_mentions,
            user_id,
            max_results=max_results,
            since_id=since_id,
            until_id=until_id,
            start_time=start_time,
            pagination_token=pagination_token,
            expansions=list(EXPANSIONS),
            tweet_fields=list(TWEET_FIELDS),
            user_fields=list(USER_FIELDS),
            media_fields=list(MEDIA_FIELDS),
            place_fields=list(PLACE_FIELDS),
        )
        if not isinstance(body, dict):
            msg = "the mentions endpoint answered something that is not a JSON object"
            raise TransientError(msg)
        return body

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        if self.user_tokens is None:
            return self._call_once(method, *args, **kwargs)
        self.tweepy.bearer_token = self.user_tokens.access_token()
        try:
            return self._call_once(method, *args, **kwargs)
        except CredentialsRefused as exc:
            if exc.status != 401:
                raise
        # X revoked or expired the access token before its time: refresh once and retry.
        self.tweepy.bearer_token = self.user_tokens.refused(self.tweepy.bearer_token)
        return self._call_once(method, *args, **kwargs)

    def _call_once(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except tweepy.TooManyRequests as exc:
            reset = getattr(exc, "reset_time", None)
            now = time.time()
            if not reset and self.rate_limit is not None:
                reset = self.rate_limit.reset
            retry_at = float(reset) + RESET_MARGIN if reset else now + DEFAULT_RATE_LIMIT_WAIT
            # A reset time already past (clock skew, a confused proxy) must not turn
            # the retry into a busy loop.
            retry_at = max(retry_at, now + MIN_RATE_LIMIT_WAIT)
            raise RateLimited(f"X API rate limit reached (429): {_messages(exc)}", retry_at) from None
        except (tweepy.Unauthorized, tweepy.Forbidden) as exc:
            status = exc.response.status_code
            raise CredentialsRefused(f"X API refused the credentials ({status}): {_messages(exc)}", status) from None
        except tweepy.NotFound as exc:
            raise AccountUnavailable(f"X API: not found (404): {_messages(exc)}") from None
        except tweepy.TwitterServerError as exc:
            raise TransientError(f"X API server error ({exc.response.status_code})") from None
        except tweepy.HTTPException as exc:
            msg = f"X API request failed ({exc.response.status_code}): {_messages(exc)}"
            raise ChannelError(msg) from None
        except requests.JSONDecodeError:
            msg = "X API answered a body that is not JSON"
            raise TransientError(msg) from None
        except requests.RequestException as exc:
            raise TransientError(f"X API unreachable: {type(exc).__name__}") from None


def _messages(exc: tweepy.HTTPException) -> str:
    messages = list(exc.api_messages) or [
        str(e.get("detail") or e.get("title")) for e in exc.api_errors if isinstance(e, dict)
    ]
    return "; ".join(messages) or exc.response.reason or "no detail"


def _problems(body: Any) -> str:
    if isinstance(body, dict):
        errors = body.get("errors") or []
        details = [str(e.get("detail") or e.get("title")) for e in errors if isinstance(e, dict)]
        if details:
            return "; ".join(details)
    return "no detail"
