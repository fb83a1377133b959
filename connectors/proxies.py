"""The reverse proxies in front of Kanal (``webhooks.trusted_proxies``) and what a
request relayed by one of them may say about itself.

Only a peer in this list may name the URL a request was addressed to
(``X-Forwarded-Proto`` / ``X-Forwarded-Host``) or the client it relays for
(``X-Forwarded-For``); from anyone else those headers are ignored, since anyone could
send them. The webhook server and the Inspektorat form's rate limit both ask here.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from werkzeug.wrappers import Request

# host, host:port, [v6]:port; nothing that could carry a path, query or user info.
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$")


class TrustedProxies:
    """Addresses or networks (``10.0.0.5``, ``10.0.0.0/8``) of the trusted proxies."""

    def __init__(self, networks: Iterable[str] = ()) -> None:
        self.networks = tuple(ipaddress.ip_network(n, strict=False) for n in networks)

    def trusts(self, address: str) -> bool:
        """True when ``address`` (a peer's IP) is one of the trusted proxies."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def client(self, remote_addr: str, forwarded_for: str | None) -> str:
        """The address of the client a request comes from.

        The peer itself, unless it is a trusted proxy: then the nearest address in
        ``X-Forwarded-For`` that is not a trusted proxy, read from the right (each
        proxy appends the peer it got the request from, so entries further left were
        written by the client and prove nothing).
        """
        if not self.trusts(remote_addr):
            return remote_addr
        hops = [hop.strip() for hop in (forwarded_for or "").split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop
        return hops[0] if hops else remote_addr


def public_url(request: Request, from_proxy: bool) -> str:
    """The URL the sender addressed: ``X-Forwarded-*`` counts only from a trusted
    proxy (anyone else could name another endpoint's URL and replay its signature);
    a ``Host`` that is not a host name (``evil/path?``) is ignored."""
    environ = request.environ
    scheme, host = request.scheme, request.headers.get("Host", "")
    if from_proxy:
        forwarded_proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        scheme = forwarded_proto if forwarded_proto in ("http", "https") else scheme
        host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip() or host
    if not _HOST.match(host):
        host = f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '80')}"
    url = f"{scheme}://{host}{environ.get('SCRIPT_NAME', '')}{environ.get('PATH_INFO', '')}"
    if environ.get("QUERY_STRING"):
        url += "?" + environ["QUERY_STRING"]
    return url
