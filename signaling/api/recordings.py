"""/api/v1 operations of recordings (R-REC-1, -2, -4, R-ROOM-14): start and stop a live event's recording,
the account's recordings (newest first), delete (frees recording minutes and storage), publish / unpublish
(a public watch link), send the link to the event's participants, trim. The public link ``/r/{token}``
is the watch page for a browser (the video beside what was on the stage: its track and the files it showed,
under the same token) and the WebM, with Range requests, for anything else. The recording itself is
mediaserver.output.recording."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

from aiohttp import web
from pydantic import Field, model_validator

from mediaserver.errors import ControlError
from mediaserver.events import lifecycle
from mediaserver.library import recordings, replay
from mediaserver.library.storage import Storage
from signaling import keys
from signaling.api.framework import API, Ctx, Model, Out, Page, page
from signaling.errors import SignalError, json_error
from signaling.pages import STATIC

if TYPE_CHECKING:
    from mediaserver.store.models import Recording


class RecordingOut(Out):
    id: int
    event_id: int | None
    session_id: int | None
    name: str
    status: str = Field(description="recording, processing (being made into a WebM), ready or failed")
    language: str = Field(description="the room's language when the recording started (R-ROOM-14)")
    started_at: dt.datetime
    ended_at: dt.datetime | None
    duration: float = Field(description="seconds")
    size: int = Field(description="bytes of the WebM")
    file_id: int | None = Field(
        description="the WebM in the file library (source 'recording'); an on-demand "
        "event plays it by videoFileId"
    )
    stop_reason: str = Field(description="host, api, ended, trial_limit (R-REC-2), shutdown or trim")
    published: bool
    public_url: str | None = Field(description="the public watch link of a published recording (R-REC-4)")


class RecordingPage(Page[RecordingOut]):
    used_minutes: float = Field(
        description="minutes of recordings kept: the plan's recording allowance counts these (R-REC-2)"
    )


class TrimIn(Model):
    start: Annotated[float, Field(ge=0, le=86400)]
    end: Annotated[float, Field(gt=0, le=86400)]

    @model_validator(mode="after")
    def _order(self) -> TrimIn:
        if self.end <= self.start:
            raise ValueError("'end' must be after 'start'")
        return self


class Sent(Out):
    sent: int = Field(
        description="e-mails queued, one per participant's address that the event invited or that is an "
        "activated user's (an address typed in at the join gets none: issue 14 finding 9)"
    )


def _out(ctx: Ctx, rec: Recording) -> RecordingOut:
    return RecordingOut.model_validate(recordings.describe(rec, ctx.settings.public_url))


async def _live_room(ctx: Ctx) -> Any:
    return await lifecycle.live_room(ctx.s, ctx.user, ctx.id(), ctx.app[keys.ROOMS], "a recording")


@API(
    "POST",
    "/api/v1/events/{id}/recording/start",
    "start recording the live event's room (R-REC-1); the "
    "recording minutes of the plan must not be used up (R-REC-2)",
    "recordings",
    response=RecordingOut,
    status=201,
    errors=(403, 409),
)
async def start_recording(ctx: Ctx) -> RecordingOut:
    room = await _live_room(ctx)
    got = await ctx.app[keys.RECORDINGS].start(room, s=ctx.s, by=ctx.user.user.name)
    return RecordingOut.model_validate(got)


@API(
    "POST",
    "/api/v1/events/{id}/recording/stop",
    "stop recording the live event's room; the recording is "
    "'processing' until its WebM is in the file library ('ready', webhook recording.ready)",
    "recordings",
    response=RecordingOut,
    errors=(409,),
)
async def stop_recording(ctx: Ctx) -> RecordingOut:
    room = await _live_room(ctx)
    got = await ctx.app[keys.RECORDINGS].stop(room, "api", s=ctx.s)
    return RecordingOut.model_validate(got)


@API(
    "GET",
    "/api/v1/recordings",
    "the account's recordings, newest first (R-REC-4)",
    "recordings",
    response=RecordingPage,
    paginated=True,
)
async def list_recordings(ctx: Ctx) -> dict[str, Any]:
    offset, limit = ctx.page()
    rows, total, used = await recordings.page(ctx.s, ctx.user, offset, limit)
    return {**page([_out(ctx, r) for r in rows], total, offset, limit), "used_minutes": round(used / 60, 3)}


@API("GET", "/api/v1/recordings/{id}", "one recording", "recordings", response=RecordingOut)
async def get_recording(ctx: Ctx) -> RecordingOut:
    return _out(ctx, await recordings.get(ctx.s, ctx.user, ctx.id()))


@API(
    "DELETE",
    "/api/v1/recordings/{id}",
    "delete a recording and its WebM: frees its recording minutes (R-REC-2) and its storage (R-FILE-3)",
    "recordings",
    status=204,
    errors=(409,),
)
async def delete_recording(ctx: Ctx) -> None:
    await recordings.delete(ctx.s, Storage.of(ctx.settings), ctx.user, ctx.id())


@API(
    "POST",
    "/api/v1/recordings/{id}/publish",
    "publish a ready recording: it gets a public watch link (R-REC-4)",
    "recordings",
    response=RecordingOut,
    errors=(409,),
)
async def publish_recording(ctx: Ctx) -> RecordingOut:
    return _out(ctx, await recordings.publish(ctx.s, ctx.user, ctx.id()))


@API(
    "POST",
    "/api/v1/recordings/{id}/unpublish",
    "withdraw the public watch link (it stops working at once)",
    "recordings",
    response=RecordingOut,
)
async def unpublish_recording(ctx: Ctx) -> RecordingOut:
    return _out(ctx, await recordings.unpublish(ctx.s, ctx.user, ctx.id()))


@API(
    "POST",
    "/api/v1/recordings/{id}/send",
    "e-mail the public link of a published recording to the event's "
    "participants, in the event's language (R-REC-4)",
    "recordings",
    response=Sent,
    errors=(409,),
)
async def send_recording(ctx: Ctx) -> Sent:
    return Sent(sent=await recordings.send_link(ctx.s, ctx.user, ctx.id(), ctx.settings.public_url))


@API(
    "POST",
    "/api/v1/recordings/{id}/trim",
    "a new recording of [start, end) seconds of a ready one, cut at key "
    "frames without re-encoding (R-REC-4); the original stays",
    "recordings",
    body=TrimIn,
    response=RecordingOut,
    status=201,
    errors=(409,),
)
async def trim_recording(ctx: Ctx) -> RecordingOut:
    rec = await recordings.ready(ctx.s, ctx.user, ctx.id())
    new = await ctx.app[keys.RECORDINGS].trim(ctx.s, rec, ctx.body.start, ctx.body.end)
    return _out(ctx, new)


def _wants_page(request: web.Request) -> bool:
    """A browser opening the link (its Accept names HTML) gets the watch page; a player or a download, the
    WebM itself."""
    return "text/html" in request.headers.get("Accept", "")


async def public_recording(request: web.Request) -> web.StreamResponse:
    """GET /r/{token}: a published recording's public link (R-REC-4). A browser gets the watch page, which
    plays the WebM beside what was on the stage (issue 17 item 4); anything else gets the WebM (Range
    requests by FileResponse); 404 once unpublished."""
    if _wants_page(request):
        try:
            async with request.app[keys.DB].read() as s:
                await recordings.published(s, request.match_info["token"])
            status = 200
        except ControlError:
            status = 404  # the page says the recording was unpublished or deleted
        return web.FileResponse(
            STATIC / "recording.html", status=status, headers={"Cache-Control": "no-cache"}
        )
    return await public_video(request)


async def public_video(request: web.Request) -> web.StreamResponse:
    """GET /r/{token}/video: the published recording's WebM (Range requests by FileResponse)."""
    try:
        async with request.app[keys.DB].read() as s:
            path = await recordings.published_file(
                s, Storage.of(request.app[keys.SETTINGS]), request.match_info["token"]
            )
    except ControlError as e:
        return json_error(SignalError(e.code, e.message, e.status))
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "video/webm",
            "Cache-Control": "public, max-age=300",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def public_track(request: web.Request) -> web.Response:
    """GET /r/{token}/track: what was on the stage during the recording, for its watch page (issue 17)."""
    try:
        async with request.app[keys.DB].read() as s:
            body = await replay.track(s, request.match_info["token"])
        body["youtubeApi"] = request.app[keys.SETTINGS].youtube_api  # where a shared YouTube video plays
    except ControlError as e:
        return json_error(SignalError(e.code, e.message, e.status))
    return web.json_response(body, headers={"Cache-Control": "no-cache"})


async def public_asset(request: web.Request) -> web.StreamResponse:
    """GET /r/{token}/files/{fileId}[/pdf]: a library video, or a document's PDF, that the recording's
    stage showed (nothing else of the library)."""
    kind = "pdf" if request.path.endswith("/pdf") else "video"
    raw = request.match_info["fileId"]
    try:
        if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) < 2**31:
            raise ControlError("not_found", "no such file in this recording", 404)
        async with request.app[keys.DB].read() as s:
            got = await replay.asset(
                s, Storage.of(request.app[keys.SETTINGS]), request.match_info["token"], int(raw), kind
            )
    except ControlError as e:
        return json_error(SignalError(e.code, e.message, e.status))
    return web.FileResponse(
        got.path,
        headers={
            "Content-Type": got.content_type,
            "Cache-Control": "private, max-age=300",
            "X-Content-Type-Options": "nosniff",
        },
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/r/{token}", public_recording)
    app.router.add_get("/r/{token}/video", public_video)
    app.router.add_get("/r/{token}/track", public_track)
    app.router.add_get("/r/{token}/files/{fileId}", public_asset)
    app.router.add_get("/r/{token}/files/{fileId}/pdf", public_asset)
