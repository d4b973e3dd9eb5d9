"""The HTTP server's browser-facing defences (issue 14 findings 15 and 16): cross-site request forgery is
refused on requests that the session cookie authenticates, and every response carries the security headers
that fit it (nosniff everywhere; a Content-Security-Policy, framing rules and a referrer policy on pages).
Behind a TLS-terminating proxy (issue 15) a request first takes the client's address and scheme that a
trusted proxy forwards, so that these checks, the budgets and the links see the client, not the proxy."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from mediaserver.proxies import Proxies
from signaling import keys, pages
from signaling.api.framework import COOKIE
from signaling.errors import SignalError, json_error

CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SAME_SITE_FETCH = frozenset({"same-origin", "none"})  # Sec-Fetch-Site values of a request of our own pages
# the pages partner sites embed (R-ROOM-12, R-AUTO-2), also under their /static names (docs/sdk.md)
FRAMEABLE = ("/room/", "/watch/", "/r/", "/static/room.html", "/static/watch.html", "/static/recording.html")


def behind(proxies: Proxies) -> Middleware:
    """Issue 15: from a peer in ``trusted_proxies`` (the proxy that terminates TLS), a request goes on as the
    client made it: ``request.remote`` is the client its X-Forwarded-For names (the budgets, room creation,
    /metrics' loopback rule) and ``request.scheme`` the X-Forwarded-Proto scheme (the CSRF origin check,
    secure cookies, the absolute Locations of tus uploads). Any other peer's forwarding headers change
    nothing."""

    @web.middleware
    async def forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        peer = request.remote
        if proxies.trusted:
            client = proxies.client(peer, request.headers.getall("X-Forwarded-For", []))
            scheme = proxies.scheme(peer, request.headers.getall("X-Forwarded-Proto", [])) or request.scheme
            if client != peer or scheme != request.scheme:
                request = request.clone(remote=client, scheme=scheme)
        return await handler(request)

    return forwarded


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def own_origins(request: web.Request) -> set[str]:
    """The origins our own pages have: public_url's, and the one the browser used to reach us (its Host; the
    Host header is not something another site's page can set)."""
    return {_origin(request.app[keys.SETTINGS].public_url), f"{request.scheme}://{request.host}".lower()}


def _cookie_authenticated(request: web.Request) -> bool:
    """The request would be authenticated by the session cookie: it carries one and no Bearer credential
    (framework._token_of prefers the Bearer credential)."""
    auth = request.headers.get("Authorization", "")
    return COOKIE in request.cookies and not (auth.startswith("Bearer ") and auth[7:].strip())


@web.middleware
async def csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Issue 14 finding 15: a change (POST, PUT, PATCH, DELETE) that the session cookie would authenticate
    must come from our own pages. Browsers send Origin on such requests; when it is missing (an old browser),
    Sec-Fetch-Site must not say another site. A client without either (curl, a script with a cookie jar) is
    not a browser that another site can drive, and passes. Bearer-key requests are not affected."""
    if request.method in CHANGES and _cookie_authenticated(request):
        origin = request.headers.get("Origin")
        site = request.headers.get("Sec-Fetch-Site")
        if origin is not None:
            ok = origin.lower() in own_origins(request)
        else:
            ok = site is None or site in SAME_SITE_FETCH
        if ok and site is not None and site not in SAME_SITE_FETCH:
            ok = False  # same-site is a sibling host: not our origin either
        if not ok:
            return json_error(
                SignalError(
                    "cross_site_request",
                    "a signed-in change must come from this server's own pages (Origin "
                    f"{origin or '(none)'}, Sec-Fetch-Site {site or '(none)'}); API clients send "
                    "'Authorization: Bearer <API key>'",
                    403,
                )
            )
    return await handler(request)


def _csp(request: web.Request, frame_ancestors: str) -> str:
    # the WebSocket of our own host ('self' covers it in current browsers; older ones need it named), by the
    # Host the browser used and by public_url (a reverse proxy may rewrite Host)
    hosts = dict.fromkeys((request.host, urlsplit(request.app[keys.SETTINGS].public_url).netloc))
    peers = request.app.get(keys.PEERS)
    hosts.update(dict.fromkeys(urlsplit(u).netloc for u in (peers() if peers else [])))
    sockets = " ".join(f"ws://{h} wss://{h}" for h in hosts if h)
    # issue 17: YouTube's IFrame API (its script, and its player's frame) for the shared player, from the
    # origin of the youtube_api setting (empty: none)
    yt = urlsplit(request.app[keys.SETTINGS].youtube_api)
    youtube = f" {yt.scheme}://{yt.netloc}" if yt.netloc else ""
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self' " + " ".join(f"'{h}'" for h in pages.INLINE_SCRIPT_HASHES) + youtube,
            "style-src 'self' 'unsafe-inline'",
            # branding images (logo, backgrounds) are the organiser's http(s) URLs (R-ROOM-11)
            "img-src 'self' data: blob: https: http:",
            "media-src 'self' blob:",
            f"connect-src 'self' {sockets}",
            "frame-src 'self'" + youtube,  # YouTube's player (the shared video, a recording's replay)
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            f"frame-ancestors {frame_ancestors}",
        )
    )


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Issue 14 finding 16, on every response just before it is sent (on_response_prepare: a file's
    content type is known by then). The room and watch pages stay embeddable by the sites of the
    ``frame_ancestors`` setting; every other page (the dashboard first) by none. Pages are given
    ``Referrer-Policy: no-referrer``: their URLs carry host keys, join tokens and activation tokens."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.content_type != "text/html":
        return
    frameable = request.path.startswith(FRAMEABLE)
    allowed = " ".join(request.app[keys.SETTINGS].frame_ancestors) if frameable else "'none'"
    headers.setdefault("Content-Security-Policy", _csp(request, allowed or "'none'"))
    if not frameable:
        headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")


def install(app: web.Application) -> None:
    """The headers hook; the csrf middleware goes into the application's middlewares (mediaserver.app)."""
    app.on_response_prepare.append(security_headers)
