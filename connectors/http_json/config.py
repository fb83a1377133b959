"""Options of the ``http_json`` channel type: a JSON source described by config alone.

A channel block names how to *pull* (requester, pagination, incremental cursor:
:mod:`connectors.http_json.pull_config`), how to accept a *push* (route, signature,
replay window), and how to *map* one JSON record to a complaint (one JMESPath
expression per field). Every expression and format is checked when the config is
loaded (:mod:`connectors.http_json.option_types`), so ``kanal check-config`` reports a
bad mapping with the channel and the option before anything starts.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from config.secrets import Secret
from connectors.http_json.option_types import Expr, StrictOptions, TimeFormat, TimeZoneName
from connectors.http_json.pull_config import Pull

# -- push -----------------------------------------------------------------------------


class Signature(StrictOptions):
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


class Push(StrictOptions):
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


class CreatedTime(StrictOptions):
    """Where the report's own time is and how it is written."""

    path: Expr = Field(description="JMESPath to the time, e.g. created_at.")
    format: TimeFormat = Field("iso", description="iso, epoch, epoch_ms or a strptime pattern.")
    timezone: TimeZoneName = Field("Asia/Jakarta", description="Zone of a time written without an offset (WIB).")


class Statuses(StrictOptions):
    """Which source statuses mean the report is for us."""

    path: Expr = Field(description="JMESPath to the status, e.g. status_name.")
    accept: list[str] = Field(default_factory=list, description="Statuses taken in (empty: every status).")
    ignore: list[str] = Field(
        default_factory=list, description="Statuses dropped on purpose (counted as dropped, status:<value>)."
    )


class RecordMapping(StrictOptions):
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


class HttpJsonOptions(StrictOptions):
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
