"""What the statistics keep of an attendee's client (R-STAT-1): the browser, OS and device from the join
request's User-Agent (parsed with ua-parser and its built-in rules) and client hints (``Sec-CH-UA-Mobile``,
``Sec-CH-UA-Platform``), and the country of the client's address. The address itself is never kept: it is
looked up and forgotten.

The address is the one ``request.remote`` holds: behind a reverse proxy, the client a trusted proxy names
(mediaserver.proxies; signaling.hardening.behind), never what an untrusted peer's X-Forwarded-For says. The
country comes from the Regional Internet Registries' allocations that the ``iptocc`` package ships (offline),
or from a MaxMind-format database the operator points ``geoip_database`` to.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import iptocc
from ua_parser import parse

from mediaserver.config import ConfigError

PHONE, TABLET, DESKTOP = "phone", "tablet", "desktop"
_UA_MAX = 1024  # nothing past this is looked at
_TABLET = re.compile(r"iPad|Tablet|Kindle|Silk/|PlayBook")
_PHONE = re.compile(r"Mobi|iPhone|iPod|Windows Phone|IEMobile|Opera Mini|BlackBerry|BB10")


@dataclass(frozen=True)
class Profile:
    """What an attendance row keeps of the client (None: unknown)."""

    browser: str | None
    os: str | None
    device: str | None
    country: str | None


def _hint(headers: Mapping[str, str], name: str) -> str:
    """A client hint's value without its quotes (``"Android"`` -> ``Android``)."""
    return headers.get(name, "").strip().strip('"')[:64]


def _named(family: str | None, *parts: str | None) -> str | None:
    if not family or family == "Other":
        return None
    version = ".".join(p for p in parts if p)
    return f"{family} {version}"[:64] if version else family[:64]


def device_of(user_agent: str, mobile_hint: str, platform_hint: str) -> str | None:
    """desktop, phone or tablet: a tablet by its user agent (an iPad, or Android without "Mobile"), a phone by
    ``Sec-CH-UA-Mobile: ?1`` or a phone's tokens; else a desktop. None without any header to go by."""
    if mobile_hint == "?1":
        return PHONE
    if _TABLET.search(user_agent) or ("Android" in user_agent and "Mobile" not in user_agent):
        return TABLET
    if _PHONE.search(user_agent) or platform_hint in ("Android", "iOS"):
        return PHONE
    return DESKTOP if user_agent or mobile_hint or platform_hint else None


def client_of(headers: Mapping[str, str]) -> tuple[str | None, str | None, str | None]:
    """(browser with its major version, OS with its version, device) from the request's headers."""
    ua = headers.get("User-Agent", "")[:_UA_MAX]
    platform = _hint(headers, "Sec-CH-UA-Platform")
    device = device_of(ua, headers.get("Sec-CH-UA-Mobile", "").strip(), platform)
    if not ua:
        return None, platform or None, device
    got = parse(ua)
    browser = _named(got.user_agent.family, got.user_agent.major) if got.user_agent else None
    system = _named(got.os.family, got.os.major, got.os.minor) if got.os else None
    return browser, system or platform or None, device


class Countries:
    """The country (ISO 3166-1 alpha-2) of an address: from the operator's MaxMind-format database when
    ``mmdb`` names one (a country or city database), else from iptocc's registry data. Loopback, private and
    other non-public addresses have none."""

    def __init__(self, mmdb: str = "") -> None:
        self._reader: Any = None
        if mmdb:
            import maxminddb

            try:
                self._reader = maxminddb.open_database(mmdb)
            except (OSError, ValueError) as e:
                raise ConfigError(
                    f"setting 'geoip_database': {mmdb!r} is not a readable .mmdb file: {e}"
                ) from e

    def of(self, address: str | None) -> str | None:
        try:
            ip = ipaddress.ip_address((address or "").split("%")[0])
        except ValueError:
            return None
        mapped = getattr(ip, "ipv4_mapped", None)
        ip = mapped or ip
        if not ip.is_global:
            return None
        if self._reader is not None:
            record = self._reader.get(str(ip))
            if not isinstance(record, dict):
                return None
            for key in ("country", "registered_country"):
                code = (record.get(key) or {}).get("iso_code")
                if isinstance(code, str) and len(code) == 2:
                    return code.upper()
            return None
        code = iptocc.country_code(str(ip))
        return code.upper() if isinstance(code, str) and len(code) == 2 else None

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()


def profile(headers: Mapping[str, str], address: str | None, countries: Countries) -> Profile:
    """R-STAT-1: what is kept of the client of a join request (its address only as a country)."""
    browser, system, device = client_of(headers)
    return Profile(browser, system, device, countries.of(address))
