"""The product's room rules as plain functions and data: who may join, publish and receive (R-ROOM-1,
-2, -3, -8, -13; R-MEDIA-5, -7). Rooms ask these; nothing here touches media or signaling."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from mediaserver import addresses
from mediaserver.rtc.devices import MOBILE

ROOM_TYPES = ("webinar", "meeting")
AUDIO_MODES = ("presenters", "listen", "discussion")
LANGUAGES = ("en", "ru")
MEETING_MAX = 25  # R-ROOM-1: a meeting holds at most 25 people, presenters and host included
WEBINAR_MAX = 5000  # R-ROOM-1: a webinar's capacity comes from the plan, up to 5000
WEBINAR_DEFAULT = 100
DISCUSSION_MAX = 25  # R-ROOM-2: discussion mode only with at most 25 participants
CAMERAS_DEFAULT = 4  # R-MEDIA-5: 4 camera feeds; up to 3 more (7) in meetings only
CAMERAS_MAX_MEETING = 7
#: issue 14 finding 8: what one participant sends at once (R-MEDIA-5, -7: a camera, a microphone, a shared
#: screen); a simulcast camera is one track with its layers
TRACKS_PER_SOURCE = {"microphone": 1, "camera": 1, "screen": 1}
#: the most m-sections a publisher's offer may have (the tracks above, with room for a few rejected or
#: inactive ones a browser keeps): checked before anything is negotiated
MAX_OFFER_SECTIONS = 8


class RuleError(Exception):
    """A request the rules refuse; code is a stable machine-readable reason."""

    def __init__(self, code: str, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.message = code, message
        self.detail = detail or {}  # more fields of the error reply (``node_full``: the nodes to go to)


def new_room_id(taken: set[str] | dict[str, Any]) -> str:
    """A 9-digit room ID (R-ROOM-7), not starting with 0 and not taken."""
    while True:
        rid = str(100_000_000 + secrets.randbelow(900_000_000))
        if rid not in taken:
            return rid


@dataclass(frozen=True)
class PlanCaps:
    """What the plan of an event's account allows in its room (R-ACC-1, R-MEDIA-5; see
    mediaserver.billing.plans.room_caps). Rooms without an account (ad-hoc rooms, POST /api/v1/rooms) keep the
    product's global limits."""

    capacity: int  # the most the room's capacity may be set to
    discussion: int  # the most people in the room with discussion mode on
    presenters: int  # presenter seats, the host's own included
    cameras: int  # cameras on at once


@dataclass
class RoomSettings:
    """What a room is and how it is set; the host changes some of it live."""

    id: str
    name: str = ""
    type: str = "webinar"  # R-ROOM-1: a new event is a webinar by default
    capacity: int = WEBINAR_DEFAULT
    language: str = "en"
    agenda: str = ""
    message: str = ""
    state: str = "live"  # lobby (before the start), live, ended
    locked: bool = False
    audio_mode: str = "listen"  # R-ROOM-2: listen-only is the default
    camera_limit: int = CAMERAS_DEFAULT
    host_key: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    presenter_key: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    pin: str = field(default_factory=lambda: f"{secrets.randbelow(1_000_000):06d}")
    created_at: float = field(default_factory=time.time)
    adhoc: bool = False  # made on the fly for a token's room name; gone when empty
    hd: bool = True  # R-MEDIA-4: HD video where the plan allows it, else SD
    event: bool = False  # an event's room: its page asks for the event's access (R-ROOM-6)
    recording: bool = False  # R-REC-1: everyone sees that the room is being recorded
    streaming: bool = False  # R-REC-6: everyone sees that the room is streamed live
    caps: PlanCaps | None = None  # an event's room: what its account's plan allows (R-ACC-1)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "capacity": self.capacity,
            "language": self.language,
            "agenda": self.agenda,
            "message": self.message,
            "state": self.state,
            "locked": self.locked,
            "audioMode": self.audio_mode,
            "cameraLimit": self.camera_limit,
            "url": f"/room/{self.id}",
            "pin": self.pin,
            "event": self.event,
            "recording": self.recording,
            "streaming": self.streaming,
            "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created_at)),
        }


def default_audio_mode(type_: str) -> str:
    """Listen-only is the default (R-ROOM-2); a meeting is where everyone speaks ("discussion turns a webinar
    into a meeting"), so a meeting starts in discussion mode."""
    return "discussion" if type_ == "meeting" else "listen"


