"""/api/v1 operations of recordings (R-REC-1, -2, -4, R-ROOM-14): start and stop a live event's recording, the
account's recordings (newest first), delete (frees recording minutes and storage), publish / unpublish (a public
watch link), send the link to the event's participants, trim. The public link ``/r/{token}`` serves the WebM
with Range requests. The recording itself is mediaserver.output.recording."""
from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field, model_validator
from sqlalchemy import func, select

from mediaserver.errors import ControlError, not_found
from mediaserver.events import lifecycle
from mediaserver.outbox import mail
from mediaserver.output.recording import describe, stored_file
from mediaserver.store.models import Account, Attendance, Event, LibraryFile, Recording, User
from signaling import keys
from signaling.api.framework import API, Ctx, Model, Out, page
from signaling.errors import SignalError, json_error

log = logging.getLogger("signaling.recordings")


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
    file_id: int | None = Field(description="the WebM in the file library (source 'recording'); an on-demand "
                                            "event plays it by videoFileId")
    stop_reason: str = Field(description="host, api, ended, trial_limit (R-REC-2), shutdown or trim")
    published: bool
    public_url: str | None = Field(description="the public watch link of a published recording (R-REC-4)")


class RecordingPage(Out):
    items: list[RecordingOut]
    total: int
    offset: int
    limit: int
    used_minutes: float = Field(description="minutes of recordings kept: the plan's recording allowance counts "
                                            "these (R-REC-2)")


class TrimIn(Model):
    start: Annotated[float, Field(ge=0, le=86400)]
    end: Annotated[float, Field(gt=0, le=86400)]

    @model_validator(mode="after")
    def _order(self) -> TrimIn:
        if self.end <= self.start:
            raise ValueError("'end' must be after 'start'")
        return self


class Sent(Out):
    sent: int = Field(description="e-mails queued, one per participant's address")


def _out(ctx: Ctx, rec: Recording) -> RecordingOut:
    return RecordingOut.model_validate(describe(rec, ctx.settings.public_url))


async def _recording(ctx: Ctx) -> Recording:
    rec = await ctx.s.get(Recording, ctx.id())
    if rec is None or rec.account_id != ctx.user.account.id:
        raise not_found("recording")
    return rec


async def _live_room(ctx: Ctx) -> Any:
    return await lifecycle.live_room(ctx.s, ctx.user, ctx.id(), ctx.app[keys.ROOMS], "a recording")


@API("POST", "/api/v1/events/{id}/recording/start", "start recording the live event's room (R-REC-1); the "
     "recording minutes of the plan must not be used up (R-REC-2)", "recordings", response=RecordingOut,
     status=201, errors=(403, 409))
async def start_recording(ctx: Ctx) -> RecordingOut:
    room = await _live_room(ctx)
    got = await ctx.app[keys.RECORDINGS].start(room, s=ctx.s, by=ctx.user.user.name)
    return RecordingOut.model_validate(got)


@API("POST", "/api/v1/events/{id}/recording/stop", "stop recording the live event's room; the recording is "
     "'processing' until its WebM is in the file library ('ready', webhook recording.ready)", "recordings",
     response=RecordingOut, errors=(409,))
async def stop_recording(ctx: Ctx) -> RecordingOut:
    room = await _live_room(ctx)
    got = await ctx.app[keys.RECORDINGS].stop(room, "api", s=ctx.s)
    return RecordingOut.model_validate(got)


@API("GET", "/api/v1/recordings", "the account's recordings, newest first (R-REC-4)", "recordings",
     response=RecordingPage, paginated=True)
async def list_recordings(ctx: Ctx) -> dict[str, Any]:
    offset, limit = ctx.page()
    where = Recording.account_id == ctx.user.account.id
    total = await ctx.s.scalar(select(func.count()).select_from(Recording).where(where))
    rows = await ctx.s.scalars(select(Recording).where(where).order_by(Recording.started_at.desc(),
                                                                       Recording.id.desc()).offset(offset).limit(limit))
    used = await ctx.s.scalar(select(func.coalesce(func.sum(Recording.duration), 0.0)).where(where))
    return {**page([_out(ctx, r) for r in rows], int(total or 0), offset, limit),
            "used_minutes": round(float(used or 0) / 60, 3)}


@API("GET", "/api/v1/recordings/{id}", "one recording", "recordings", response=RecordingOut)
async def get_recording(ctx: Ctx) -> RecordingOut:
    return _out(ctx, await _recording(ctx))


@API("DELETE", "/api/v1/recordings/{id}", "delete a recording and its WebM: frees its recording minutes (R-REC-2) "
     "and its storage (R-FILE-3)", "recordings", status=204, errors=(409,))
