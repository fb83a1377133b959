"""Which page apps ``kanal run`` mounts: the desk app for a ``walkin`` channel with
``desks``, the Inspektorat form for one with ``inspektorat_form``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from config.loader import LoadedConfig
from connectors.runner import ChannelRunner
from connectors.webhooks import WebhookApp
from kanal.web.site import Site


def build_site(loaded: LoadedConfig, runners: Sequence[ChannelRunner], webhooks: WebhookApp) -> Site | WebhookApp:
    """The webhook app alone, or a :class:`Site` with the page apps the channels ask for."""
    cfg = loaded.kanal
    apps: dict[str, Any] = {}
    for runner in runners:
        if runner.type != "walkin":
            continue
        options = runner.connector.options
        caps = (cfg.attachments.max_file_bytes, cfg.attachments.max_message_bytes)
        if options.desks:
            if "/desk" in apps:
                msg = f"only one walkin channel may list desks (also {runner.name})"
                raise ValueError(msg)
            from kanal.desk.app import DeskApp
            from router.rules import load_rules

            categories = {code: c.name for code, c in load_rules(cfg.router.rules).categories.items()}
            apps["/desk"] = DeskApp(runner, options, categories, *caps, routed_locally=cfg.embedded)
        if options.inspektorat_form:
            if "/inspektorat" in apps:
                msg = f"only one walkin channel may serve the Inspektorat form (also {runner.name})"
                raise ValueError(msg)
            from kanal.inspektorat.app import InspektoratApp

            apps["/inspektorat"] = InspektoratApp(runner, *caps, trusted_proxies=webhooks.trusted_proxies)
    return Site(webhooks, apps) if apps else webhooks