def check_new_room(
    type_: str,
    capacity: int | None,
    language: str,
    name: str,
    agenda: str,
    message: str,
    start: str,
    audio_mode: str | None = None,
) -> int:
    """Validate a room to create; returns its capacity."""
    if type_ not in ROOM_TYPES:
        raise RuleError("bad_request", f"'type' must be one of {', '.join(ROOM_TYPES)}")
    if audio_mode is not None and audio_mode not in AUDIO_MODES:
        raise RuleError("bad_request", f"'audioMode' must be one of {', '.join(AUDIO_MODES)}")
    if language not in LANGUAGES:
        raise RuleError("bad_request", f"'language' must be one of {', '.join(LANGUAGES)}")
    if start not in ("instant", "lobby"):
        raise RuleError("bad_request", "'start' must be 'instant' or 'lobby'")
    for key, value, limit in (("name", name, 200), ("agenda", agenda, 5000), ("message", message, 2000)):
        if not isinstance(value, str) or len(value) > limit:
            raise RuleError("bad_request", f"'{key}' must be text of at most {limit} characters")
    cap = check_capacity(
        type_,
        WEBINAR_DEFAULT
        if capacity is None and type_ == "webinar"
        else MEETING_MAX
        if capacity is None
        else capacity,
    )
    if audio_mode == "discussion" and cap > DISCUSSION_MAX:
        raise RuleError(
            "too_many_for_discussion", f"discussion mode needs a capacity of at most {DISCUSSION_MAX}"
        )
    return cap


def check_capacity(type_: str, capacity: object, caps: PlanCaps | None = None) -> int:
    top = MEETING_MAX if type_ == "meeting" else WEBINAR_MAX
    if isinstance(capacity, bool) or not isinstance(capacity, int) or not 1 <= capacity <= top:
        raise RuleError("bad_capacity", f"a {type_}'s capacity is 1..{top} participants")
    if caps is not None and capacity > caps.capacity:
        raise RuleError(
            "plan_limit",
            f"this account's plan allows at most {caps.capacity} people in a {type_} "
            "(R-ACC-1: the free trial 25 in a webinar, 5 in a meeting); a bigger plan allows more",
        )
    return capacity


def check_camera_limit(type_: str, limit: object) -> int:
    """R-MEDIA-5: 4 camera feeds; up to 3 more can be bought, and they work in meetings only."""
    top = CAMERAS_MAX_MEETING if type_ == "meeting" else CAMERAS_DEFAULT
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= top:
        raise RuleError("bad_request", f"a {type_} may have 1..{top} cameras on at once")
    return limit


def check_person(name: object, email: object) -> tuple[str, str]:
    """R-ROOM-7: a display name (need not be real) and an e-mail address."""
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 64:
        raise RuleError("bad_request", "a display name of 1 to 64 characters is required")
    address = addresses.normalized(email)  # one mailbox, parsed (issue 14 finding 14)
    if address is None:
        raise RuleError("bad_request", "a valid e-mail address is required")
    return name.strip(), address


def discussion_max(room: RoomSettings) -> int:
    """People allowed with discussion mode on: 25 (R-ROOM-2), fewer where the plan says so (R-ACC-1: 5 on the
    free trial)."""
    return min(DISCUSSION_MAX, room.caps.discussion) if room.caps is not None else DISCUSSION_MAX


def seat_limit(room: RoomSettings) -> int:
    """Seats that may be filled now: the capacity, and no more than discussion mode allows while it is on."""
    return min(room.capacity, discussion_max(room)) if room.audio_mode == "discussion" else room.capacity


def entry_status(room: RoomSettings, role: str, seated: int) -> str:
    """Where a newcomer goes: joined, lobby (not started) or waiting (full); or refused."""
    if room.state == "ended":
        raise RuleError("ended", "this session has ended")
    if room.locked and role != "host":
        raise RuleError("locked", "the host has locked this room")
    if role == "host":
        return "joined"
    if room.state == "lobby":
        return "lobby"
    return "waiting" if seated >= seat_limit(room) else "joined"


def check_room_full(room: RoomSettings, role: str, people: int) -> None:
    """Issue 14 finding 8: the room's capacity bounds everyone in it, not only the seats: the seats, and a
    waiting room (R-ROOM-8) or a lobby of as many again. The host always comes in. ``people``: everyone in the
    room now (seated, waiting or in the lobby)."""
    if role != "host" and people >= 2 * room.capacity:
        raise RuleError(
            "room_full",
            f"this room is full: its {room.capacity} seats are taken and {people - room.capacity} "
            "people are already waiting to come in; try again later",
        )


def check_offer_sections(sections: int) -> None:
    """Issue 14 finding 8: a publisher's offer with more m-sections than one person sends is refused before
    anything is negotiated or created."""
    if sections > MAX_OFFER_SECTIONS:
        raise RuleError(
            "too_many_tracks",
            f"a publish offer may have at most {MAX_OFFER_SECTIONS} m-sections (a participant sends one "
            f"microphone, one camera and one shared screen); this one has {sections}",
        )


def check_tracks(sending: list[str], adding: list[str]) -> None:
    """Issue 14 finding 8: one microphone, one camera and one shared screen per participant at once
    (``sending``: the sources of the tracks it sends now; ``adding``: those of the offer)."""
    for source, top in TRACKS_PER_SOURCE.items():
        now, more = sending.count(source), adding.count(source)
        if now + more > top:
            raise RuleError(
                "track_limit",
                f"a participant sends at most {top} {source} track{'s' if top != 1 else ''} at once; this "
                f"offer adds {more} to the {now} you send (unpublish first to replace one)",
            )


