"""The ``pull`` block of an ``http_json`` channel: how a JSON API is polled.

The requester (authentication, retries, the request budget), the pagination and
the incremental cursor kept in the spool's checkpoint.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from config.secrets import Secret
from connectors.http_json.option_types import Expr, StrictOptions, TimeFormat, TimeZoneName

# -- pull: authentication -------------------------------------------------------------


class SecretHeader(StrictOptions):
    """One header whose value is a secret."""

    name: str = Field(description="Header name, e.g. Authorization, auth, token, X-Api-Key.")
    value: Secret = Field(description="The secret (a reference: ${ENV_VAR} or file:/path).")
    prefix: str = Field("", description="Written before the secret, e.g. 'Bearer '.")


class HeaderAuth(StrictOptions):
    """Static secret headers (API key, bearer token, LAPOR!'s two headers)."""

    type: Literal["header"]
    headers: list[SecretHeader] = Field(min_length=1, description="Headers sent with every request.")


class BasicAuth(StrictOptions):
    """HTTP basic authentication."""

    type: Literal["basic"]
    username: str
    password: Secret = Field(description="A reference: ${ENV_VAR} or file:/path.")


class OAuth2ClientCredentials(StrictOptions):
    """OAuth2 client credentials; the token is fetched, cached and refreshed before it expires."""

    type: Literal["oauth2_client_credentials"]
    token_url: str = Field(description="The token endpoint (https; http only for localhost).")
    client_id: str
    client_secret: Secret = Field(description="A reference: ${ENV_VAR} or file:/path.")
    scope: str | None = None
    client_auth: Literal["body", "basic"] = Field(
        "body", description="Send client id and secret in the form body or as HTTP basic."
    )
    refresh_margin_seconds: float = Field(30, ge=0, description="Refresh this long before the token expires.")


class NoAuth(StrictOptions):
    """No credentials (a public feed)."""

    type: Literal["none"]


Auth = Annotated[HeaderAuth | BasicAuth | OAuth2ClientCredentials | NoAuth, Field(discriminator="type")]


# -- pull: pagination, cursor, budget -------------------------------------------------


class Pagination(StrictOptions):
    """How the next page is asked for.

    ``page``: a page number parameter; ``offset``: a record offset; ``cursor``: a token
    read from the body (``next_path``) sent back as ``param``; ``next_url``: a full URL
    read from the body (``next_path``); ``link_header``: the ``Link: <...>; rel="next"``
    header; ``none``: one request per poll.
    """

    type: Literal["none", "page", "offset", "cursor", "next_url", "link_header"] = "none"
    param: str | None = Field(None, description="Query parameter of the page number, offset or cursor token.")
    start: int | None = Field(
        None, ge=0, description="First page number (page; default 1) or record offset (offset; default 0)."
    )
    page_size: int | None = Field(None, ge=1, description="Records asked for per page.")
    page_size_param: str | None = Field(None, description="Query parameter that carries page_size.")
    next_path: Expr | None = Field(None, description="JMESPath to the next token or URL in the body (null = last).")
    max_pages: int = Field(100, ge=1, description="Pages read per poll at most; the rest comes next poll.")

    @model_validator(mode="after")
    def _complete(self) -> Pagination:
        if self.type in ("page", "offset", "cursor") and not self.param:
            msg = f"pagination type {self.type!r} needs `param` (the query parameter to send)"
            raise ValueError(msg)
        if self.type in ("cursor", "next_url") and not self.next_path:
            msg = f"pagination type {self.type!r} needs `next_path` (where the body holds the next token or URL)"
            raise ValueError(msg)
        if self.page_size_param and not self.page_size:
            msg = "page_size_param is set but page_size is not"
            raise ValueError(msg)
        return self

    @property
    def first(self) -> int:
        """The first page number (``page``, 1 unless ``start`` says) or offset (``offset``, 0)."""
        if self.start is not None:
            return self.start
        return 0 if self.type == "offset" else 1


class Incremental(StrictOptions):
    """The incremental cursor: a record field kept in the spool's checkpoint.

    ``order: ascending`` (oldest first): the cursor moves with every record, so a poll
    cut short resumes after the last durable record. ``order: descending`` (newest
    first, a feed): reading stops at the first record older than the cursor, and the
    cursor moves only once the whole range is durable.
    """

    field: Expr = Field(description="JMESPath to the cursor value in a record, e.g. id or updated_at.")
    kind: Literal["integer", "datetime", "string"] = "integer"
    format: TimeFormat = Field("iso", description="datetime: how the field is written (iso, epoch, strptime).")
    timezone: TimeZoneName = Field("Asia/Jakarta", description="datetime: zone of values without an offset.")
    param: str | None = Field(None, description="Query parameter the stored cursor is sent in (none: not sent).")
    send_format: str | None = Field(
        None, description="datetime: strftime pattern of the sent value (default: ISO 8601 in `timezone`)."
    )
    lookback_seconds: float = Field(0, ge=0, description="datetime: send the cursor this much earlier.")
    start: str | None = Field(None, description="Value sent on the very first poll (none: no parameter).")
    order: Literal["ascending", "descending"] = "ascending"


class Budget(StrictOptions):
    """The partner's request allowance; Kanal never spends more in any window."""

    requests: int = Field(60, ge=1, description="Requests per window.")
    window_seconds: float = Field(60, gt=0, description="Length of the window.")


class Pull(StrictOptions):
    """Polling a JSON API."""

    base_url: str = Field(description="Scheme, host and base path, e.g. https://api-splp.layanan.go.id/lapor/3.0.0.")
    path: str = Field("", description="Path after base_url, e.g. /complaints.")
    method: Literal["GET", "POST"] = "GET"
    params: dict[str, str] = Field(default_factory=dict, description="Constant query parameters.")
    headers: dict[str, str] = Field(default_factory=dict, description="Constant headers that are not secret.")
    auth: Auth = Field(
        NoAuth(type="none"),
        description="How requests are authenticated; secrets by reference only. One of: "
        "{type: header, headers: [{name, value: ${VAR}, prefix: 'Bearer '}]} (API key, bearer, LAPOR!'s two "
        "headers); {type: basic, username, password: ${VAR}}; {type: oauth2_client_credentials, token_url, "
        "client_id, client_secret: ${VAR}, scope, client_auth: body|basic, refresh_margin_seconds}; {type: none}.",
    )
    record_selector: Expr = Field("@", description="JMESPath to the list of records in a page, e.g. results.data.")
    pagination: Pagination = Pagination()
    incremental: Incremental | None = None
    timeout_seconds: float = Field(30, gt=0, description="Per connection attempt and per read.")
    retries: int = Field(3, ge=0, le=10, description="Retries of a 5xx or network error within one request.")
    retry_wait_max_seconds: float = Field(10, ge=0, description="Longest pause between those retries.")
    budget: Budget = Budget()

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            msg = "base_url must be an http(s) URL, e.g. https://api.example.go.id/v1"
            raise ValueError(msg)
        if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            msg = "base_url must use https (http only for a local test server)"
            raise ValueError(msg)
        return value.rstrip("/")
