"""Options of the ``http_json`` channel type: a JSON source described by config alone.

A channel block names how to *pull* (requester, pagination, incremental cursor), how
to accept a *push* (route, signature, replay window), and how to *map* one JSON record
to a complaint (one JMESPath expression per field). Every expression and format is
checked here, so ``kanal check-config`` reports a bad mapping with the channel and the
option before anything starts.
"""

from __future__ import annotations

import re
import zoneinfo
from functools import lru_cache
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.visitor import TreeInterpreter
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from config.secrets import Secret


class _FieldPath:
    """A plain ``a.b.c`` expression, walked directly: the same result as JMESPath
    (a missing key or a non-object gives None) without its tree interpreter."""

    __slots__ = ("keys",)

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys

    def search(self, value: Any) -> Any:
        for key in self.keys:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value


class _Compiled:
    """Any other expression, evaluated by one shared JMESPath interpreter."""

    __slots__ = ("ast",)
    _interpreter = TreeInterpreter()

    def __init__(self, ast: dict[str, Any]) -> None:
        self.ast = ast

    def search(self, value: Any) -> Any:
        return self._interpreter.visit(self.ast, value)


def _field_keys(ast: dict[str, Any]) -> list[str] | None:
    if ast["type"] == "field":
        return [ast["value"]]
    if ast["type"] == "subexpression":
        keys = [_field_keys(child) for child in ast["children"]]
        if all(k is not None for k in keys):
            return [key for part in keys for key in part]
    return None


@lru_cache(maxsize=1024)
def compile_expression(text: str) -> _FieldPath | _Compiled:
    """Compile a JMESPath expression once (cached: configs repeat few expressions).

    Raises:
        jmespath.exceptions.JMESPathError: not a valid expression.
    """
    ast = jmespath.compile(text).parsed
    keys = _field_keys(ast)
    return _FieldPath(keys) if keys is not None else _Compiled(ast)


def _jmespath(value: str) -> str:
    text = value.strip()
    if not text:
        msg = "empty JMESPath expression"
        raise ValueError(msg)
    try:
        compile_expression(text)
    except JMESPathError as exc:
        detail = " ".join(str(exc).split())
        msg = f"not a valid JMESPath expression ({detail}); quote constants as 'text'"
        raise ValueError(msg) from None
    return text


def _zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        msg = f"unknown time zone {value!r} (an IANA name such as Asia/Jakarta)"
        raise ValueError(msg) from None
    return value


def _time_format(value: str) -> str:
    if value in ("iso", "epoch", "epoch_ms"):
        return value
    if "%" not in value:
        msg = "time format must be iso, epoch, epoch_ms or a strptime pattern such as '%d-%m-%Y %H:%M:%S'"
        raise ValueError(msg)
    return value


#: A JMESPath expression over one record (``'text'`` for a constant, ``a || b`` for a fallback).
Expr = Annotated[str, AfterValidator(_jmespath)]
TimeZoneName = Annotated[str, AfterValidator(_zone)]
TimeFormat = Annotated[str, AfterValidator(_time_format)]


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- pull: authentication -------------------------------------------------------------


class SecretHeader(_Options):
    """One header whose value is a secret."""

    name: str = Field(description="Header name, e.g. Authorization, auth, token, X-Api-Key.")
    value: Secret = Field(description="The secret (a reference: ${ENV_VAR} or file:/path).")
    prefix: str = Field("", description="Written before the secret, e.g. 'Bearer '.")


class HeaderAuth(_Options):
    """Static secret headers (API key, bearer token, LAPOR!'s two headers)."""

    type: Literal["header"]
    headers: list[SecretHeader] = Field(min_length=1, description="Headers sent with every request.")


class BasicAuth(_Options):
    """HTTP basic authentication."""

    type: Literal["basic"]
    username: str
    password: Secret = Field(description="A reference: ${ENV_VAR} or file:/path.")


class OAuth2ClientCredentials(_Options):
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


class NoAuth(_Options):
    """No credentials (a public feed)."""

    type: Literal["none"]


Auth = Annotated[HeaderAuth | BasicAuth | OAuth2ClientCredentials | NoAuth, Field(discriminator="type")]


# -- pull: pagination, cursor, budget -------------------------------------------------


class Pagination(_Options):
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


class Incremental(_Options):
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


class Budget(_Options):
    """The partner's request allowance; Kanal never spends more in any window."""

    requests: int = Field(60, ge=1, description="Requests per window.")
    window_seconds: float = Field(60, gt=0, description="Length of the window.")


class Pull(_Options):
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


# -- push -----------------------------------------------------------------------------


