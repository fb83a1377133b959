"""Options of the ``email`` channel type (one mailbox per channel instance)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from config.secrets import Secret
from connectors.email.oauth2 import OAuth2Settings

#: RFC 2177: a server may drop an IDLE after 29 minutes; renew well before that.
IDLE_LIMIT_SECONDS = 29 * 60


class EmailOptions(BaseModel):
    """One IMAP mailbox: where it is, how to log in, which folders to read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str = Field(
        description="The mailbox's own address, e.g. dki@jakarta.go.id: the channel account, and mail "
        "from it is dropped (own_address)."
    )
    host: str = Field(description="IMAP server host name.")
    port: int | None = Field(
        None, ge=1, le=65535, description="IMAP port; default 993 with TLS, 143 without."
    )
    tls: bool = Field(
        True, description="Implicit TLS (IMAPS) with certificate checks. Turn off only for tests."
    )
    starttls: bool = Field(
        False, description="With tls off: upgrade a plain connection with STARTTLS."
    )
    ca_file: Path | None = Field(
        None, description="CA bundle (PEM) to trust instead of the system's, e.g. a private CA."
    )
    username: str | None = Field(None, description="Login name; default: address.")
    password: Secret | None = Field(
        None, description="Password reference (${ENV_VAR} or file:/path)."
    )
    oauth2_token: Secret | None = Field(
        None,
        description="A fixed OAuth2 access token reference (XOAUTH2), instead of a password; it is never "
        "refreshed (use oauth2 for that).",
    )
    oauth2: OAuth2Settings | None = Field(
        None,
        description="XOAUTH2 with access tokens from a token endpoint, refreshed before they expire and after "
        "a refused login (client-credentials or refresh-token grant).",
    )
    folders: list[str] = Field(
        default_factory=lambda: ["INBOX"],
        min_length=1,
        description="Folders to read; each is watched with IDLE (one connection per folder after the first).",
    )
    processed_folder: str = Field(
        "Processed",
        description="Handled mail is moved here after the spool commit (created if missing).",
    )
    quarantine_folder: str = Field(
        "Quarantine",
        description="Mail that could not be read is moved here after it is quarantined.",
    )
    idle: bool = Field(
        True, description="Use IMAP IDLE when the server offers it (push); otherwise only poll."
    )
    idle_renew_seconds: float = Field(
        600,
        gt=0,
        le=IDLE_LIMIT_SECONDS - 60,
        description="Renew IDLE this often (must stay under 29 min).",
    )
    fetch_chunk: int = Field(50, ge=1, le=1000, description="Messages downloaded per IMAP FETCH.")
    fetch_max_bytes: int = Field(
        32 * 1024 * 1024,
        gt=0,
        description="Bytes downloaded per IMAP FETCH (bounds memory); a larger message goes alone.",
    )
    max_download_bytes: int = Field(
        40 * 1024 * 1024,
        gt=0,
        description="Mail larger than this (RFC822.SIZE) is not downloaded whole: its header, text parts and "
        "files within the attachment caps are, and its other parts are listed as omitted.",
    )
    timeout: float = Field(60, gt=0, description="Socket timeout of IMAP commands, seconds.")
    own_addresses: list[str] = Field(
        default_factory=list,
        description="Further addresses of ours (aliases, no-reply): mail from them is dropped.",
    )

    @model_validator(mode="after")
    def _one_credential(self) -> EmailOptions:
        if sum(x is not None for x in (self.password, self.oauth2_token, self.oauth2)) != 1:
            msg = "set exactly one of password, oauth2_token or oauth2"
            raise ValueError(msg)
        if self.processed_folder in self.folders or self.quarantine_folder in self.folders:
            msg = "processed_folder and quarantine_folder must not be among the folders read"
            raise ValueError(msg)
        return self

    @property
    def login(self) -> str:
        """The IMAP login name."""
        return self.username or self.address

    @property
    def effective_port(self) -> int:
        """The port to connect to."""
        return self.port or (993 if self.tls else 143)
