"""Which kind of device a participant uses: a phone or tablet (``mobile``) or a computer (``desktop``).

The rules that depend on it (R-MEDIA-1: mobile browsers join as attendees; R-MEDIA-7: a mobile device can
view a shared screen but not share one; R-INT-5: mobile-browser attendees cannot use the whiteboard and
cannot be made presenters) live in ``room_rules``; this module only decides the device, from what the
client says and from the HTTP headers of its request (the WebSocket upgrade, a WHIP or WHEP POST):

- the ``Sec-CH-UA-Mobile`` client hint: ``?1`` from a mobile Chromium (Chrome, Edge, Samsung Internet,
  Opera on Android). It is a low-entropy hint, sent to secure origins (and localhost) without being asked
  for, so the server sends no ``Accept-CH``. Chromium sends it on page loads and ``fetch`` (the WHIP and WHEP
  requests) but not on the WebSocket upgrade, even after an ``Accept-CH`` (measured with Debian's Chromium
  156): on the WebSocket the User-Agent is what the server has;
- the ``User-Agent``: the tokens phones and tablets put there (below).

A device is mobile if the client says so OR the headers say so: a client cannot claim ``desktop`` from a
phone's user agent. What no server can see: a browser that presents itself as a computer (a phone's
"request desktop site", iPadOS 13+ Safari by default, which sends the desktop Safari user agent and no client
hints; the room page finds an iPad by its touch points and says ``mobile`` itself). This is the product's
rule applied to honest browsers, not a security boundary.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MOBILE = "mobile"
DESKTOP = "desktop"
DEVICES = (DESKTOP, MOBILE)

#: The user-agent tokens of phones and tablets (case-sensitive, as browsers write them). "Mobi" is the token
#: MDN recommends ("Mobile" of iOS and Android browsers, Firefox's "Mobile;", "Opera Mobi"); Android without
#: it is a tablet, and tablets count as mobile devices too (R-MEDIA-7's "mobile devices"; the original names
#: iPad and Android tablets alongside phones).
_MOBILE_UA = re.compile(
    r"Mobi|Android|iPhone|iPad|iPod|Windows Phone|IEMobile|Opera Mini|BlackBerry|BB10|Kindle|Silk/"
)
_UA_MAX = 1024  # a user agent is a few hundred characters; nothing past this is looked at


def from_user_agent(user_agent: str | None) -> str:
    """``mobile`` when the User-Agent names a phone or tablet, else ``desktop``."""
    return MOBILE if user_agent and _MOBILE_UA.search(user_agent[:_UA_MAX]) else DESKTOP


def from_headers(headers: Mapping[str, str]) -> str:
    """The device the request's headers show: ``Sec-CH-UA-Mobile: ?1`` or a mobile User-Agent."""
    if headers.get("Sec-CH-UA-Mobile", "").strip() == "?1":
        return MOBILE
    return from_user_agent(headers.get("User-Agent"))


def effective(claimed: str | None, detected: str) -> str:
    """The device the rules use: mobile if the client says so or the server found so."""
    return MOBILE if MOBILE in (claimed, detected) else DESKTOP
