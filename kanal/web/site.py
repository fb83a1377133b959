"""The WSGI stack served by waitress: webhooks at their prefix, page apps at theirs,
the shared static files at ``/static/``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.middleware.shared_data import SharedDataMiddleware

from connectors.webhooks import WebhookApp
from kanal.web.pages import STATIC_DIR


class Site:
    """One WSGI application for the whole HTTP surface.

    Parameters:
        webhooks: the webhook application (it also answers ``/healthz``).
        apps: page apps by mount point (``/desk``, ``/inspektorat``), each a WSGI
            application with a ``max_body_bytes`` attribute.
    """

    def __init__(self, webhooks: WebhookApp, apps: Mapping[str, Any]) -> None:
        self.webhooks = webhooks
        self.apps = dict(apps)
        mounts: dict[str, Callable] = dict(self.apps)
        self._wsgi = SharedDataMiddleware(DispatcherMiddleware(webhooks, mounts), {"/static": str(STATIC_DIR)},
                                          cache_timeout=3600)

    @property
    def max_body_bytes(self) -> int:
        """waitress's request limit: the largest of the apps' (each app enforces its own)."""
        return max([self.webhooks.max_body_bytes, *(a.max_body_bytes for a in self.apps.values())])

    @property
    def routes(self) -> list[str]:
        """Webhook routes plus the page apps' mount points."""
        return [*self.webhooks.routes, *(f"PAGE {p}/" for p in sorted(self.apps))]

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        return self._wsgi(environ, start_response)