class Signature(_Options):
    """How a pushed request proves it comes from the partner.

    ``hmac_sha256`` / ``hmac_sha1``: an HMAC of the body (``signed: body``) or of
    timestamp + separator + body (``signed: timestamp_body``) in ``header``, after
    ``prefix``, hex or base64. ``shared_key``: the header holds the secret itself (weaker;
    only for partners that cannot sign, such as the PetaBencana-style X-Api-Key).
    """

    scheme: Literal["hmac_sha256", "hmac_sha1", "shared_key"] = "hmac_sha256"
    secret: Secret = Field(description="The shared secret (a reference: ${ENV_VAR} or file:/path).")
    header: str = Field("X-Signature", description="Header that carries the signature or key.")
    prefix: str = Field("", description="Text before the signature in the header, e.g. 'sha256='.")
    encoding: Literal["hex", "base64"] = "hex"
    signed: Literal["body", "timestamp_body"] = "body"
    timestamp_header: str | None = Field(None, description="Header with the Unix time the sender signed at.")
    separator: str = Field(".", description="signed: timestamp_body: text between timestamp and body.")
    replay_window_seconds: float | None = Field(
        300, gt=0, description="Requests whose timestamp is further from now are refused (needs timestamp_header)."
    )

    @model_validator(mode="after")
    def _timestamp(self) -> Signature:
        if self.signed == "timestamp_body" and not self.timestamp_header:
            msg = "signed: timestamp_body needs timestamp_header"
            raise ValueError(msg)
        if self.signed == "timestamp_body" and self.scheme == "shared_key":
            msg = "a shared_key signs nothing; use signed: body"
            raise ValueError(msg)
        return self


class Push(_Options):
    """Receiving pushed JSON at ``<webhook prefix>/<channel name><path>``."""

    path: str = Field("", description="Sub-path of the route, '' or e.g. /laporan.")
    signature: Signature
    record_selector: Expr = Field(
        "@", description="JMESPath to the record (an object) or records (a list) in one request body."
    )

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if value and not re.fullmatch(r"(/[A-Za-z0-9._-]+)+", value):
            msg = "path must be '' or like /laporan (letters, digits, . _ -)"
            raise ValueError(msg)
        return value


# -- mapping --------------------------------------------------------------------------


class CreatedTime(_Options):
    """Where the report's own time is and how it is written."""

    path: Expr = Field(description="JMESPath to the time, e.g. created_at.")
    format: TimeFormat = Field("iso", description="iso, epoch, epoch_ms or a strptime pattern.")
    timezone: TimeZoneName = Field("Asia/Jakarta", description="Zone of a time written without an offset (WIB).")


class Statuses(_Options):
    """Which source statuses mean the report is for us."""

    path: Expr = Field(description="JMESPath to the status, e.g. status_name.")
    accept: list[str] = Field(default_factory=list, description="Statuses taken in (empty: every status).")
    ignore: list[str] = Field(
        default_factory=list, description="Statuses dropped on purpose (counted as dropped, status:<value>)."
    )


class RecordMapping(_Options):
    """One JMESPath expression per complaint field, evaluated on one record.

    A constant is a JMESPath raw string (``'Qlue'``) or literal (`` `true` ``);
    ``a || b`` takes ``b`` when ``a`` is null or empty.
    """

    provider_id: Expr = Field(description="The source's id of the report (required in every record).")
    description: Expr = Field(description="The complaint text (required), e.g. content || title.")
    created: CreatedTime | None = Field(None, description="The report's time; unset: the time Kanal received it.")
    title: Expr | None = None
    reporter_name: Expr | None = None
    reporter_phone: Expr | None = Field(None, description="Normalised to E.164.")
    reporter_email: Expr | None = None
    reporter_id: Expr | None = Field(None, description="The source's id of the reporter.")
    anonymous: Expr | None = Field(None, description="True hides the reporter (e.g. is_anonymous).")
    category: Expr | None = Field(None, description="The source's category; becomes service_code.")
    category_map: dict[str, str] = Field(
        default_factory=dict, description="Source category -> service_code; unlisted values are kept as they are."
    )
    lat: Expr | None = None
    long: Expr | None = None
    kelurahan: Expr | None = None
    kecamatan: Expr | None = None
    kota: Expr | None = None
    address: Expr | None = None
    photos: Expr | None = Field(None, description="A URL or a list of URLs; kept by reference, https only.")
    url: Expr | None = Field(None, description="Link back to the report at the source.")
    url_template: str | None = Field(None, description="Link built from the id, e.g. https://example/r/{provider_id}.")
    status: Statuses | None = None
    flags: dict[str, Expr] = Field(
        default_factory=dict, description="Flag name -> expression; the flag is set when the value is true."
    )
    language: str | None = Field("id", description="BCP 47 tag of the reports' language.")

    @field_validator("url_template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                value.format(provider_id="x")
            except (KeyError, IndexError, ValueError):
                msg = "url_template may only use {provider_id}"
                raise ValueError(msg) from None
            if not value.startswith("https://"):
                msg = "url_template must start with https://"
                raise ValueError(msg)
        return value


class HttpJsonOptions(_Options):
    """A JSON API polled and/or a JSON webhook, mapped to complaints by JMESPath."""

    account: str = Field(
        description="The source as a name, e.g. lapor.go.id or qlue.co.id; it scopes complaint ids, so push "
        "and poll of one report are one complaint. Never change it on a live channel."
    )
    pull: Pull | None = Field(None, description="Polling; unset: push only.")
    push: Push | None = Field(None, description="The webhook route; unset: pull only.")
    mapping: RecordMapping
    fetch_photos: bool = Field(
        True, description="Download the photo URLs into the attachment store after the commit (the fetcher); the "
        "pull's credentials go only to the pull's own host. Off: they stay links."
    )

    @model_validator(mode="after")
    def _some_input(self) -> HttpJsonOptions:
        if self.pull is None and self.push is None:
            msg = "set `pull`, `push` or both: otherwise this channel takes nothing in"
            raise ValueError(msg)
        return self
