"""OAuth 2.0 user-context tokens for the X API, refreshed before they expire.

X's user-context access token lives two hours; the refresh token (scope
``offline.access``) gets a new pair from ``POST /2/oauth2/token`` with
``grant_type=refresh_token``, and X **rotates** the refresh token on every refresh:
the old one stops working. So the pair is stored in the channel's durable state
(:class:`connectors.base.ChannelState`, the spool) the moment it arrives, and read
from there after a restart. The config only holds the first refresh token (a
secret reference); the stored pair is used as long as it descends from that one,
so an admin who re-authorises puts the new refresh token in the config and it wins.

A confidential client (with ``client_secret``) authenticates with HTTP Basic; a
public client sends ``client_id`` in the form. Network only; no token is logged.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import requests

from connectors.base import ChannelState
from connectors.errors import NeedsReauthorisation, TransientError

#: Path of the token endpoint under the API base URL.
TOKEN_PATH = "/2/oauth2/token"
#: Refresh this long before the access token expires, seconds.
REFRESH_MARGIN = 120.0
#: Key of the pair in the channel state.
STATE_KEY = "oauth2_user_token"


@dataclass(frozen=True)
class TokenPair:
    """An access token, when it expires (Unix time), the refresh token, and a digest of
    the configured refresh token the chain started from."""

    access_token: str
    expires_at: float
    refresh_token: str
    seed: str


def seed_of(refresh_token: str) -> str:
    """A digest naming a configured refresh token without storing it twice."""
    return hashlib.sha256(refresh_token.encode()).hexdigest()[:16]


class UserTokens:
    """The current access token, refreshed before expiry or when X refuses it.

    Parameters:
        token_url: the token endpoint (already under the API base URL).
        session: the HTTP session (its adapters reach the configured base URL).
        client_id, client_secret: the app's OAuth 2.0 client (secret None: public client).
        refresh_token: the configured refresh token (used when the state has no pair from it).
        state: the channel's durable state, or None (tests, one-off runs: nothing kept).
        timeout: seconds per token request.
    """

    def __init__(self, token_url: str, session: requests.Session, client_id: str, client_secret: str | None,
                 refresh_token: str, state: ChannelState | None, timeout: float,
                 clock: Any = time.time) -> None:
        self.token_url = token_url
        self.session = session
        self.client_id, self.client_secret = client_id, client_secret
        self.configured = refresh_token
        self.state = state
        self.timeout = timeout
        self.clock = clock
        self._lock = threading.Lock()
        self._pair: TokenPair | None = None
        self.refreshes = 0

    def _stored(self) -> TokenPair | None:
        value = self.state.load(STATE_KEY) if self.state is not None else None
        if isinstance(value, dict):
            try:
                pair = TokenPair(**value)
            except TypeError:
                return None
            if pair.seed == seed_of(self.configured):
                return pair
        return None

    def access_token(self) -> str:
        """A usable access token, refreshed first when it expires within the margin."""
        with self._lock:
            if self._pair is None:
                self._pair = self._stored()
            if self._pair is None or self._pair.expires_at - self.clock() < REFRESH_MARGIN:
                self._refresh()
            assert self._pair is not None
            return self._pair.access_token

    def refused(self, token: str) -> str:
        """X answered 401 to ``token``: refresh (unless another thread already did) and
        return the new access token."""
        with self._lock:
            if self._pair is None or self._pair.access_token == token:
                self._refresh()
            assert self._pair is not None
            return self._pair.access_token

    def _refresh(self) -> None:
        refresh_token = self._pair.refresh_token if self._pair is not None else self.configured
        seed = self._pair.seed if self._pair is not None else seed_of(self.configured)
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        auth = None
        if self.client_secret:
            auth = (self.client_id, self.client_secret)
        else:
            form["client_id"] = self.client_id
        try:
            response = self.session.post(self.token_url, data=form, auth=auth, timeout=self.timeout)
        except requests.RequestException as exc:
            raise TransientError(f"X token endpoint unreachable: {type(exc).__name__}") from None
        if response.status_code in (400, 401):
            detail = _error(response)
            msg = f"X refused the OAuth 2.0 refresh token ({response.status_code} {detail}); re-authorise the app"
            raise NeedsReauthorisation(msg)
        if response.status_code != 200:
            raise TransientError(f"X token endpoint answered {response.status_code}")
        try:
            body = response.json()
            pair = TokenPair(str(body["access_token"]), self.clock() + float(body.get("expires_in", 7200)),
                             str(body.get("refresh_token") or refresh_token), seed)
        except (ValueError, KeyError, TypeError):
            msg = "X token endpoint answered without an access token"
            raise TransientError(msg) from None
        # Durable before use: the refresh token just spent no longer works.
        if self.state is not None:
            self.state.save(STATE_KEY, asdict(pair))
        self._pair = pair
        self.refreshes += 1


def _error(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return "no detail"
    if isinstance(body, dict):
        return str(body.get("error") or body.get("error_description") or "no detail")[:80]
    return "no detail"
