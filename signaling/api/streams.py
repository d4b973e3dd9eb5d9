"""/api/v1 operations of live streaming (R-REC-6, R-API-2 "RTMP export"): stream a live event's room to an
RTMP service (YouTube, Facebook, any RTMP ingest), see the stream, stop it. The stream itself is
mediaserver.output.streaming; the host has the same two actions in the room (``startStream``,
``stopStream``)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from mediaserver.events import lifecycle
from signaling import keys
from signaling.api.framework import API, Ctx, Model, Out, Text


class StreamIn(Model):
    url: Annotated[
        Text,
        Field(
            min_length=1,
            max_length=1024,
            description="the service's RTMP ingest URL, "
            "rtmp:// or rtmps:// (e.g. rtmp://a.rtmp.youtube.com/live2), or the whole URL with "
            "the stream key at its end; the host must be at a public address (400 address_not_allowed "
            "otherwise, unless the server's operator allow-lists it)",
        ),
    ]
    key: Annotated[
        Text | None,
        Field(max_length=512, description="the stream key, when not already in 'url'; never shown back"),
    ] = None


class StreamOut(Out):
    id: str
    event_id: int
    room_id: str
    target: str = Field(description="where it goes, without the stream key")
    status: str = Field(description="connecting, live, stopped or failed")
    error: str | None = Field(description="why a stream failed (the service refused or went away)")
    started_by: str
    started_at: str
    video_frames: int = Field(description="H.264 pictures sent so far")
    stage_frames: int = Field(
        description="of which decoded from a participant's video (the rest repeat the last "
        "picture while nobody sends)"
    )
    audio_seconds: float
    stop_reason: str | None = Field(
        default=None, description="host, api, ended, failed or shutdown (a stopped stream)"
    )


async def _live_room(ctx: Ctx) -> Any:
    return await lifecycle.live_room(ctx.s, ctx.user, ctx.id(), ctx.app[keys.ROOMS], "a live stream")


@API(
    "POST",
    "/api/v1/events/{id}/stream",
    "stream the live event's room to an RTMP service (R-REC-6): one picture "
    "(the stage: a screen share, else the host's or a presenter's camera) and the mixed sound, as H.264/AAC; "
    "everyone in the room sees the live indicator; webhooks stream.started / stream.stopped",
    "streams",
    body=StreamIn,
    response=StreamOut,
    status=201,
    errors=(409,),
)
async def start_stream(ctx: Ctx) -> StreamOut:
    room = await _live_room(ctx)
    got = await ctx.app[keys.STREAMS].start(room, ctx.body.url, ctx.body.key, by=ctx.user.user.name, s=ctx.s)
    return StreamOut.model_validate(got)


@API(
    "GET",
    "/api/v1/events/{id}/stream",
    "the live event's current stream",
    "streams",
    response=StreamOut,
    errors=(404,),
)
async def get_stream(ctx: Ctx) -> StreamOut:
    ev = await lifecycle.get_event(ctx.s, ctx.user, ctx.id())
    return StreamOut.model_validate(ctx.app[keys.STREAMS].described(ctx.app[keys.ROOMS].find(ev.room_id)))


@API(
    "DELETE",
    "/api/v1/events/{id}/stream",
    "stop the live event's stream (the service is told the stream ended)",
    "streams",
    response=StreamOut,
    errors=(409,),
)
async def stop_stream(ctx: Ctx) -> StreamOut:
    room = await _live_room(ctx)
    got = await ctx.app[keys.STREAMS].stop(room, "api", s=ctx.s)
    return StreamOut.model_validate(got)