async def delete_recording(ctx: Ctx) -> None:
    rec = await _recording(ctx)
    if rec.status == "recording":
        raise ControlError("still_recording", "stop the recording first", 409)
    f = await ctx.s.get(LibraryFile, rec.file_id) if rec.file_id is not None else None
    key = f.storage_key if f is not None else None
    await ctx.s.delete(rec)
    await ctx.s.flush()
    if f is not None:                 # its WebM goes with it (deleting the file alone would take the recording)
        await ctx.s.delete(f)
        await ctx.s.flush()
    if key:
        stored_file(ctx.settings.data_dir, key).unlink(missing_ok=True)


async def _ready(ctx: Ctx) -> Recording:
    rec = await _recording(ctx)
    if rec.status != "ready":
        raise ControlError("not_ready", f"the recording is {rec.status}; wait until it is ready", 409)
    return rec


@API("POST", "/api/v1/recordings/{id}/publish", "publish a ready recording: it gets a public watch link "
     "(R-REC-4)", "recordings", response=RecordingOut, errors=(409,))
async def publish_recording(ctx: Ctx) -> RecordingOut:
    rec = await _ready(ctx)
    if rec.public_token is None:
        rec.public_token = secrets.token_urlsafe(24)
        rec.published_at = dt.datetime.now(dt.timezone.utc)
    return _out(ctx, rec)


@API("POST", "/api/v1/recordings/{id}/unpublish", "withdraw the public watch link (it stops working at once)",
     "recordings", response=RecordingOut)
async def unpublish_recording(ctx: Ctx) -> RecordingOut:
    rec = await _recording(ctx)
    rec.public_token, rec.published_at = None, None
    return _out(ctx, rec)


@API("POST", "/api/v1/recordings/{id}/send", "e-mail the public link of a published recording to the event's "
     "participants, in the event's language (R-REC-4)", "recordings", response=Sent, errors=(409,))
async def send_recording(ctx: Ctx) -> Sent:
    rec = await _ready(ctx)
    if rec.public_token is None:
        raise ControlError("not_published", "publish the recording first: the e-mail carries its public link", 409)
    ev = await ctx.s.get(Event, rec.event_id) if rec.event_id else None
    if ev is None:
        raise ControlError("no_event", "the recording's event is deleted: there are no participants to send to", 409)
    people: dict[str, str] = {}
    for a in await ctx.s.scalars(select(Attendance).where(Attendance.event_id == ev.id,
                                                          Attendance.role.in_(("attendee", "presenter")))
                                 .order_by(Attendance.id)):
        people.setdefault(a.email.lower(), a.name)
    account = await ctx.s.get(Account, ev.account_id)
    owner = await ctx.s.get(User, ev.owner_id)
    link = describe(rec, ctx.settings.public_url)["publicUrl"]
    for addr, name in people.items():
        await mail.queue(ctx.s, ev.account_id, "recording", addr, ev.language, {
            "name": name, "event": ev.name, "link": link, "organiser": owner.name if owner else "",
            "signature": account.signature if account else ""})
    return Sent(sent=len(people))


@API("POST", "/api/v1/recordings/{id}/trim", "a new recording of [start, end) seconds of a ready one, cut at key "
     "frames without re-encoding (R-REC-4); the original stays", "recordings", body=TrimIn, response=RecordingOut,
     status=201, errors=(409,))
async def trim_recording(ctx: Ctx) -> RecordingOut:
    rec = await _ready(ctx)
    new = await ctx.app[keys.RECORDINGS].trim(ctx.s, rec, ctx.body.start, ctx.body.end)
    return _out(ctx, new)


async def public_recording(request: web.Request) -> web.StreamResponse:
    """GET /r/{token}: a published recording's WebM (Range requests by FileResponse); 404 once unpublished."""
    token = request.match_info["token"]
    if not 16 <= len(token) <= 64:
        return json_error(SignalError("not_found", "no such recording", 404))
    async with request.app[keys.DB].read() as s:
        rec = await s.scalar(select(Recording).where(Recording.public_token == token))
        f = await s.get(LibraryFile, rec.file_id) if rec is not None and rec.file_id else None
    if rec is None or f is None:
        return json_error(SignalError("not_found", "no such recording: it was unpublished or deleted", 404))
    path = stored_file(request.app[keys.SETTINGS].data_dir, f.storage_key)
    if not path.is_file():
        return json_error(SignalError("gone", "the recording's file is missing on the server", 410))
    return web.FileResponse(path, headers={"Content-Type": "video/webm", "Cache-Control": "public, max-age=300",
                                           "X-Content-Type-Options": "nosniff"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/r/{token}", public_recording)
