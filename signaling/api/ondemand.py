"""On-demand and automated events over HTTP (R-ROOM-4, R-AUTO-1, R-AUTO-2): the watch page, the files
behind signed watch URLs with Range requests, the organiser's view statistics, and the timeline an
automated event's attendees play. The watch URL of an on-demand event comes from the public join (``POST
/api/v1/public/events/{roomId}/join``), which applies the event's access rules
(mediaserver.events.registration); the timeline of an automated event is given to those the join let in
(their room join token)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field

from mediaserver.errors import ControlError
from mediaserver.events import automation, lifecycle, ondemand, viewer_messages
from mediaserver.library import catalog
from mediaserver.library.storage import Storage
from mediaserver.store.db import utcnow
from signaling import keys
from signaling.api.framework import API, Ctx, Model, Out, Page, Text, page
from signaling.errors import SignalError, json_error
from signaling.pages import STATIC


async def play(request: web.Request) -> web.StreamResponse:
    """GET /play/{token}: the video of an on-demand event, or a file of an automated event's timeline,
    streamed from disk (sendfile) with single-range requests (206, 416) by aiohttp's FileResponse; a forged
    or expired token is refused with 403."""
    settings = request.app[keys.SETTINGS]
    try:
        file_id, event_id = ondemand.verify_watch(settings.secret, request.match_info["token"])
    except ondemand.WatchRefused as e:
        return json_error(SignalError("forbidden", str(e), 403))
    try:
        async with request.app[keys.DB].read() as s:
            video = await catalog.offered_file(s, Storage.of(settings), file_id, event_id)
    except ControlError as e:
        return json_error(SignalError(e.code, e.message, e.status))
    return web.FileResponse(
        video.path,
        headers={
            "Content-Type": video.content_type,
            "Cache-Control": "private, no-transform",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        },
    )


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


class ViewPage(Page[ViewOut]):
    total: int = 0
    unique_viewers: int
    messages: int = Field(description="messages the viewers left for the organiser (R-AUTO-2)")


@API(
    "GET",
    "/api/v1/events/{id}/views",
    "who watched an on-demand event, newest first, with the number of views, "
    "of unique viewers and of the messages they left (R-AUTO-2, R-STAT-1)",
    "events",
    response=ViewPage,
    paginated=True,
)
async def list_views(ctx: Ctx) -> dict[str, Any]:
    ev = await lifecycle.get_event(ctx.s, ctx.user, ctx.id())
    offset, limit = ctx.page()
    rows, total, unique = await ondemand.views(ctx.s, ev, offset, limit)
    items = [ViewOut(name=a.name, email=a.email, watched_at=a.joined_at) for a in rows]
    left = await viewer_messages.count(ctx.s, ev)
    return {**page(items, total, offset, limit), "unique_viewers": unique, "messages": left}


# ---------------------------------------------------------------- viewers' messages (R-AUTO-2)


class ViewerMessageIn(Model):
    watch_token: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="the viewer's watch access: the token of the playback URL the public join gave "
        "(/play/<token>; the whole URL is taken too)"
    )
    name: Annotated[Text, Field(min_length=1, max_length=120)]
    email: Annotated[Text, Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    text: Annotated[str, Field(max_length=20000)] = Field(description="at most 2,000 characters")


class ViewerMessageOut(Out):
    id: int
    name: str
    email: str
    text: str
    created_at: dt.datetime
    answer: str | None
    answered_at: dt.datetime | None


class ViewerMessageLeft(Out):
    id: int
    created_at: dt.datetime


class ViewerMessagePage(Page[ViewerMessageOut]):
    pass


class AnswerIn(Model):
    text: Annotated[str, Field(max_length=20000)] = Field(description="at most 2,000 characters")


@API(
    "POST",
    "/api/v1/public/events/{roomId}/messages",
    "an on-demand viewer leaves a message for the organiser (R-AUTO-2): with a valid watch token of "
    "the event, while its option allowMessages is on; a budget per client address "
    "(rate_limit_viewer_message)",
    "public",
    body=ViewerMessageIn,
    response=ViewerMessageLeft,
    status=201,
    auth=False,
    errors=(403, 429),
)
async def leave_message(ctx: Ctx) -> ViewerMessageLeft:
    row = await viewer_messages.leave(
        ctx.s,
        ctx.caller,
        ctx.request.match_info["roomId"],
        ctx.body.watch_token,
        ctx.body.name,
        ctx.body.email,
        ctx.body.text,
        ctx.settings.secret,
    )
    return ViewerMessageLeft(id=row.id, created_at=row.created_at)


@API(
    "GET",
    "/api/v1/events/{id}/messages",
    "the messages an on-demand event's viewers left, newest first, with the answers (R-AUTO-2)",
    "events",
    response=ViewerMessagePage,
    paginated=True,
)
async def list_messages(ctx: Ctx) -> dict[str, Any]:
    offset, limit = ctx.page()
    rows, total = await viewer_messages.listing(ctx.s, ctx.user, ctx.id(), offset, limit)
    return page([ViewerMessageOut.model_validate(r) for r in rows], total, offset, limit)


@API(
    "POST",
    "/api/v1/events/{id}/messages/{messageId}/answer",
    "answer a viewer's message (once): kept with it and e-mailed to the address the viewer gave (R-AUTO-2)",
    "events",
    body=AnswerIn,
    response=ViewerMessageOut,
    errors=(409,),
)
async def answer_message(ctx: Ctx) -> ViewerMessageOut:
    row = await viewer_messages.answer(ctx.s, ctx.user, ctx.id(), ctx.id("messageId"), ctx.body.text)
    return ViewerMessageOut.model_validate(row)


# ---------------------------------------------------------------- automated events (R-AUTO-1)


class TimelineAsk(Model):
    token: Annotated[Text, Field(min_length=1, max_length=4000)] = Field(
        description="the join token that POST /api/v1/public/events/{roomId}/join gave for this event's room"
    )


class TimelineMedia(Out):
    url: str = Field(
        description="the file, relative to this server (/play/<token>, signed and short-lived; "
        "Range requests work)"
    )
    content_type: str
    name: str
    expires_at: dt.datetime


class TimelineEntry(Out):
    component: str
    start: int = Field(description="seconds after the session's start")
    duration: int
    ref: str | None = None
    text: str | None = None
    url: str | None = None
    button_text: str | None = None
    poll_id: int | None = Field(None, description="poll: the poll the server launches in the room (R-INT-3)")
    media: TimelineMedia | None = Field(None, description="recording, video, presentation: what to show")


class TimelinePlayback(Out):
    """Everyone plays at the same position, ``serverTime - startedAt`` (no seeking or pausing): a late
    attendee comes in mid-way, as into a live webinar. The components are given only while the event is
    live."""

    status: str
    starts_at: dt.datetime | None
    started_at: dt.datetime | None = Field(description="the session's real start: the zero of the timeline")
    ends_at: dt.datetime | None
    server_time: dt.datetime = Field(description="the server's clock, to correct the browser's")
    position: float | None = Field(description="seconds into the timeline now")
    length: int
    thank_you_url: str | None
    reason: str | None = Field(None, description="status failed: why the event did not start")
    items: list[TimelineEntry]


@API(
    "POST",
    "/api/v1/public/events/{roomId}/timeline",
    "an automated event's timeline as its attendees play it "
    "now: position, components and signed URLs of their files (R-ROOM-4, R-AUTO-1); for those the join let "
    "in",
    "public",
    body=TimelineAsk,
    response=TimelinePlayback,
    auth=False,
    errors=(403, 409),
)
async def timeline(ctx: Ctx) -> TimelinePlayback:
    data = await automation.attendee_playback(
        ctx.s,
        ctx.request.match_info["roomId"],
        ctx.body.token,
        ctx.settings.secret,
        ctx.settings.watch_url_ttl,
        utcnow(),
    )
    return TimelinePlayback.model_validate(data)
