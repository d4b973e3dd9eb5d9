"""Instant rooms and join tokens: POST /api/v1/rooms, GET /api/v1/rooms/{roomId}, POST
/api/v1/rooms/{roomId}/join and POST /api/v1/tokens (R-ROOM-1, -6, -7, -9). Who may come in, and as what, is
mediaserver.events.entry's business; the rooms themselves are mediaserver.rtc.rooms."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from mediaserver.events import client_profile, entry
from mediaserver.rtc import tokens
from mediaserver.rtc.room_rules import (
    AUDIO_MODES,
    CAMERAS_DEFAULT,
    CAMERAS_MAX_MEETING,
    LANGUAGES,
    MEETING_MAX,
    ROOM_TYPES,
    WEBINAR_MAX,
)
from signaling import keys
from signaling.api.events import JoinIn
from signaling.api.framework import API, Ctx, Model, Out


def _doc(**schema: Any) -> Callable[[dict[str, Any]], None]:
    """JSON-schema keywords (enum, maximum, ...) for the OpenAPI document only: the rules (or the room itself)
    check the values, with their own refusals."""

    def extra(out: dict[str, Any]) -> None:
        (out["anyOf"][0] if "anyOf" in out else out).update(schema)

    return extra


LENIENT = ConfigDict(
    alias_generator=to_camel, populate_by_name=True, extra="ignore"
)  # unknown fields ignored


# ---------------------------------------------------------------- rooms


class RoomOut(Out):
    """A room's public information (the dial-in PIN only for those let in)."""

    id: str = Field(description="the 9-digit room ID")
    name: str | None = None
    type: str | None = Field(None, json_schema_extra=_doc(enum=list(ROOM_TYPES)))
    capacity: int | None = None
    language: str | None = None
    agenda: str | None = None
    message: str | None = None
    state: str | None = Field(None, json_schema_extra=_doc(enum=["lobby", "live", "ended"]))
    locked: bool | None = None
    audio_mode: str | None = Field(None, json_schema_extra=_doc(enum=list(AUDIO_MODES)))
    camera_limit: int | None = None
    url: str | None = None
    pin: str | None = None
    created_at: str | None = None
    participants: int | None = None
    recording: bool | None = None
    streaming: bool | None = None
    event: bool | None = Field(
        None,
        description="the room belongs to an event: GET /api/v1/public/events/{roomId} "
        "tells what joining asks (R-ROOM-6, -9)",
    )
    access: str | None = Field(
        None,
        json_schema_extra=_doc(enum=["open", "password", "token", "paid"]),
        description="an event's access type, while its room is not open yet",
    )


class NewRoom(RoomOut):
    host_key: str
    presenter_key: str
    host_url: str
    presenter_url: str


class RoomIn(Model):
    """A room to create; the rules (mediaserver.rtc.room_rules) check the values."""

    model_config = LENIENT
    type: str = Field("webinar", json_schema_extra=_doc(enum=list(ROOM_TYPES)))
    name: str = Field("", json_schema_extra=_doc(maxLength=200))
    capacity: int | None = Field(
        None,
        json_schema_extra=_doc(minimum=1, maximum=WEBINAR_MAX),
        description=f"meetings at most {MEETING_MAX}",
    )
    language: str = Field("en", json_schema_extra=_doc(enum=list(LANGUAGES)))
    agenda: str = Field("", json_schema_extra=_doc(maxLength=5000))
    message: str = Field("", json_schema_extra=_doc(maxLength=2000))
    start: str = Field("instant", json_schema_extra=_doc(enum=["instant", "lobby"]))
    audio_mode: str | None = Field(
        None,
        json_schema_extra=_doc(enum=list(AUDIO_MODES)),
        description="default: discussion for meetings, listen for webinars",
    )
    camera_limit: int | None = Field(
        None,
        json_schema_extra=_doc(minimum=1, maximum=CAMERAS_MAX_MEETING),
        description=f"default {CAMERAS_DEFAULT}; more only in meetings (R-MEDIA-5)",
    )


@API(
    "POST",
    "/api/v1/rooms",
    "create a room (open while the server listens on loopback only, else the API key; a few a minute per "
    "address without the key, at most max_rooms per node)",
    "rooms",
    body=RoomIn,
    response=NewRoom,
    status=201,
    auth=False,
    idempotent=False,
    optional_body=True,
    sparse=True,
    api_key=lambda settings: not settings.open_room_creation,
    errors=(409, 429, 503),
)
async def create_room(ctx: Ctx) -> NewRoom:
    """A new room with its 9-digit ID, host and presenter keys and links (R-ROOM-1, -7)."""
    b: RoomIn = ctx.body
    auth = ctx.request.headers.get("Authorization", "")
    with_key = auth.startswith("Bearer ") and hmac.compare_digest(
        auth[7:].strip().encode(), ctx.settings.api_key.encode()
    )
    room = await entry.create_room(
        ctx.s,
        ctx.app[keys.ROOMS],
        ctx.caller.address,  # the client, also behind a trusted proxy (issue 15)
        with_key,
        type_=b.type,
        name=b.name,
        capacity=b.capacity,
        language=b.language,
        agenda=b.agenda,
        message=b.message,
        start=b.start,
        audio_mode=b.audio_mode,
        camera_limit=b.camera_limit,
    )
    st = room.settings
    return NewRoom.model_validate(
        {
            **st.public(),
            "hostKey": st.host_key,
            "presenterKey": st.presenter_key,
            "hostUrl": f"/room/{st.id}?host={st.host_key}",
            "presenterUrl": f"/room/{st.id}?presenter={st.presenter_key}",
        }
    )


