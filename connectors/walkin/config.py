"""Options of the ``walkin`` channel type."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from config.secrets import Secret


class WalkInOptions(BaseModel):
    """A walk-in desk: a drop folder of JSON files and/or an HTTP JSON endpoint."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    desk: str = Field(description="The desk, used as the channel account, e.g. 'Balai Kota' or 'Kec. Gambir'.")
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
