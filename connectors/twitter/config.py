"""Options of the ``twitter`` channel type (X API v2 mentions of the city's accounts).

One channel instance reads one app's credentials and polls the mentions of every
account in ``accounts``; the accounts share that app's rate-limit budget, which
is the real constraint (X counts the mentions endpoint per app token). A second
app token is a second channel instance with its own budget.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.secrets import Secret

_USERNAME = re.compile(r"^[A-Za-z0-9_]{1,15}$")

#: Where the real X API answers. tweepy hard-codes api.twitter.com; both hosts serve v2.
DEFAULT_API_BASE_URL = "https://api.x.com"


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimitTier(_Options):
    """The API tier's budget for ``GET /2/users/:id/mentions``; it differs between tiers."""

    requests: int = Field(
        450, ge=1, description="Requests allowed per window for the app token (450 app / Basic tier far less)."
    )
    window_seconds: float = Field(900, gt=0, description="Length of the rate-limit window (X uses 15 minutes).")


class AccountActivityWebhook(_Options):
    """Optional push: the Account Activity webhook route on the shared webhook server."""

    enabled: bool = Field(False, description="Serve GET (CRC) and POST (events) at <prefix>/<channel name>.")
    consumer_secret: Secret | None = Field(
        None, description="The app's consumer secret: signs the CRC answer and checks x-twitter-webhooks-signature."
    )

    @model_validator(mode="after")
    def _secret_when_enabled(self) -> AccountActivityWebhook:
        if self.enabled and self.consumer_secret is None:
            msg = "consumer_secret is required when the webhook is enabled"
            raise ValueError(msg)
        return self


class OAuth2UserContext(_Options):
    """OAuth 2.0 user-context credentials (Authorization Code with PKCE, scope
    ``offline.access``), refreshed by Kanal; an alternative to the app bearer token."""

    client_id: str = Field(min_length=1, description="The app's OAuth 2.0 client id.")
    client_secret: Secret | None = Field(
        None, description="The client secret of a confidential client (HTTP Basic); unset for a public client."
    )
    refresh_token: Secret = Field(
        description="The refresh token from the authorisation. X rotates it on every refresh; Kanal keeps the "
        "current one in the spool and uses this one again only after it is changed here (re-authorisation)."
    )


class TwitterOptions(_Options):
    """Mentions of the Pemprov's X accounts, polled with tweepy."""

    accounts: list[str] = Field(
        min_length=1,
        description="Usernames whose mentions are taken in, without '@' (e.g. dkijakarta). They share one budget.",
    )
    bearer_token: Secret | None = Field(
        None, description="App-only bearer token of the X app (a secret reference); or use oauth2."
    )
    oauth2: OAuth2UserContext | None = Field(
        None, description="OAuth 2.0 user-context tokens with refresh, instead of the bearer token."
    )
    api_base_url: str = Field(
        DEFAULT_API_BASE_URL,
        description="X API base URL, optionally with a path prefix (https://proxy.internal/x/ for an egress "
        "proxy); tweepy is used either way.",
    )
    rate_limit: RateLimitTier = Field(
        RateLimitTier(), description="The tier's mentions budget, spent evenly across polls."
    )
    max_results: int = Field(100, ge=5, le=100, description="Mentions per page (X allows 5 to 100).")
    backfill_hours: float = Field(
        24, ge=0, description="On the very first poll of an account, how far back to take mentions in."
    )
    reach_back_limit: int = Field(
        800, ge=1, description="How many recent mentions X lets a client page back to; reaching it means a gap."
    )
    request_timeout: float = Field(30, gt=0, description="Seconds before an unanswered API request fails.")
    download_media: bool = Field(
        False,
        description="Read photos while polling, before the commit (the older way); prefer fetch_media.",
    )
    fetch_media: bool = Field(
        True, description="Download photos into the attachment store after the commit (the fetcher); off: they "
        "stay links. The bearer token goes only to the API host."
    )
    webhook: AccountActivityWebhook = Field(
        AccountActivityWebhook(), description="Optional Account Activity push; polling stays on."
    )

    @field_validator("accounts")
    @classmethod
    def _usernames(cls, value: list[str]) -> list[str]:
        names = []
        for raw in value:
            name = raw.strip().removeprefix("@")
            if not _USERNAME.match(name):
                msg = f"{raw!r} is not an X username (letters, digits and _; at most 15)"
                raise ValueError(msg)
            if name.lower() in (n.lower() for n in names):
                msg = f"account {name!r} is listed twice"
                raise ValueError(msg)
            names.append(name)
        return names

    @field_validator("api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s?#]+(/[^\s?#]*)?$", value):
            msg = ("api_base_url must be scheme, host and an optional path, e.g. https://api.x.com or "
                   "https://proxy.internal/x/ (no query)")
            raise ValueError(msg)
        return value.rstrip("/")

    @model_validator(mode="after")
    def _one_credential(self) -> TwitterOptions:
        if (self.bearer_token is None) == (self.oauth2 is None):
            msg = "set exactly one of bearer_token (app-only) and oauth2 (user context)"
            raise ValueError(msg)
        return self
