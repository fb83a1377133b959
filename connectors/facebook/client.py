"""The Graph API client of one Page: facebook-sdk's ``GraphAPI`` on our own session.

Network only. Three things here work around facebook-sdk 3.1.0, the last release
(2018), which the project keeps because it is the maintained-enough, widely used
client and our tests exercise it for real:

* **Version.** Its constructor accepts only versions 2.8 to 3.1 (a ``#.#`` format
  check plus a fixed list), and Meta no longer serves those: a call to an expired
  version silently runs as the oldest live one. So the client is built without a
  version and ``graph.version`` is set to the configured current one afterwards;
  every path the library builds starts with that attribute.
* **Base URL.** The library joins the module global ``FACEBOOK_GRAPH_URL`` with the
  path. Changing that global would redirect every Page in the process, so instead
  the session gets an adapter that re-addresses requests for graph.facebook.com to
  the configured base URL (an egress proxy or a test server).
* **Headers.** The library returns only the JSON body; the usage headers that tell
  us to slow down are read by a ``requests`` response hook on the same session.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import facebook
import requests
from requests.adapters import HTTPAdapter

from connectors.errors import AuthFailed, NeedsReauthorisation, TransientError
from connectors.facebook.usage import THROTTLING_CODES, UsageTracker

#: Where facebook-sdk sends every request.
SDK_GRAPH_URL = facebook.FACEBOOK_GRAPH_URL
_TOKEN_IN_TEXT = re.compile(r"(access_token=)[^&\s'\"]+")
#: Subcodes of error 190, for the operator's message.
_TOKEN_SUBCODES = {
    458: "the app is not installed for the Page any more",
    459: "the account behind the token is in a security checkpoint",
    460: "the password of the account behind the token was changed",
    463: "the token expired",
    467: "the token is invalid",
}


def redact(text: str) -> str:
    """Remove access tokens from a text (requests errors quote the URL, query included)."""
    return _TOKEN_IN_TEXT.sub(r"\1[redacted]", text)


class BaseUrlAdapter(HTTPAdapter):
    """Re-addresses requests meant for ``https://graph.facebook.com/`` to ``base_url``."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/") + "/"

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        """Send ``request`` to the configured host, keeping path and query."""
        if request.url and request.url.startswith(SDK_GRAPH_URL):
            request.url = self.base_url + request.url[len(SDK_GRAPH_URL):]
        return super().send(request, **kwargs)


def build_session(base_url: str, usage: UsageTracker) -> requests.Session:
    """A session that reaches ``base_url`` and reports usage headers to ``usage``."""
    session = requests.Session()
    if base_url.rstrip("/") + "/" != SDK_GRAPH_URL:
        session.mount(SDK_GRAPH_URL, BaseUrlAdapter(base_url))
    session.hooks["response"].append(usage.response_hook)
    return session


def build_graph_api(
    access_token: str, version: str, session: requests.Session, timeout: float
) -> facebook.GraphAPI:
    """facebook-sdk's ``GraphAPI`` speaking Graph API ``version`` (e.g. ``v21.0``).

    The constructor rejects any version above 3.1, so none is passed and the
    attribute the library reads when building paths is set afterwards.
    """
    graph = facebook.GraphAPI(access_token=access_token, timeout=timeout, session=session)
    graph.version = version
    return graph


class GraphClient:
    """Reads a Page's edges with facebook-sdk and turns its errors into channel states.

    Parameters:
        access_token: the Page access token.
        version: Graph API version, ``vNN.N``.
        base_url: where graph.facebook.com requests go.
        timeout: seconds per request.
        usage: the tracker that paces this Page.
    """

    def __init__(
        self, access_token: str, version: str, base_url: str, timeout: float, usage: UsageTracker
    ) -> None:
        self.usage = usage
        self.session = build_session(base_url, usage)
        self.graph = build_graph_api(access_token, version, self.session, timeout)

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()

    def edge(self, object_id: str, connection: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of ``/{object_id}/{connection}``, following the cursor paging.

        Raises:
            RateLimited: access is paused (a throttling error or usage at 100 %).
            NeedsReauthorisation: error 190, the token is dead.
            AuthFailed: a permission is missing (10, 200-299) or a policy block (368).
            TransientError: anything else, network trouble included.
        """
        self.usage.check()
        items = self.graph.get_all_connections(object_id, connection, **params)
        while True:
            try:
                item = next(items)
            except StopIteration:
                return
            except facebook.GraphAPIError as exc:
                raise self.translate(exc) from None
            except requests.RequestException as exc:
                msg = f"Graph API unreachable: {type(exc).__name__}: {redact(str(exc))}"
                raise TransientError(msg) from None
            except (KeyError, ValueError, TypeError) as exc:
                # facebook-sdk indexes the response blindly (no Content-Type, no data key).
                detail = f"{type(exc).__name__}: {redact(str(exc))}"
                msg = f"malformed Graph API response for {connection}: {detail}"
                raise TransientError(msg) from None
            if isinstance(item, dict):
                yield item

    def node(self, object_id: str, **params: Any) -> dict[str, Any]:
        """One node, ``GET /{object_id}?fields=...``. Raises as :meth:`edge`."""
        self.usage.check()
        try:
            result = self.graph.get_object(object_id, **params)
        except facebook.GraphAPIError as exc:
            raise self.translate(exc) from None
        except requests.RequestException as exc:
            msg = f"Graph API unreachable: {type(exc).__name__}: {redact(str(exc))}"
            raise TransientError(msg) from None
        return result if isinstance(result, dict) else {}

    def translate(self, exc: facebook.GraphAPIError) -> Exception:
        """The channel error for a Graph API error (see the error-handling guide)."""
        result = exc.result if isinstance(exc.result, dict) else {}
        error = result.get("error") if isinstance(result.get("error"), dict) else {}
        code = exc.code if isinstance(exc.code, int) else error.get("code")
        subcode = error.get("error_subcode")
        message = redact(str(exc.message))
        if code == 190:
            why = _TOKEN_SUBCODES.get(subcode, "the token is expired or was invalidated")
            return NeedsReauthorisation(f"Graph API error 190 (subcode {subcode}): {why}: {message}")
        if code in THROTTLING_CODES:
            return self.usage.throttled_error(code, message)
        if code == 10 or (isinstance(code, int) and 200 <= code <= 299):
            return AuthFailed(f"Graph API permission missing (code {code}): {message}")
        if code == 368:
            return AuthFailed(f"Graph API policy block (code 368): {message}")
        return TransientError(f"Graph API error {code}: {message}")