def may_publish(room: RoomSettings, role: str, floor: bool) -> bool:
    """R-ROOM-2/-3: presenters and the host always; attendees with the floor, or in discussion mode."""
    return role in ("host", "presenter") or floor or room.audio_mode == "discussion"


def receives_media(room: RoomSettings, role: str, floor: bool) -> bool:
    """R-ROOM-2: in presenters-only mode attendees hear and see nothing."""
    return room.audio_mode != "presenters" or role in ("host", "presenter") or floor


def check_audio_mode(room: RoomSettings, mode: str, people: int) -> None:
    if mode not in AUDIO_MODES:
        raise RuleError("bad_request", f"'mode' must be one of {', '.join(AUDIO_MODES)}")
    top = discussion_max(room)
    if mode == "discussion" and people > top:
        raise RuleError(
            "too_many_for_discussion",
            f"discussion mode needs at most {top} participants; there are {people}"
            + (
                " (R-ACC-1: the plan of this event's account allows 5 with discussion mode on)"
                if top < DISCUSSION_MAX
                else ""
            ),
        )


def check_discussion_capacity(room: RoomSettings, capacity: int) -> None:
    top = discussion_max(room)
    if room.audio_mode == "discussion" and capacity > top:
        raise RuleError("too_many_for_discussion", f"discussion mode allows at most {top} participants")


def check_presenter_seat(room: RoomSettings, role: str, presenters: int) -> None:
    """R-ACC-1, R-MEDIA-5: the plan's presenter seats, the host's own included (the free trial: the organiser
    and one presenter). ``presenters``: the presenters in the room now (the host is not counted: the host's
    seat is always kept)."""
    if role != "presenter" or room.caps is None:
        return
    if presenters >= room.caps.presenters - 1:
        raise RuleError(
            "presenter_seats_full",
            f"all {room.caps.presenters} presenter seats of this account's plan are taken (the host's "
            f"and {room.caps.presenters - 1} presenter{'s' if room.caps.presenters != 2 else ''}; "
            "R-ACC-1: the free trial has 2). Join as an attendee, or ask the host to free a seat",
        )


def check_cameras(room: RoomSettings, on_now: int, adding: int) -> None:
    if on_now + adding > room.camera_limit:
        raise RuleError("camera_limit", f"at most {room.camera_limit} cameras may be on at once in this room")


def check_screen(device: str) -> None:
    """R-MEDIA-7: a mobile device views a shared screen but does not share one."""
    if device == MOBILE:
        raise RuleError("not_on_mobile", "screen sharing is not available from mobile devices (R-MEDIA-7)")


def check_role_on_device(role: str, device: str) -> None:
    """R-MEDIA-1, R-INT-5: a mobile browser joins as an attendee. The original keeps its mobile-browser room
    for webinar attendees: a host or presenter on a phone or tablet needs its mobile app, and an attendee
    there "cannot be made a presenter" (seed FAQ, "What is a responsive room?"). This server has no app, so
    hosts and presenters join from a computer; a mobile attendee may still be given the floor (R-ROOM-3)."""
    if device == MOBILE and role in ("host", "presenter"):
        raise RuleError(
            "not_on_mobile",
            f"a {role} joins from a computer's browser: phones and tablets join as attendees "
            "(R-MEDIA-1, R-INT-5); open the room's attendee link to watch from here",
        )


# R-MEDIA-3 per-stream budgets in bit/s, what one attendee downloads: audio 512 (500 per camera feed),
# SD video 1000 and HD 2000 per camera feed, a shared screen 2000 in Lite mode and up to 5000 in HighQ.
AUDIO_BUDGET = 512_000
VIDEO_BUDGET = {"sd": 1_000_000, "hd": 2_000_000}
SCREEN_BUDGET = {"lite": 2_000_000, "high": 5_000_000}
#: allocation priority: audio is served first anyway, then the stage (a shared screen, then presenters'
#: cameras), then other cameras (issue 5)
PRIORITY = {"screen": 3, "presenter": 2, "camera": 1, "microphone": 0}


def stream_budget(
    settings: RoomSettings, kind: str, source: str, screen_quality: str | None, owner_role: str
) -> tuple[int, int]:
    """(budget in bit/s, priority) of one forwarded stream (R-MEDIA-3, R-MEDIA-4, R-MEDIA-7)."""
    if kind == "audio":
        return AUDIO_BUDGET, PRIORITY["microphone"]
    if source == "screen":
        return SCREEN_BUDGET.get(screen_quality or "high", SCREEN_BUDGET["high"]), PRIORITY["screen"]
    budget = VIDEO_BUDGET["hd" if settings.hd else "sd"]
    return budget, PRIORITY["presenter" if owner_role in ("host", "presenter") else "camera"]
