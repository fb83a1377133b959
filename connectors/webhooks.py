"""One HTTP server (waitress) that hosts every push channel.

Each channel instance gets routes under ``<prefix>/<channel name>``. A handler
verifies the request (signature, token) and hands back raw messages; the server
commits them through the channel's runner and answers 2xx only after the commit.
If the commit fails the answer is 503, so the sender retries. A refused request
(403) is counted per channel and logged without its content.

waitress is used rather than the stdlib server: it is a maintained, pure-Python
production WSGI server with a thread pool, request size limits and clean shutdown.
Routing, request parsing and responses are werkzeug's, the toolkit the desk app and
the Inspektorat form (kanal/web) are built on too.

Body limits: waitress buffers a whole request before it calls the application, and
allows 1 GiB by default. It is given the largest limit of the site: the server's
(``webhooks.max_body_bytes``, 5 MiB by default), or a mounted page app's if that is
larger (the desk app takes photos). waitress answers 413 as soon as the declared
length (or the chunked body received so far) passes it, without reading the rest.
Each route's own limit (``WebhookRoute.max_body_bytes``, else the server's) is then
the application's: a declared length over it is refused before the body is read,
and a body with no declared length is read at most one byte past it; either way
413, and nothing is stored. A chunked body is buffered by waitress up to the site's
limit before the route's limit can refuse it.

Over 300 lines on purpose: the WSGI application and the waitress server that runs it
hold the two halves of those body limits and read best side by side; the throttle of
waitress's queue warnings is :mod:`connectors.queue_warnings`, the URL a request was
addressed to :func:`connectors.proxies.public_url`.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import structlog
import waitress
from waitress.server import BaseWSGIServer
from werkzeug.exceptions import MethodNotAllowed, NotFound, RequestEntityTooLarge
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from connectors.observe import NO_OBSERVER, Observer
from connectors.proxies import TrustedProxies, public_url
from connectors.push import UnreadableBody, WebhookOutcome, WebhookRequest, WebhookRoute, text_response
from connectors.queue_warnings import throttle_queue_warnings
from connectors.runner import ChannelRunner

#: Default wait of a webhook's spool commit for a lock, seconds (see ``WebhookApp``).
COMMIT_WAIT = 3.0
#: Retry-After of a 503 when the spool could not commit in time, seconds.
RETRY_AFTER = 5

log = structlog.get_logger("kanal.webhooks")

@dataclass(frozen=True)
class _Bound:
    runner: ChannelRunner
    route: WebhookRoute


#: Default body limit of the server (``webhooks.max_body_bytes``): Meta batches many events per POST.
DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024


class WebhookApp:
    """The WSGI application: routing, body limits, commit-then-answer.

    Routing, request parsing and responses are werkzeug's (a ``Map`` of ``Rule``
    objects, ``Request``, ``Response``); this class adds what is ours: the body
    limits, the commit before the answer, and the counters.

    Parameters:
        prefix: path prefix of every channel route (``/webhooks``).
        max_body_bytes: larger bodies get 413 and store nothing; a route may declare
            a smaller limit of its own.
        health: optional callable returning a JSON-able dict for ``GET /healthz``
            (503 unless its ``status`` is ``ok``).
        ready: optional callable, the same for ``GET /readyz`` (load balancers).
        trusted_proxies: addresses or networks (``10.0.0.5``, ``10.0.0.0/8``) of the
            reverse proxies in front; only a request from one of them may set the
            URL it was addressed to with ``X-Forwarded-Proto`` / ``X-Forwarded-Host``.
        commit_wait: seconds a webhook's spool commit waits for a lock before the
            answer is 503 with ``Retry-After``: well inside the senders' timeouts
            (Twilio gives up after 15 s), so they retry instead of timing out.
    """

    def __init__(
        self, prefix: str = "/webhooks", max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        health: Callable[[], dict[str, Any]] | None = None,
        trusted_proxies: Iterable[str] = (), commit_wait: float = COMMIT_WAIT,
        ready: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.max_body_bytes = max_body_bytes
        self.health = health
        self.ready = ready
        #: Told about every answer (route, status, time); ``kanal run`` sets it.
        self.observer: Observer = NO_OBSERVER
        self.trusted_proxies = TrustedProxies(trusted_proxies)
        self.commit_wait = commit_wait
        self._routes: dict[tuple[str, str], _Bound] = {}
        self._map = Map(strict_slashes=False, merge_slashes=False)

    def add_channel(self, runner: ChannelRunner, routes: Iterable[WebhookRoute]) -> list[str]:
        """Mount a channel's routes; returns the full paths."""
        paths = []
        for route in routes:
            path = f"{self.prefix}/{runner.name}{route.path}"
            key = (route.method.upper(), path.rstrip("/") or "/")
            if key in self._routes:
                msg = f"two handlers for {key[0]} {key[1]}"
                raise ValueError(msg)
            self._routes[key] = _Bound(runner, route)
            self._map.add(Rule(_literal(key[1]), methods=[key[0]], endpoint=key))
            paths.append(f"{key[0]} {key[1]}")
        return paths

    @property
    def routes(self) -> list[str]:
        """Every mounted route as ``METHOD /path``."""
        return sorted(f"{m} {p}" for m, p in self._routes)

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter()
        response = self.handle(environ)
        if self.observer is not NO_OBSERVER:
            bound = environ.get("kanal.webhook_route")
            channel, route = (bound.runner.name, bound.route.path or "/") if bound else ("", "unmatched")
            if bound or not environ.get("kanal.probe"):
                self.observer.webhook_answered(channel, route, environ.get("REQUEST_METHOD", ""),
                                               response.status_code, time.perf_counter() - started)
        return response(environ, start_response)

    def handle(self, environ: dict[str, Any]) -> Response:
        """Answer one request."""
        request = Request(environ)
        method = request.method.upper()
        path = (request.script_root + request.path).rstrip("/") or "/"
        probe = {"/healthz": self.health, "/readyz": self.ready}.get(path) if method == "GET" else None
        if probe is not None:
            environ["kanal.probe"] = True
            report = probe()
            return Response(json.dumps(report), 200 if report.get("status") == "ok" else 503,
                            content_type="application/json")
        try:
            key, _ = self._map.bind("localhost", path_info=path).match(method=method)
        except MethodNotAllowed:
            return text_response(405, "method not allowed\n")
        except NotFound:
            return text_response(404, "no such route\n")
        bound = self._routes[key]
        environ["kanal.webhook_route"] = bound
        if key[0] != method:  # werkzeug lets HEAD reach a GET rule; a route answers its own method only
            return text_response(405, "method not allowed\n")
        declared = environ.get("CONTENT_LENGTH") or "0"
        if not declared.isdigit():
            return text_response(400, "bad Content-Length\n")
        limit = min(bound.route.max_body_bytes or self.max_body_bytes, self.max_body_bytes)
        # werkzeug refuses a declared length over max_content_length, and reads a body
        # that declares none (a server that de-chunks as it reads) through a stream it
        # cuts there silently: one byte over the route's limit tells the two apart.
        request.max_content_length = limit + 1
        try:
            body = request.get_data(cache=False)
        except RequestEntityTooLarge:
            body = None
        if body is None or len(body) > limit:
            bound.runner.log.warning("webhook body too large", path=path, declared=request.content_length, limit=limit)
            return text_response(413, "body too large\n")
        remote = request.remote_addr or ""
        webhook_request = WebhookRequest(
            method=method,
            path=path[len(f"{self.prefix}/{bound.runner.name}"):],
            query=request.args,
            headers=request.headers,
            body=body,
            url=public_url(request, self.trusted_proxies.trusts(remote)),
            remote_addr=remote,
        )
        return self._dispatch(bound, webhook_request)

    def _dispatch(self, bound: _Bound, request: WebhookRequest) -> Response:
        runner = bound.runner
        try:
            answer = bound.route.handler(request)
        except Exception as exc:
            # Handlers do no I/O: whatever made this one fail is in the request, and
            # would make it fail again on every retry. A 4xx stops the retries.
            if isinstance(exc, UnreadableBody):
                runner.log.warning("webhook body unreadable", path=request.path, reason=str(exc),
                                   bytes=len(request.body))
                reason = str(exc)
            else:
                runner.log.exception("webhook handler failed on this request", path=request.path,
                                     bytes=len(request.body))
                reason = "request could not be read"
            self._count(runner, "webhook.unreadable")
            return text_response(400, reason + "\n")
        if isinstance(answer, Response):
            if answer.status_code in (401, 403):
                runner.log.warning("webhook refused", status=answer.status_code, path=request.path,
                                   remote=request.remote_addr, bytes=len(request.body))
                self._count(runner, "webhook.forbidden")
            return answer
        if not isinstance(answer, WebhookOutcome):
            runner.log.error("webhook handler returned neither a response nor an outcome")
            return text_response(500, "internal error\n")
        if not answer.messages:
            # A signed delivery with nothing to take in (an empty batch, an event type the
            # channel does not read): answered 2xx, so it must be counted, not vanish.
            self._count(runner, "webhook.no_messages")
        started = time.perf_counter()
        try:
            results = runner.ingest(list(answer.messages), wait=self.commit_wait)
        except Exception:
            runner.log.exception("spool commit failed; answering 503 so the sender retries")
            busy = text_response(503, "try again later\n")
            busy.headers["Retry-After"] = str(RETRY_AFTER)
            return busy
        runner.log.debug("webhook committed", messages=len(results),
                         ms=round((time.perf_counter() - started) * 1000, 2))
        return answer.reply(results)

    @staticmethod
    def _count(runner: ChannelRunner, name: str) -> None:
        try:
            runner.spool.count(runner.name, name)
        except Exception:  # a counter must not change the answer
            runner.log.exception("could not count a webhook answer", counter=name)


