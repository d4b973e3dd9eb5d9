"""/api/v1 reads of what was on an event session's stage, and when (issue 17 item 4: recordings keep what
was presented): the session's track, and a recording's (times from the recording's start), for a watch page
to show the document, the shared video and the board beside the video. The event's visibility rules apply:
another account's event, session or recording is a 404. The rules are mediaserver.events.stage_history's."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from mediaserver.events import lifecycle, room_sessions, stage_history
from mediaserver.library import recordings
from signaling.api.framework import API, Ctx, Out


class StageChange(Out):
    at: dt.datetime
    t: float = Field(description="seconds from the session's (or the recording's) start")
    stage: dict[str, Any] = Field(
        description="the whole stage then: doc (as the doc event's, or null), player (source without a URL, "
        "playing, position, at, rate) and board (shown, page)"
    )


class StageTrack(Out):
    items: list[StageChange]


@API(
    "GET",
    "/api/v1/events/{id}/sessions/{sessionId}/stage",
    "what was on the session's stage and when: each change of the document, the shared video and the "
    "whiteboard's place, oldest first (issue 17)",
    "events",
    response=StageTrack,
)
async def session_stage(ctx: Ctx) -> dict[str, Any]:
    ev = await lifecycle.get_event(ctx.s, ctx.user, ctx.id())
    sess = await room_sessions.session_of(ctx.s, ev, ctx.id("sessionId"))
    return {"items": await stage_history.track(ctx.s, ev, sess)}


@API(
    "GET",
    "/api/v1/recordings/{id}/stage",
    "what was on the stage during a recording, times from its start: the track its watch page plays beside "
    "the video (issue 17)",
    "recordings",
    response=StageTrack,
)
async def recording_stage(ctx: Ctx) -> dict[str, Any]:
    rec = await recordings.get(ctx.s, ctx.user, ctx.id())
    return {"items": await stage_history.for_recording(ctx.s, rec)}
