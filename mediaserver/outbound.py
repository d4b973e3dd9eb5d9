"""Where the server may connect on a user's behalf: webhooks (mediaserver.outbox) and live streams to RTMP
services (mediaserver.output.streaming). Issue 14 findings 4, 5 and 19: a user names the target, so without
this policy a webhook or a stream could reach the server's own loopback services, the cloud's metadata
address (169.254.169.254) or the operator's private network, and the delivery log would tell open ports from
closed ones.

The policy: only public unicast addresses, unless the operator lists a host name or a network in the
``outbound_allow`` setting (docs/configuration.md). It is applied twice:

- when the target is given (:meth:`Policy.vet`: a 400 naming the reason), for clear feedback;
- when connecting (:meth:`Policy.addresses`, :class:`CheckedResolver`, :meth:`Policy.open_connection`):
  every address the name resolves to *then* is checked and the connection goes to a checked address, so a
  name that resolved to a public address at creation and to 127.0.0.1 later (DNS rebinding), or an
  allow-list entry removed since, is refused at that point.

Failures are reported coarsely (:func:`failure`): "address not allowed", "connection failed", "timeout",
never the operating system's error text, which would make a port scanner of the delivery log.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable, Sequence
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from mediaserver.errors import ControlError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Refused unless allow-listed, with the reason the creation error names. Anything else that Python does not
# count as global (is_global) is refused too, as "reserved".
_BLOCKED: list[tuple[IPNetwork, str]] = [
    (ipaddress.ip_network(net), reason)
    for net, reason in [
        ("0.0.0.0/8", "unspecified"),
        ("127.0.0.0/8", "loopback"),
        ("10.0.0.0/8", "private"),
        ("172.16.0.0/12", "private"),
        ("192.168.0.0/16", "private"),
        ("169.254.0.0/16", "link-local"),
        ("100.64.0.0/10", "shared (CGNAT)"),
        ("192.0.0.0/24", "reserved"),
        ("192.0.2.0/24", "documentation"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("198.18.0.0/15", "benchmarking"),
        ("192.88.99.0/24", "reserved"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("fc00::/7", "private"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
        ("2001:db8::/32", "documentation"),
        ("100::/64", "reserved"),
        ("2001::/23", "reserved"),
        ("::/96", "reserved"),  # IPv4-compatible addresses (deprecated)
    ]
]
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class NotAllowed(OSError):
    """A connection refused by the policy at connect time (an OSError, so HTTP clients treat it as a failed
    connection)."""


def _embedded(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (IPv4-mapped, 6to4, NAT64), if any: ::ffff:127.0.0.1 is
    127.0.0.1."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def blocked(ip: IPAddress) -> str | None:
    """Why the policy refuses ``ip`` without an allow-list entry ("loopback", "private" ...); None: public."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded(ip)
        if inner is not None:
            why = blocked(inner)
            return f"{why} (IPv4 in IPv6)" if why else None
    for net, reason in _BLOCKED:
        if ip.version == net.version and ip in net:
            return reason
    if not ip.is_global or ip.is_multicast:
        return "reserved"
    return None


def literal(host: str) -> IPAddress | None:
    """The address ``host`` is, when it is an IP literal ("[::1]" or "::1", "127.0.0.1")."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def _name(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


class Policy:
    """The operator's allow-list (host names and networks, the ``outbound_allow`` setting) over the default
    rule: public unicast addresses only."""

    def __init__(self, allow: Iterable[str] = ()) -> None:
        self.networks: list[IPNetwork] = []
        self.hosts: set[str] = set()
        for entry in allow:
            entry = entry.strip()
            if not entry:
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if "/" in entry or ":" in entry or any(c.isspace() for c in entry):
                raise ValueError(f"{entry!r} is neither a host name nor an IP network (e.g. 10.1.0.0/16)")
            self.hosts.add(_name(entry))

    def listed(self, host: str) -> bool:
        """The operator named this host: its name, or the address it is, is in the allow-list."""
        ip = literal(host)
        if ip is None:
            return _name(host) in self.hosts
        return self._in_networks(ip)

    def _in_networks(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.networks)

    def refusal(self, host: str, ip: IPAddress) -> str | None:
        """Why a connection to ``ip`` (what ``host`` resolved to) is refused; None: allowed."""
        if _name(host) in self.hosts or self._in_networks(ip):
            return None
        return blocked(ip)

    def check(self, host: str, addresses: Sequence[str]) -> None:
        """Connect time: every address ``host`` resolved to must be allowed (one bad answer refuses them all,
        so a name cannot mix a public and an internal address); NotAllowed otherwise."""
        for a in addresses:
            ip = literal(a)
            if ip is None or self.refusal(host, ip) is not None:
                raise NotAllowed(f"address not allowed: {host}")

    async def addresses(self, host: str, port: int) -> list[str]:
        """Resolve ``host`` now and check every address (NotAllowed); the addresses to connect to."""
        ip = literal(host)
        if ip is not None:
            found = [str(ip)]
        else:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            found = list(dict.fromkeys(str(info[4][0]) for info in infos))
        self.check(host, found)
        return found

    async def vet(self, host: str, port: int, what: str) -> None:
        """When a user gives a target: a ControlError (400) naming why it is refused. A name that does not
        resolve now is accepted (it is checked again at every connection)."""
        ip = literal(host)
        if ip is not None:
            found = [ip]
        elif _name(host) in self.hosts:
            return
        else:
            try:
                infos = await asyncio.wait_for(
                    asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM), 5
                )
            except (OSError, asyncio.TimeoutError):
                return
            except (UnicodeError, ValueError):  # a label empty or too long: nothing could connect to it
                raise ControlError("bad_host", f"{what} {host!r} is not a valid host name") from None
            found = [ip for info in infos if (ip := literal(str(info[4][0]))) is not None]
        for ip in found:
            why = self.refusal(host, ip)
            if why is not None:
                shown = host if literal(host) is not None else f"{host} ({ip})"
                raise ControlError(
                    "address_not_allowed",
                    f"{what} {shown} is a {why} address: only public addresses are allowed "
                    "(the server's operator can allow internal hosts with the outbound_allow setting)",
                )

    async def open_connection(
        self, host: str, port: int, tls: bool = False, timeout: float = 10.0
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP (or TLS: the name's certificate is verified) connection to a checked address of ``host``."""
        last: BaseException | None = None
        for ip in await self.addresses(host, port):
            try:
                return await asyncio.wait_for(
                    asyncio.open_connection(
                        ip,
                        port,
                        ssl=ssl.create_default_context() if tls else None,
                        server_hostname=host.strip("[]") if tls else None,
                    ),
                    timeout,
                )
            except (OSError, asyncio.TimeoutError) as e:
                last = e
        assert last is not None
        raise last


class CheckedResolver(AbstractResolver):
    """aiohttp's resolver with the policy: aiohttp connects to the addresses this returns, so what is
    checked is what is connected to. (aiohttp does not resolve IP literals: callers check those with
    :meth:`Policy.check` before the request.)"""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        self.policy.check(host, [r["host"] for r in found])
        return found

    async def close(self) -> None:
        await self._inner.close()


def failure(e: BaseException) -> str:
    """A coarse reason for a failed connection, for logs users see: never the OS's text (finding 4)."""
    seen: set[int] = set()
    cur: Any = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, NotAllowed):
            return "address not allowed"
        if isinstance(cur, (asyncio.TimeoutError, TimeoutError, socket.timeout)):
            return "timeout"
        cur = getattr(cur, "os_error", None) or cur.__cause__ or cur.__context__
    return "connection failed"
