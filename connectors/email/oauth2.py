"""OAuth2 access tokens for XOAUTH2 that last: refreshed before they expire and after
the server refused one, without a restart.

Microsoft 365 and Google Workspace hand out access tokens that live about an hour.
:class:`TokenSource` gets them from the identity provider's token endpoint with the
client-credentials grant (Microsoft 365 app access) or the refresh-token grant
(Google, or a delegated Microsoft 365 login), keeps the current one and its expiry,
and gets a new one ``refresh_before_seconds`` ahead of that expiry or when told the
server refused it. A refusal by the token endpoint itself (``invalid_client``,
``invalid_grant``) is :class:`AuthFailed`; network trouble and 5xx are transient.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from config.secrets import Secret
from connectors.errors import AuthFailed, RateLimited, TransientError

#: Lifetime assumed when the endpoint does not say (``expires_in`` is only RECOMMENDED).
DEFAULT_LIFETIME_SECONDS = 3600.0


class OAuth2Settings(BaseModel):
    """Where and how to get access tokens (the ``oauth2`` block of an ``email`` channel)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token_url: HttpUrl = Field(
        description="The identity provider's token endpoint, e.g. "
        "https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token or https://oauth2.googleapis.com/token."
    )
    client_id: str = Field(description="The application (client) id registered with the identity provider.")
    client_secret: Secret | None = Field(
        None, description="Client secret reference (${ENV_VAR} or file:/path); required for client credentials."
    )
    refresh_token: Secret | None = Field(
        None,
        description="Refresh token reference: use the refresh-token grant. Without it, the client-credentials grant.",
    )
    scope: str | None = Field(
        None,
        description="Scope asked for, e.g. https://outlook.office365.com/.default (client credentials) "
        "or https://mail.google.com/.",
    )
    refresh_before_seconds: float = Field(
        300, gt=0, description="Get a new token this long before the current one expires (and log in again)."
    )

    @model_validator(mode="after")
    def _a_grant(self) -> OAuth2Settings:
        if self.refresh_token is None and self.client_secret is None:
            msg = "set client_secret (client-credentials grant) or refresh_token (refresh-token grant)"
            raise ValueError(msg)
        return self

    @property
    def grant(self) -> str:
        """``refresh_token`` or ``client_credentials``."""
        return "refresh_token" if self.refresh_token is not None else "client_credentials"


@dataclass(frozen=True, slots=True)
class AccessToken:
    """One access token and when (monotonic seconds) it is to be replaced."""

    value: str
    refresh_at: float


class TokenSource:
    """The current access token of one mailbox, shared by its connections (thread-safe).

    Parameters:
        settings: the token endpoint and the client's credentials.
        timeout: HTTP timeout, seconds.
        clock: monotonic seconds (a parameter so the expiry arithmetic is plain).
    """

    def __init__(
        self, settings: OAuth2Settings, timeout: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self._refresh_token = settings.refresh_token.get() if settings.refresh_token is not None else None
        self._http = requests.Session()

    def current(self) -> AccessToken:
        """A token that is not due for renewal; asks the endpoint for one when needed.

        Raises:
            AuthFailed: the token endpoint refused the client or the refresh token.
            TransientError: the endpoint could not be reached or failed (RateLimited for a 429).
        """
        with self._lock:
            if self._token is None or self._clock() >= self._token.refresh_at:
                self._token = self._request()
            return self._token

    def refused(self, token: AccessToken) -> None:
        """The mail server refused ``token``: the next :meth:`current` gets a new one."""
        with self._lock:
            if self._token == token:
                self._token = None

    def seconds_left(self, token: AccessToken) -> float:
        """Seconds until ``token`` is due for renewal (0 when due)."""
        return max(0.0, token.refresh_at - self._clock())

    def _request(self) -> AccessToken:
        settings = self.settings
        form = {"grant_type": settings.grant, "client_id": settings.client_id}
        if settings.client_secret is not None:
            form["client_secret"] = settings.client_secret.get()
        if self._refresh_token is not None:
            form["refresh_token"] = self._refresh_token
        if settings.scope:
            form["scope"] = settings.scope
        asked = self._clock()
        try:
            response = self._http.post(str(settings.token_url), data=form, timeout=self.timeout)
        except requests.RequestException as exc:
            msg = f"OAuth2 token endpoint unreachable: {type(exc).__name__}"
            raise TransientError(msg) from exc
        body = _json(response)
        if response.status_code == 429:
            wait = float(response.headers.get("Retry-After", "60") or 60)
            raise RateLimited("OAuth2 token endpoint: 429 Too Many Requests", time.time() + wait)
        if response.status_code >= 500 or (response.status_code >= 400 and "error" not in body):
            msg = f"OAuth2 token endpoint answered {response.status_code}"
            raise TransientError(msg)
        if response.status_code >= 400:  # RFC 6749 §5.2: the endpoint refused the grant or the client
            described = f": {body['error_description']}" if body.get("error_description") else ""
            msg = f"OAuth2 token refresh refused ({settings.grant}): {body['error']}{described}"
            raise AuthFailed(msg)
        value = body.get("access_token")
        if not isinstance(value, str) or not value:
            msg = "OAuth2 token endpoint answered without an access_token"
            raise TransientError(msg)
        if isinstance(body.get("refresh_token"), str) and body["refresh_token"]:
            self._refresh_token = body["refresh_token"]  # rotated (Microsoft does); kept in memory
        try:
            lifetime = float(body.get("expires_in", DEFAULT_LIFETIME_SECONDS))
        except (TypeError, ValueError):
            lifetime = DEFAULT_LIFETIME_SECONDS
        # A token shorter-lived than the margin is renewed at half its life, not at once.
        return AccessToken(value, asked + max(lifetime / 2, lifetime - settings.refresh_before_seconds))


def _json(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
