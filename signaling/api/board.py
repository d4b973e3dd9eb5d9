"""/api/v1 exports of an event session's whiteboard (issue 17, R-INT-5): the board saved with the session
(mediaserver.events.board_history), drawn on the server as PNG (one page) or PDF (every page). The event's
visibility rules apply (R-ACC-2, -3): another account's event or session is a 404."""

from __future__ import annotations

from mediaserver.errors import ControlError
from mediaserver.events import board_history, lifecycle, room_sessions
from mediaserver.exports import Export
from signaling.api.framework import API, Ctx

PAGE_QUERY = (
    {
        "name": "page",
        "in": "query",
        "required": False,
        "description": "the board's page to draw, from 1 (default 1)",
        "schema": {"type": "integer", "minimum": 1, "default": 1},
    },
)


async def _export(ctx: Ctx, fmt: str, page: int = 1) -> Export:
    ev = await lifecycle.get_event(ctx.s, ctx.user, ctx.id())
    sess = await room_sessions.session_of(ctx.s, ev, ctx.id("sessionId"))
    return await board_history.export(ctx.s, ev, sess, fmt, page)


@API(
    "GET",
    "/api/v1/events/{id}/sessions/{sessionId}/board.png",
    "one page of the session's whiteboard as a PNG image (1600 x 900), drawn on the server from the board "
    "saved with the session; 404 when nobody drew (R-INT-5)",
    "events",
    query=PAGE_QUERY,
    produces=(board_history.FORMATS["png"],),
)
async def session_board_png(ctx: Ctx) -> Export:
    raw = ctx.request.query.get("page", "1")
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise ControlError("bad_request", "'page' must be a whole number from 1")
    return await _export(ctx, "png", int(raw))


@API(
    "GET",
    "/api/v1/events/{id}/sessions/{sessionId}/board.pdf",
    "the session's whiteboard as a PDF, one page per board page, drawn on the server; 404 when nobody drew "
    "(R-INT-5)",
    "events",
    produces=(board_history.FORMATS["pdf"],),
)
async def session_board_pdf(ctx: Ctx) -> Export:
    return await _export(ctx, "pdf")
