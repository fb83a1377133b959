"""What every page app shares: Jinja2 with autoescaping, the base template, security
headers on every answer, and the WSGI dispatch (:class:`PageApp`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from werkzeug.exceptions import HTTPException, NotFound, RequestEntityTooLarge
from werkzeug.routing import Map
from werkzeug.wrappers import Request, Response

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"

#: No script, style or image from anywhere but Kanal; no framing; no referrer leaks.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def environment(app_templates: Path, finalize: Callable[[Any], Any] | None = None) -> Environment:
    """A Jinja2 environment over an app's templates plus the shared ones, autoescaping on.

    ``finalize`` is applied to every ``{{ value }}`` before it is escaped (the status page
    uses it to show control characters and lone surrogates of hostile input as text).
    """
    return Environment(
        loader=ChoiceLoader([FileSystemLoader(app_templates), FileSystemLoader(WEB_DIR / "templates")]),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=finalize,
    )


def page(env: Environment, template: str, status: int = 200, cache: str = "no-store", **context: Any) -> Response:
    """Render ``template`` as an HTML response with the security headers.

    ``cache`` is ``no-store`` for pages with personal data; a form whose idempotency
    key must survive the browser's back button uses ``private, no-cache`` instead.
    """
    response = Response(env.get_template(template).render(**context), status=status,
                        content_type="text/html; charset=utf-8")
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = cache
    return response


class PageApp:
    """A WSGI app of pages: ``map`` names endpoints, ``on_<endpoint>(request, **args)``
    answers them; bodies are capped at ``max_body_bytes``.

    Subclasses set :attr:`map` and :attr:`max_body_bytes` and say how an error looks
    (:meth:`error_response`): the desk in Indonesian for clerks, the status page as
    plain text for ops.
    """

    map: Map
    max_body_bytes: int

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        request.max_content_length = self.max_body_bytes
        request.max_form_memory_size = self.max_body_bytes
        try:
            endpoint, args = self.map.bind_to_environ(environ).match()
            response = getattr(self, f"on_{endpoint}")(request, **args)
        except RequestEntityTooLarge:
            response = self.error_response(request, 413)
        except NotFound:
            response = self.error_response(request, 404)
        except HTTPException as exc:
            response = exc.get_response(environ)
        return response(environ, start_response)

    def error_response(self, request: Request, status: int) -> Response:
        """The answer for a body over the cap (413) or an unknown page (404)."""
        raise NotImplementedError
