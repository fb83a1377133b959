"""Options of the ``facebook`` channel type (one instance per Facebook Page)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from config.secrets import Secret
from connectors.facebook.usage import DEFAULT_THROTTLE_WAIT

#: Graph API version used when the config names none. Meta keeps a version for at
#: least two years; bump it here and in the docs when it nears its end of life.
DEFAULT_GRAPH_VERSION = "v21.0"
DEFAULT_GRAPH_URL = "https://graph.facebook.com/"


class FacebookOptions(BaseModel):
    """One Facebook Page, its Messenger inbox and (optionally) its linked Instagram account."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    page_id: str = Field(pattern=r"^[0-9]{1,32}$", description="Numeric id of the Facebook Page.")
    page_access_token: Secret = Field(
        description="Page access token (needs MODERATE and MESSAGING tasks on the Page)."
    )
    app_secret: Secret | None = Field(
        None, description="Meta app secret; verifies X-Hub-Signature-256. Without it webhooks are off."
    )
    verify_token: Secret | None = Field(
        None, description="The verify token typed into the Meta app's webhook settings (GET handshake)."
    )
    instagram_account_id: str | None = Field(
        None,
        pattern=r"^[0-9]{1,32}$",
        description="Id of the Instagram professional account linked to this Page; its webhook "
        "events (object: instagram) are taken in by this instance.",
    )
    graph_api_version: str = Field(
        DEFAULT_GRAPH_VERSION,
        pattern=r"^v[0-9]{1,2}\.[0-9]$",
        description="Graph API version, e.g. v21.0.",
    )
    graph_api_base_url: str = Field(
        DEFAULT_GRAPH_URL,
        pattern=r"^https?://[^/?#]+(/[^?#]*)?$",
        description="Graph API base URL; point it at an egress proxy or a test server.",
    )
    request_timeout: float = Field(30, gt=0, le=300, description="Seconds per Graph API request.")
    fetch_media: bool = Field(
        True, description="Download photos and files of posts, comments, Messenger and Instagram into the attachment "
        "store after the commit (Meta's CDN links expire); off: they stay links."
    )
    page_size: int = Field(
        50, ge=1, le=100, description="Items per Graph API page (the limit parameter)."
    )
    poll_feed: bool = Field(True, description="Poll visitor posts on the Page's feed.")
    poll_comments: bool = Field(True, description="Poll comments under the Page's recent posts.")
    poll_conversations: bool = Field(True, description="Poll Messenger conversations.")
    poll_instagram: bool = Field(
        True, description="Poll comments under the Instagram account's recent posts (with instagram_account_id)."
    )
    fetch_mentions: bool = Field(
        True, description="Read the text of an Instagram @mention from the Graph API when its webhook arrives."
    )
    comment_lookback_days: float = Field(
        14, gt=0, le=365,
        description="Posts younger than this are checked for new comments on each poll.",
    )
    initial_lookback_hours: float = Field(
        24, ge=0, le=24 * 90, description="On the very first poll, take in items this recent."
    )
    slow_down_at_percent: float = Field(
        75, gt=0, le=100,
        description="Usage (X-App-Usage / X-Business-Use-Case-Usage) above which polls are spaced out.",
    )
    throttle_wait_seconds: float = Field(
        DEFAULT_THROTTLE_WAIT, gt=0, le=86_400,
        description="Pause after a throttling error when Meta gives no time to regain access "
        "(estimated_time_to_regain_access is used when it does).",
    )

    @model_validator(mode="after")
    def _webhook_pair(self) -> FacebookOptions:
        if (self.app_secret is None) != (self.verify_token is None):
            msg = "set both app_secret and verify_token to enable webhooks, or neither"
            raise ValueError(msg)
        return self

    @property
    def webhooks_enabled(self) -> bool:
        """True when the instance serves the Meta webhook routes."""
        return self.app_secret is not None
