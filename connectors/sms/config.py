"""Options of an ``sms`` channel instance: the receiving number, ONE gateway backend,
noise filters and the optional acknowledgement SMS.

Only the block of the chosen ``backend`` is used; it must be present (except for
``twilio``/``json`` whose block only carries the secret, which is still required).
"""

from __future__ import annotations

import re
from datetime import timedelta, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.secrets import Secret
from normalizer.phone import to_e164

Backend = Literal["gammu_files", "gammu_sql", "kannel", "twilio", "aggregator", "json"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GammuFilesOptions(_Options):
    """Gammu SMSD ``files`` service: the folders of its ``[smsd]`` section."""

    inbox_path: Path = Field(description="SMSD InboxPath: where IN<date>_<time>_<serial>_<sender>_<part> files appear.")
    done_path: Path = Field(description="Handled files are moved here after the spool commit (created if missing).")
    outbox_path: Path | None = Field(
        None, description="SMSD OutboxPath, for acknowledgement SMS (OUT... files); unset = no acks on this backend."
    )
    inbox_format: Literal["auto", "standard", "unicode"] = Field(
        "auto", description="SMSD InboxFormat; auto reads a FE FF byte order mark as unicode (UTF-16BE)."
    )
    outbox_format: Literal["standard", "unicode"] = Field(
        "unicode", description="SMSD OutboxFormat used for acknowledgement files."
    )
    settle_seconds: float = Field(
        2.0,
        ge=0,
        description=(
            "A file is read only when the newest file of its message is this old (SMSD may still be writing parts)."
        ),
    )
    multipart_timeout: float = Field(
        600,
        gt=0,
        description=(
            "Seconds to wait for a missing part (SMSD MultipartTimeout); then the parts are taken separately, "
            "flagged incomplete."
        ),
    )


class GammuSqlOptions(_Options):
    """Gammu SMSD SQL service (schema version 17, as in Debian's gammu-smsd 1.42)."""

    dsn: str = Field(
        description="sqlite:///path/to/smsd.db or postgresql://user@host:5432/dbname (password via `password`)."
    )
    password: Secret | None = Field(None, description="Database password for PostgreSQL, if the DSN has none.")
    db_schema: str | None = Field(None, description="PostgreSQL schema holding the Gammu tables; unset = search_path.")
    inbox_table: str = Field("inbox", description="Name of Gammu's inbox table.")
    outbox_table: str = Field("outbox", description="Name of Gammu's outbox table (acknowledgement SMS).")
    recipient_id: str | None = Field(
        None, description="Only rows whose RecipientID (the SMSD instance / PhoneID) is this; unset = all rows."
    )
    sender_id: str | None = Field(None, description="SenderID written on outbox rows (which SMSD instance sends).")
    batch_rows: int = Field(500, ge=1, le=10_000, description="Rows read per poll.")
    multipart_timeout: float = Field(
        600, gt=0, description="Seconds to wait for a missing concatenated part; then the parts are taken separately."
    )

    @field_validator("db_schema", "inbox_table", "outbox_table")
    @classmethod
    def _identifier(cls, value: str | None) -> str | None:
        if value is not None and not _IDENTIFIER.match(value):
            msg = "must be a plain SQL identifier (letters, digits, underscore)"
            raise ValueError(msg)
        return value

    @field_validator("dsn")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            msg = "dsn must start with sqlite:/// or postgresql://"
            raise ValueError(msg)
        return value


class KannelOptions(_Options):
    """Kannel smsbox ``sms-service`` with ``get-url`` or ``post-url`` pointing at Kanal."""

    token: Secret = Field(description="Shared secret Kannel puts in the URL as ?token=...; compared in constant time.")
    time_utc_offset_hours: float = Field(
        0,
        ge=-12,
        le=14,
        description=(
            "UTC offset of X-Kannel-Time and time=%t. smsbox writes both in UTC (gw_gmtime), so 0; set 7 only for a "
            "gateway patched or proxied to send WIB. time=%T is a Unix time and needs no offset. The channel's "
            "gateway_utc_offset_hours does not apply to Kannel."
        ),
    )
    max_age_seconds: float = Field(
        172_800,
        ge=0,
        description="Refuse messages whose Kannel time is older than this (replay window); 0 = no window.",
    )
    max_future_seconds: float = Field(300, ge=0, description="Refuse messages timed further than this in the future.")
    reply_with_ack: bool = Field(
        True, description="Send the acknowledgement as the HTTP reply body (Kannel turns it into the reply SMS)."
    )
    multipart_timeout: float = Field(
        600,
        gt=0,
        description=(
            "Parts of a concatenated SMS that Kannel posts one by one (its `concatenation` off) are held in the "
            "spool and joined by their UDH reference; after this many seconds without the missing parts, each "
            "part is taken alone, flagged incomplete."
        ),
    )


class TwilioOptions(_Options):
    """A Twilio-compatible messaging webhook, signed with X-Twilio-Signature."""

    auth_token: Secret = Field(description="Auth token that signs requests (HMAC-SHA1 over URL and parameters).")
    fetch_media: bool = Field(True, description="Download MMS media into the attachment store after the commit.")
    media_base_url: str = Field(
        "https://api.twilio.com", pattern=r"^https://[^/?#]+(/[^?#]*)?$",
        description="Only media URLs under it get the account's basic auth (AccountSid from the URL, auth token).",
    )
    public_url: str | None = Field(
        None, description="The exact webhook URL configured at the provider; the signature is checked against it. "
        "Unset: the URL the request names (Host, or X-Forwarded-* from webhooks.trusted_proxies); check-config warns."
    )


class AggregatorOptions(_Options):
    """An Indonesian SMS aggregator's MO push (NusaSMS style form fields)."""

    token: Secret = Field(description="Shared secret, sent as ?token=... or the X-Kanal-Token header.")
    field_id: str = Field("id", description="Form field with the aggregator's message id.")
    field_sender: str = Field("originator", description="Form field with the sender number.")
    field_text: str = Field("msg", description="Form field with the message text.")
    field_time: str = Field("receive_date", description="Form field with the receive time, YYYY-mm-dd HH:MM:SS local.")
    field_recipient: str = Field("gateway_number", description="Form field with the receiving number.")
    max_age_seconds: float = Field(
        172_800, ge=0, description="Refuse messages whose receive time is older than this (replay window); 0 = none."
    )
    max_future_seconds: float = Field(300, ge=0, description="Refuse messages timed further than this in the future.")


class JsonOptions(_Options):
    """Kanal's own JSON inbound format for any other gateway (documented in docs/sms.md)."""

    secret: Secret = Field(
        description="HMAC-SHA256 key: X-Kanal-Signature = sha256=hex(HMAC(secret, X-Kanal-Timestamp + '.' + body))."
    )
    max_skew_seconds: float = Field(
        300, gt=0, description="Refuse requests whose X-Kanal-Timestamp is further off than this (or not finite)."
    )


class AckOptions(_Options):
    """The acknowledgement SMS sent back to a citizen (off by default)."""

    enabled: bool = Field(False, description="Send an acknowledgement SMS for each new complaint.")
    text: str = Field(
        "Terima kasih, aduan Anda sudah kami terima dengan nomor {ref}. Pemprov DKI Jakarta.",
        max_length=300,
        description="Indonesian text; {ref} is the complaint's reference number.",
    )
    window_seconds: float = Field(
        86_400,
        ge=0,
        description="At most one acknowledgement per sender in this window, so a flood cannot make us spam.",
    )
    kannel_sendsms_url: str | None = Field(
        None,
        description=(
            "Kannel sendsms URL (http://host:13013/cgi-bin/sendsms) to send acks with instead of the reply body."
        ),
    )
    kannel_username: str | None = Field(None, description="sendsms username.")
    kannel_password: Secret | None = Field(None, description="sendsms password.")

    @field_validator("text")
    @classmethod
    def _has_ref(cls, value: str) -> str:
        if "{ref}" not in value:
            msg = "the acknowledgement text must contain {ref}"
            raise ValueError(msg)
        return value


class SmsOptions(_Options):
    """Options of one ``sms`` channel instance."""

    account: str = Field(description="The receiving number (+628111272206, 0811 1272 206) or short code (1708).")
    backend: Backend = Field(description="Which gateway delivers this number's messages.")
    gateway_utc_offset_hours: float = Field(
        7,
        ge=-12,
        le=14,
        description=(
            "UTC offset of times the gateway writes without one (WIB = 7): the SMSD host's zone for gammu_sql, "
            "the SMSC's for gammu_files names, the aggregator's receive_date. Kannel has its own "
            "(kannel.time_utc_offset_hours)."
        ),
    )
    drop_alphanumeric_senders: bool = Field(
        True, description="Drop messages from masked senders (TELKOMSEL, INFO-BANK): operator and promotional noise."
    )
    drop_short_code_senders: bool = Field(
        True, description="Drop messages sent from short codes (3 to 6 digits): operator and content-provider noise."
    )
    drop_sender_patterns: list[str] = Field(
        default_factory=list, description="Regular expressions (case-insensitive) of further senders to drop."
    )
    gammu_files: GammuFilesOptions | None = Field(None, description="Options of the gammu_files backend.")
    gammu_sql: GammuSqlOptions | None = Field(None, description="Options of the gammu_sql backend.")
    kannel: KannelOptions | None = Field(None, description="Options of the kannel backend.")
    twilio: TwilioOptions | None = Field(None, description="Options of the twilio backend.")
    aggregator: AggregatorOptions | None = Field(None, description="Options of the aggregator backend.")
    json_inbound: JsonOptions | None = Field(None, alias="json", description="Options of the json backend.")
    ack: AckOptions = Field(AckOptions(), description="The acknowledgement SMS (off by default).")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("account")
    @classmethod
    def _account(cls, value: str) -> str:
        number = to_e164(value)
        if number is None:
            msg = f"{value!r} is neither a phone number nor a short code"
            raise ValueError(msg)
        return number

    @field_validator("drop_sender_patterns")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                msg = f"bad pattern {pattern!r}: {exc}"
                raise ValueError(msg) from None
        return value

    @model_validator(mode="after")
    def _backend_block(self) -> SmsOptions:
        if self.backend_options is None:
            key = "json" if self.backend == "json" else self.backend
            msg = f"backend {self.backend!r} needs its options block `{key}:`"
            raise ValueError(msg)
        return self

    @property
    def backend_options(self) -> BaseModel | None:
        """The options block of the chosen backend."""
        return self.json_inbound if self.backend == "json" else getattr(self, self.backend)

    @property
    def gateway_tz(self) -> timezone:
        """Timezone of the gateway's local times."""
        return timezone(timedelta(hours=self.gateway_utc_offset_hours))

    def config_warnings(self) -> list[str]:
        """Valid but risky settings, for ``kanal check-config``."""
        if self.backend == "twilio" and self.twilio is not None and not self.twilio.public_url:
            return [(
                "twilio.public_url is unset: the signature is checked against the URL the request names "
                "(its Host header, or X-Forwarded-* from webhooks.trusted_proxies), so a request signed for "
                "another endpoint can be replayed here with that endpoint's Host. Set public_url to the URL "
                "configured at the provider."
            )]
        return []

    def sender_pattern(self) -> re.Pattern[str] | None:
        """One compiled regex of every drop pattern, or None."""
        if not self.drop_sender_patterns:
            return None
        return re.compile("|".join(f"(?:{p})" for p in self.drop_sender_patterns), re.IGNORECASE)