@API(
    "GET",
    "/api/v1/rooms/{roomId}",
    "a room's public information",
    "rooms",
    response=RoomOut,
    auth=False,
    sparse=True,
)
async def room_info(ctx: Ctx) -> RoomOut:
    info = await entry.room_info(ctx.s, ctx.app[keys.ROOMS], ctx.request.match_info["roomId"])
    return RoomOut.model_validate(info)


class RoomJoinIn(JoinIn):
    model_config = LENIENT


class RoomJoined(Out):
    token: str | None = Field(
        description="the join token for /ws; null for an on-demand event (see playback)"
    )
    role: str
    room: RoomOut | None
    thank_you_url: str | None = Field(None, description="an event's room: where to go after the session")
    playback: dict[str, Any] | None = Field(
        None,
        description="on-demand events: a signed watch URL of the video "
        "instead of a room (playback, R-AUTO-2)",
    )
    rating_token: str | None = Field(
        None,
        description="an event's room: the person's rating token for the thank-you screen's form "
        "(POST /api/v1/public/ratings, R-STAT-1); null for hosts and instant rooms",
    )


@API(
    "POST",
    "/api/v1/rooms/{roomId}/join",
    "join by room ID with a display name and e-mail: a join token "
    "(R-ROOM-7); an event's room applies the event's access rules (R-ROOM-6, -9)",
    "rooms",
    body=RoomJoinIn,
    response=RoomJoined,
    auth=False,
    optional_body=True,
    sparse=True,
    errors=(403, 409, 410, 429, 503),
)
async def join_room(ctx: Ctx) -> RoomJoined:
    body = ctx.body.model_dump(by_alias=True, exclude_none=True)
    room_id = ctx.request.match_info["roomId"]
    checked = await entry.before_join(ctx.db, ctx.caller, room_id, body)
    got = await entry.join(
        ctx.s,
        ctx.app[keys.ROOMS],
        room_id,
        body,
        ctx.settings.secret,
        ctx.settings.watch_url_ttl,
        checked,
        client_profile.profile(ctx.request.headers, ctx.request.remote, ctx.app[keys.COUNTRIES]),
    )
    return RoomJoined.model_validate(got)


# ---------------------------------------------------------------- join tokens


def _refuse(message: str) -> PydanticCustomError:
    return PydanticCustomError("bad_request", message)


class TokenIn(Model):
    model_config = LENIENT
    room: Annotated[str, Field(min_length=1, max_length=128)]
    role: Literal[tokens.ROLES] = "presenter"  # type: ignore[valid-type]
    name: Annotated[str, Field(max_length=128)] = "guest"
    ttl: Annotated[int, Field(ge=1, le=7 * 86400, description="seconds")] = 3600
    identity: str | None = Field(None, description="who it is, stable across joins; default: a random one")

    @model_validator(mode="before")
    @classmethod
    def _check(cls, data: Any) -> Any:
        """The refusals name the field as they always did."""
        room, role, name = data.get("room"), data.get("role", "presenter"), data.get("name", "guest")
        ttl = data.get("ttl", 3600)
        if not isinstance(room, str) or not room or len(room) > 128:
            raise _refuse("'room' must be a non-empty string of at most 128 characters")
        if role not in tokens.ROLES:
            raise _refuse(f"'role' must be one of {', '.join(tokens.ROLES)}")
        if not isinstance(name, str) or len(name) > 128:
            raise _refuse("'name' must be a string of at most 128 characters")
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= 7 * 86400:
            raise _refuse("'ttl' must be an integer number of seconds between 1 and 604800")
        return {**data, "identity": str(data["identity"]) if data.get("identity") else None}


class TokenOut(Out):
    token: str
    room: str
    role: str


@API(
    "POST",
    "/api/v1/tokens",
    "issue a signed join token",
    "rooms",
    body=TokenIn,
    response=TokenOut,
    status=201,
    auth=False,
    idempotent=False,
    api_key=True,
)
async def issue_token(ctx: Ctx) -> TokenOut:
    b: TokenIn = ctx.body
    token = tokens.issue(
        ctx.settings.secret, b.room, b.role, b.name, b.identity or secrets.token_hex(6), b.ttl
    )
    return TokenOut(token=token, room=b.room, role=b.role)
