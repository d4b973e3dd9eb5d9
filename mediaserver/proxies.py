"""A reverse proxy in front (issue 15: TLS ends there; docs/operations.md, "TLS in front (HTTPS)"): who the
client is and which scheme it used, as a peer in ``trusted_proxies`` tells it in X-Forwarded-For and
X-Forwarded-Proto. What any other peer says in those headers is ignored: anyone can send them."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from mediaserver.config import Network, Settings, parse_networks

SCHEMES = ("http", "https")


def client_address(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """The client's address: the TCP peer, unless the peer is a trusted proxy; then the X-Forwarded-For
    entries are read from the right (the proxy nearest to us appended the last one) and the first address
    that is not itself a trusted proxy is the client. An untrusted peer's X-Forwarded-For is ignored: anyone
    can send one."""
    address = peer or "unknown"
    if not trusted:
        return address
    hops = [h.strip() for line in forwarded_for for h in line.split(",") if h.strip()]
    while is_trusted(address, trusted) and hops:
        address = hops.pop()
    return address


def forwarded_scheme(
    peer: str | None, forwarded_proto: Sequence[str], trusted: Sequence[Network]
) -> str | None:
    """The scheme the client used (http or https) as a trusted proxy peer says in X-Forwarded-Proto (its
    last value: the nearest proxy's), or None: the connection's own scheme stands."""
    if not is_trusted(peer or "", trusted):
        return None
    values = [v.strip().lower() for line in forwarded_proto for v in line.split(",") if v.strip()]
    return values[-1] if values and values[-1] in SCHEMES else None


def is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)  # an IPv4 proxy reaching a dual-stack socket
    return any((mapped or ip) in net for net in trusted)


@dataclass(frozen=True)
class Proxies:
    """The ``trusted_proxies`` of one server."""

    trusted: tuple[Network, ...]

    @classmethod
    def of(cls, settings: Settings) -> Proxies:
        return cls(tuple(parse_networks(settings.trusted_proxies)))

    def client(self, peer: str | None, forwarded_for: Sequence[str]) -> str:
        return client_address(peer, forwarded_for, self.trusted)

    def scheme(self, peer: str | None, forwarded_proto: Sequence[str]) -> str | None:
        return forwarded_scheme(peer, forwarded_proto, self.trusted)
