"""What every page app shares: Jinja2 with autoescaping, the base template and
security headers on every answer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from werkzeug.wrappers import Response

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
