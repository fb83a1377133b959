"""The reverse proxies in front of Kanal (``webhooks.trusted_proxies``) and what a
request relayed by one of them may say about itself.

Only a peer in this list may name the URL a request was addressed to
(``X-Forwarded-Proto`` / ``X-Forwarded-Host``) or the client it relays for
(``X-Forwarded-For``); from anyone else those headers are ignored, since anyone could
send them. The webhook server and the Inspektorat form's rate limit both ask here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable


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
