"""The web pages and browser assets: the landing page, the dashboard, the room and demo pages, avatars, the
static files and the browser SDK, all shipped inside the package."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from aiohttp import web

from mediaserver.events import entry
from signaling import keys
from signaling.errors import SignalError, json_error

STATIC = Path(__file__).parent / "static"
SDK = Path(__file__).parent / "sdk"


def _inline_script_hashes() -> tuple[str, ...]:
    """The CSP hashes ('sha256-...') of the inline scripts of the package's pages, so that the pages'
    Content-Security-Policy (signaling/hardening.py) lets exactly these run and no injected one."""
    found = set()
    for page in sorted(STATIC.glob("*.html")):
        for body in re.findall(r"<script(?:\s[^>]*)?>(.*?)</script>", page.read_text(), re.S):
            if body:
                found.add("sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode())
    return tuple(sorted(found))


INLINE_SCRIPT_HASHES = _inline_script_hashes()


async def avatar(request: web.Request) -> web.Response:
    item = request.app[keys.AVATARS].get(request.match_info["key"])
    if item is None:
        return json_error(SignalError("not_found", "no such avatar", 404))
    ctype, data = item
    return web.Response(body=data, content_type=ctype, headers={"Cache-Control": "public, max-age=86400"})


async def room_page(request: web.Request) -> web.StreamResponse:
    async with request.app[keys.DB].read() as s:
        ev = await entry.event_of_room(s, request.match_info["id"])
    if ev is not None and ev.kind == "on_demand":  # R-AUTO-2: watched on the watch page, not joined live
        raise web.HTTPFound(
            f"/watch/{ev.room_id}" + (f"?{request.query_string}" if request.query_string else "")
        )
    page = STATIC / "room.html"
    return web.FileResponse(page if page.exists() else STATIC / "demo.html")


async def index(request: web.Request) -> web.FileResponse:
    page = STATIC / "index.html"
    return web.FileResponse(page if page.exists() else STATIC / "demo.html")


async def dashboard(request: web.Request) -> web.FileResponse:
    """The organisers' web app (dashboard.html with dashboard/*.js, on /api/v1): sign-up, sign-in, password
    reset, events, account settings, API keys and webhooks, users and sub-accounts."""
    return web.FileResponse(STATIC / "dashboard.html")


async def rate(request: web.Request) -> web.FileResponse:
    """The thank-you e-mail's rating link (R-STAT-1, R-STAT-3): the token is after ``#``, read by the page."""
    return web.FileResponse(STATIC / "rate.html")


async def demo(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "demo.html")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/demo", demo)
    app.router.add_get("/dashboard", dashboard)
    app.router.add_get("/room/{id}", room_page)
    app.router.add_get("/rate", rate)
    app.router.add_get("/avatars/{key}", avatar)
    app.router.add_static("/static", STATIC)
    app.router.add_static("/sdk", SDK)