def _literal(path: str) -> str:
    """A path as a werkzeug rule that matches only itself (no converters)."""
    return path.replace("<", "%3C").replace(">", "%3E")


class WebhookServer:
    """Runs a :class:`WebhookApp` on waitress in a background thread.

    Parameters:
        app: the application; its ``max_body_bytes`` is waitress's request body limit.
        host, port: where to listen (port 0 picks a free one; see ``port``).
        threads: worker threads.
        label: what the log line at start calls this server.
    """

    def __init__(self, app: WebhookApp, host: str = "127.0.0.1", port: int = 8080, threads: int = 8,
                 label: str = "webhook server") -> None:
        self.app = app
        self.label = label
        self._map: dict = {}
        self._server: BaseWSGIServer = waitress.create_server(
            app, map=self._map, host=host, port=port, threads=threads, ident="kanal",
            clear_untrusted_proxy_headers=False, channel_timeout=30,
            max_request_body_size=app.max_body_bytes,
        )
        # waitress meets an exception in the listening socket's handler (an accept that
        # raises something unforeseen) by closing the listener and looping on: the process
        # would run on without taking webhooks. Re-raise it instead, so the serving thread
        # dies and its supervisor fails the process (docs/operations.md, "No silent death").
        # Errors of single connections stay waitress's business (that connection closes).
        self._server.handle_error = self._listener_failed
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        throttle_queue_warnings()

    @property
    def port(self) -> int:
        """The port actually listened on."""
        return int(self._server.effective_port)

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://{self._server.effective_host}:{self.port}"

    def start(self) -> None:
        """Serve in a daemon thread of its own (tests; ``kanal run`` calls :meth:`serve`)."""
        self._thread = threading.Thread(target=self.serve, name="kanal-webhooks", daemon=True)
        self._thread.start()

    def serve(self) -> None:
        """Serve in the calling thread until :meth:`stop`."""
        if self._thread is None:
            self._thread = threading.current_thread()
        log.info(f"{self.label} listening", url=self.url, routes=self.app.routes)
        while not self._stopping.is_set():
            self._server.asyncore.loop(timeout=0.2, map=self._map, use_poll=True, count=1)
            if self._server.socket is None and not self._stopping.is_set():  # closed on a poll error or hang-up
                msg = f"the {self.label} stopped listening on {self.url}"
                raise RuntimeError(msg)

    def _listener_failed(self) -> None:
        """The listener's ``handle_error``: waitress calls it in its ``except`` block; re-raise."""
        error = sys.exc_info()[1]
        if error is None:
            BaseWSGIServer.handle_error(self._server)
            return
        raise error

    def stop(self, timeout: float = 10) -> None:
        """Stop accepting connections, let requests in flight finish, then return."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._server.close()
        self._server.task_dispatcher.shutdown(cancel_pending=False, timeout=timeout)
        for channel in list(self._map.values()):
            try:
                channel.close()
            except Exception:  # noqa: S110, BLE001 - closing idle sockets at shutdown
                pass
