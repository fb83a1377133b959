"""Options of the ``walkin`` channel type."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from config.secrets import Secret

#: A kelurahan (31.71.01.1002) or kecamatan (31.71.01) code.
AREA_CODE = r"^31\.\d{2}\.\d{2}(\.\d{4})?$"
#: Prefix of the complaint flag that carries the desk's area to the router (router/location.py).
DESK_AREA_FLAG = "desk_area:"


class DeskLogin(BaseModel):
    """One desk that signs in to the desk app (``/desk/``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,47}$", description="Login name, e.g. 'balaikota' or 'kel-gambir'.")
    name: str = Field(min_length=1, description="Shown on receipts and used as the complaint's channel account.")
    kelurahan: str | None = Field(
        None, pattern=r"^31\.\d{2}\.\d{2}\.\d{4}$",
        description="Kode wilayah of the desk's own kelurahan (the picker starts there), e.g. '31.71.01.1001'.",
    )
    area: str | None = Field(
        None, pattern=AREA_CODE,
        description="Kode wilayah of the area the desk serves: its kelurahan ('31.71.01.1002'), or its "
        "kecamatan ('31.71.01') at a kantor kecamatan. The router takes it as the location of a complaint "
        "that names no place (after the location fields and the text). Leave it out at desks that serve "
        "all Jakarta (Balai Kota).",
    )
    password_hash: str = Field(
        pattern=r"^\$(argon2id|argon2i|argon2d)\$",
        description="Output of 'kanal desk passwd' (argon2id); never a password.",
    )


class WalkInOptions(BaseModel):
    """A walk-in desk: a drop folder of JSON files and/or an HTTP JSON endpoint."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    desk: str = Field(description="The desk, used as the channel account, e.g. 'Balai Kota' or 'Kec. Gambir'.")
    area: str | None = Field(
        None, pattern=AREA_CODE,
        description="Kode wilayah of the kelurahan or kecamatan that desk serves, for complaints without a "
        "'desk' (see desks[].area).",
    )
    inbox: Path | None = Field(
        None, description="Folder the desk application writes one <ref>.json per complaint into (polled)."
    )
    done: Path | None = Field(
        None, description="Folder handled files are moved to after the spool commit (default: <inbox>/../done)."
    )
    token: Secret | None = Field(
        None, description="Bearer token for POST /webhooks/<channel>; without it the HTTP endpoint is off."
    )
    time_format: str | None = Field(
        None,
        description="strptime format of 'submitted_at' (WIB) for desk applications that do not send "
        "ISO-8601, e.g. '%d/%m/%Y %H:%M'.",
    )
    max_files_per_poll: int = Field(1000, ge=1, description="Files read per poll, oldest first.")
    desks: list[DeskLogin] = Field(
        default_factory=list, description="Desks that sign in to the desk app at /desk/ (none: the app is off)."
    )
    confidential: bool = Field(
        False, description="Every complaint of this channel is confidential: it goes only to the confidential queue."
    )
    inspektorat_form: bool = Field(
        False, description="Serve the public Inspektorat form at /inspektorat/ on this channel (needs confidential)."
    )
    cookie_secure: bool = Field(
        True, description="Desk session cookies carry the Secure flag (serve the desk app over HTTPS)."
    )

    @model_validator(mode="after")
    def _check(self) -> WalkInOptions:
        if self.inspektorat_form and not self.confidential:
            msg = "inspektorat_form needs confidential: true"
            raise ValueError(msg)
        if self.inspektorat_form and self.desks:
            msg = "a channel serves either desks or the Inspektorat form, not both"
            raise ValueError(msg)
        ids = [d.id for d in self.desks]
        if len(ids) != len(set(ids)):
            msg = "two desks with the same id"
            raise ValueError(msg)
        return self

    def desk_login(self, desk_id: str) -> DeskLogin | None:
        """The desk with this login name, or None."""
        return next((d for d in self.desks if d.id == desk_id), None)
