"""On-demand events over HTTP (R-ROOM-4, R-AUTO-2): the watch page, the video behind a signed watch URL with
Range requests, and the organiser's view statistics. The watch URL comes from the public join
(``POST /api/v1/public/events/{roomId}/join``), which applies the event's access rules (mediaserver.events)."""
from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from mediaserver import events, ondemand
from mediaserver.library import video_type
from mediaserver.models import Event, LibraryFile

from . import keys
from .api import API, Ctx, Out, page
from .errors import SignalError, json_error
from .library_api import stored_path

log = logging.getLogger("signaling.ondemand")
STATIC = Path(__file__).parent / "static"


async def play(request: web.Request) -> web.StreamResponse:
    """GET /play/{token}: the video of an on-demand event, streamed from disk (sendfile) with single-range
    requests (206, 416) by aiohttp's FileResponse; a forged or expired token is refused with 403."""
    settings = request.app[keys.SETTINGS]
    try:
        file_id, event_id = ondemand.verify_watch(settings.secret, request.match_info["token"])
    except ondemand.WatchRefused as e:
        return json_error(SignalError("forbidden", str(e), 403))
    async with request.app[keys.DB].read() as s:
        f = await s.get(LibraryFile, file_id)
        ev = await s.get(Event, event_id)
    # the organiser may have deleted the file or the event, or attached another video meanwhile
    if f is None or ev is None or ev.video_file_id != f.id or f.status != "complete":
        return json_error(SignalError("gone", "this video is no longer offered by the event; open the "
                                      "invitation link again", 410))
    path = stored_path(settings, f.storage_key)
    if not path.is_file():
        log.error("library file %s (%s) has no bytes at %s", f.id, f.name, path)
        return json_error(SignalError("gone", "this video's file is missing on the server", 410))
    return web.FileResponse(path, headers={
        "Content-Type": video_type(f.name) or "application/octet-stream",
        "Cache-Control": "private, no-transform", "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff"})


async def watch_page(request: web.Request) -> web.FileResponse:
    """GET /watch/{id}: the viewer's page of an on-demand event (the invitation link of one, R-AUTO-2)."""
    return web.FileResponse(STATIC / "watch.html", headers={"Cache-Control": "no-cache"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/play/{token}", play)
    app.router.add_get("/watch/{id}", watch_page)


# ---------------------------------------------------------------- statistics (R-AUTO-2, R-STAT-1)

class ViewOut(Out):
    name: str
    email: str
    watched_at: dt.datetime


class ViewPage(Out):
    items: list[ViewOut]
    total: int = 0
    offset: int
    limit: int
    unique_viewers: int


@API("GET", "/api/v1/events/{id}/views", "who watched an on-demand event, newest first, with the number of views "
     "and of unique viewers (R-AUTO-2, R-STAT-1)", "events", response=ViewPage, paginated=True)
async def list_views(ctx: Ctx) -> dict[str, Any]:
    ev = await events.get_event(ctx.s, ctx.user, ctx.id())
    offset, limit = ctx.page()
    rows, total, unique = await ondemand.views(ctx.s, ev, offset, limit)
    items = [ViewOut(name=a.name, email=a.email, watched_at=a.joined_at) for a in rows]
    return {**page(items, total, offset, limit), "unique_viewers": unique}
