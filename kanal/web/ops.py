"""The operations listener's application: ``/metrics``, ``/healthz``, ``/readyz``.

Every ``kanal run`` and ``kanal router`` process serves it on ``metrics.host`` and
``metrics.port`` (``metrics.router_port``), loopback by default, on the same
werkzeug + waitress stack as the webhooks. It is a listener of its own rather than
routes on the webhook server: that one faces the internet (gateways, Meta), and the
figures and the status page are for ops only. The webhook server answers
``/healthz`` and ``/readyz`` too, for a load balancer in front of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from werkzeug.wrappers import Request, Response

from kanal.health import Probes


class OpsApp:
    """WSGI application of the operations listener.

    Parameters:
        probes: health and readiness of the process.
        metrics: returns the exposition text (``KanalMetrics.render``), or None when
            metrics are off.
        content_type: the exposition format's content type.
        pages: extra apps by mount point (the status page at ``/ops``).
    """

    #: Requests here are GETs and small form posts.
    max_body_bytes = 64 * 1024

    def __init__(self, probes: Probes, metrics: Callable[[], bytes] | None, content_type: str,
                 pages: Mapping[str, Any] | None = None) -> None:
        self.probes = probes
        self.metrics = metrics
        self.content_type = content_type
        self.pages = dict(pages or {})

    @property
    def routes(self) -> list[str]:
        """What this listener serves."""
        return ["GET /metrics", "GET /healthz", "GET /readyz", *(f"PAGE {p}/" for p in sorted(self.pages))]

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        for prefix, app in self.pages.items():
            if path == prefix or path.startswith(prefix + "/"):
                environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
                environ["PATH_INFO"] = path[len(prefix):]
                return app(environ, start_response)
        return self._answer(Request(environ))(environ, start_response)

    def _answer(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response("method not allowed\n", status=405, content_type="text/plain")
        path = request.path.rstrip("/") or "/"
        if path == "/metrics" and self.metrics is not None:
            return Response(self.metrics(), content_type=self.content_type,
                            headers={"Cache-Control": "no-store"})
        probe = {"/healthz": self.probes.health, "/readyz": self.probes.ready}.get(path)
        if probe is None:
            return Response("no such route\n", status=404, content_type="text/plain")
        report = probe()
        return Response(json.dumps(report), status=200 if report["status"] == "ok" else 503,
                        content_type="application/json", headers={"Cache-Control": "no-store"})
