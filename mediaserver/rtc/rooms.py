"""Rooms, participants and their tracks: who publishes what and who receives it.

Each participant has at most one publishing peer connection (client offers) and one subscribing peer
connection (server offers, renegotiated as tracks come and go). WHIP and WHEP sessions are
participants too. The rules of who may do what live in :mod:`mediaserver.rtc.room_rules`; the room applies
them and drives the media engine through :mod:`mediaserver.rtc.engine` only (pausing consumers is how a rule
reaches the forwarding).
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mediaserver.interaction.journal import Journal, Record
from mediaserver.interaction.members import Member
from mediaserver.interaction.player import VideoSource
from mediaserver.interaction.polls import Lister, Loader, PollSource
from mediaserver.interaction.presentation import FileSource, Finder
from mediaserver.interaction.room import Interaction
from mediaserver.rtc import devices, sdp
from mediaserver.rtc import room_rules as rules
from mediaserver.rtc.engine import MediaEngine, TransportInfo, new_ssrc
from mediaserver.rtc.room_rules import PlanCaps, RoomSettings, RuleError
from mediaserver.rtc.tokens import Grant
from mediaserver.rtc.workers import MediaWorkers

log = logging.getLogger("mediaserver.rtc.rooms")

#: The server's own payload-type space for the offers it makes to subscribers.
SERVER_PT = {"opus": 111, "vp8": 96, "vp9": 98, "h264": 102, "av1": 45}
#: Header extensions the server offers to subscribers.
SERVER_EXT = {
    "urn:ietf:params:rtp-hdrext:sdes:mid": 1,
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time": 2,
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level": 3,
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01": 4,
    # video only: the core asks a receiver on a lossy path to wait long enough for retransmissions
    "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay": 5,
}
#: transport-cc feedback drives the core's estimate of each subscriber's bandwidth (issue 5); goog-remb is
#: the fallback for peers without it (aiortc)
VIDEO_FB = ["nack", "nack pli", "ccm fir", "goog-remb", "transport-cc", "rrtr"]
AUDIO_FB = ["transport-cc"]
SOURCES = ("camera", "microphone", "screen")

RoomError = RuleError  # one error type for every refusal a client can get from a room


class Output(Protocol):
    """What takes a room's tracks off the core besides its participants: a recording or a live stream."""

    def track_added(self, room: Room, track: Track) -> None: ...
    def track_removed(self, room: Room, track: Track) -> None: ...
    def sync(self, room: Room) -> None: ...
    def room_ended(self, room: Room) -> None: ...


class Recordings(Output, Protocol):
    """What a room needs of the recording module (mediaserver.output.recording.RecordingService); rooms.py
    knows nothing of files or formats (R-REC-1, -3)."""

    def start(self, room: Room, s: Any = None, by: str = "host") -> Awaitable[dict[str, Any]]: ...
    def stop(self, room: Room, reason: str = "host", s: Any = None) -> Awaitable[dict[str, Any]]: ...


class Streams(Output, Protocol):
    """What a room needs of live streaming (mediaserver.output.streaming.StreamingService, R-REC-6); rooms.py
    knows nothing of RTMP."""

    def start(self, room: Room, url: Any, key: Any = None, by: str = "host") -> Awaitable[dict[str, Any]]: ...
    def stop(self, room: Room, reason: str = "host") -> Awaitable[dict[str, Any]]: ...


class Placement(Protocol):
    """Where a room lives in a cluster (issue 19, ``mediaserver.cluster.rooms``): :meth:`place` makes this
    node the room's owner, or an edge of the owner's (``Room.owner_node``); :meth:`forget` gives it up when
    this node frees the room."""

    def place(self, room: Room) -> Awaitable[None]: ...
    def forget(self, room: Room) -> None: ...
    def control(self, room_id: str, action: str, by: str | None, auto_record: bool) -> Awaitable[bool]:
        """Have the node that holds the room start or end it; False when that is this node, or none."""
        ...

    def held_elsewhere(self, room_id: str) -> Awaitable[bool]:
        """Whether another node holds the room's lease (True too when that cannot be known now)."""
        ...

    def settings_of(self, room_id: str) -> Awaitable[dict[str, Any] | None]:
        """The settings of a room another node owns (its public form), or None when no node does."""
        ...

    def instant(self, room_id: str, op: str, body: dict[str, Any]) -> Awaitable[dict[str, Any] | None]:
        """An instant room of another node: its answer to ``op`` (info, join), or None when no node has it."""
        ...

    def placed_elsewhere(self) -> Awaitable[str | None]:
        """The node a new attendee goes to instead of this full one (placement by load), or None."""
        ...

    def joined(self, room: Room, p: Participant) -> Awaitable[dict[str, Any]]:
        """``p`` joined ``room`` here: on an edge, the owner admits it (the room's capacity holds across the
        nodes) and gives what ``p`` sees of the interaction (it replaces this node's in the join's reply)."""
        ...


class EventControl(Protocol):
    """What an event's room needs of the control plane (mediaserver.events.lifecycle.RoomControl): the host's
    Start and End buttons go through the event's life cycle like the API's start and end (R-ROOM-4, -5,
    R-STAT-2, -3), so the room never goes live or ends behind the event's back. A refusal (e.g.
    live_event_running) is the host's answer."""

    def start(self, room: Room, by: Participant) -> Awaitable[dict[str, Any]]: ...
    def end(self, room: Room, by: Participant) -> Awaitable[dict[str, Any]]: ...

    def owns(self, room_id: str) -> Awaitable[bool]:
        """Whether an event has this room ID (issue 14 finding 17: no ad-hoc room may take it)."""
        ...

    def reopen(self, room_id: str) -> Awaitable[Room | None]:
        """The event's room opened again as its event says (the lobby, or live), for a token the event issued
        whose room is not in memory (a restart, or freed while nobody was in its lobby); None: no such
        event."""
        ...


def server_extensions(kind: str) -> dict[str, int]:
    """The header extensions offered to a subscriber for a track of this kind."""
    return {
        u: i
        for u, i in SERVER_EXT.items()
        if ("audio-level" not in u or kind == "audio") and ("playout-delay" not in u or kind == "video")
    }


@dataclass
class Track:
    id: str
    owner: Participant
    kind: str
    producer_id: int
    codec: sdp.Codec
    stream_id: str
    mid: str
    source: str = "camera"
    muted: bool = False
    screen_quality: str | None = None
    transport_id: int = 0
    # issue 18: its producer mirrored on other workers of the room (worker -> that producer's id there)
    pipes: dict[MediaEngine, int] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        d = {
            "id": self.id,
            "kind": self.kind,
            "participant": self.owner.id,
            "codec": self.codec.name,
            "streamId": self.stream_id,
            "source": self.source,
            "muted": self.muted,
            "mid": self.mid,
        }
        if self.screen_quality:
            d["screenQuality"] = self.screen_quality
        return d


@dataclass
class Subscription:
    """The server-offered peer connection of one participant."""

    ufrag: str
    pwd: str
    transport: TransportInfo | None = None
    offered: list[sdp.OfferedTrack] = field(default_factory=list)
    track_of_mid: dict[str, str] = field(default_factory=dict)
    ssrcs: set[int] = field(default_factory=set)
    version: int = 0
    awaiting_answer: bool = False
    dirty: bool = False
    next_mid: int = 0
    dtls_set: bool = False  # the answer told us the peer's DTLS role and fingerprint


@dataclass
class Participant:
    id: str
    name: str
    role: str
    identity: str
    room: Room
    notify: Callable[[str, dict[str, Any]], Any] | None = None
    kind: str = "ws"  # ws, whip, whep, or remote (issue 19: a presenter of the owner node, on an edge)
    device: str = devices.DESKTOP  # devices.effective(): the client's word and the request's headers
    status: str = "joined"  # joined, lobby, waiting
    floor: bool = False  # an attendee the host gave the floor (R-ROOM-3)
    publish_transports: dict[int, TransportInfo] = field(default_factory=dict)  # one per publication
    tracks: dict[str, Track] = field(default_factory=dict)
    subscription: Subscription | None = None
    viewer_transport: TransportInfo | None = None  # WHEP
    consumers: dict[str, int] = field(default_factory=dict)  # track id -> consumer id (either way in)
    avatar: str | None = None  # URL of the picture shown instead of a camera (R-MEDIA-6)
    on_leave: list[Callable[[Participant], Any]] = field(default_factory=list)
    paused: dict[str, bool] = field(default_factory=dict)  # track id -> paused now
    person: frozenset[str] = frozenset()  # what a removal bans (Grant.person: identity, e-mail)
    email: str = ""  # the address the join token carries (poll answers are kept with it, R-STAT-1)
    attendance: int = 0  # R-STAT-1: the event's attendance row of its join token (0: none)
    entered_ms: int = 0  # when it came into the room (ms since the epoch)
    # issue 18: the worker its subscription (or WHEP viewer) is on: the room's own, or another one once the
    # room has room_worker_share subscribers there; what it publishes is always on the room's own
    media: MediaEngine | None = None

    @property
    def can_publish(self) -> bool:
        return rules.may_publish(self.room.settings, self.role, self.floor)

    @property
    def person_key(self) -> str:
        """One string for the person (issue 16: one vote, one answer, one silence per person)."""
        return min(self.person) if self.person else self.id

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "status": self.status,
            "canPublish": self.can_publish,
            "floor": self.floor,
            "avatar": self.avatar,
            "muted": {
                k: all(t.muted for t in own)
                for k in ("audio", "video")
                if (own := [t for t in self.tracks.values() if t.kind == k and t.source != "screen"])
            },
        }

    def send(self, method: str, params: dict[str, Any]) -> None:
        if self.notify is not None:
            self.notify(method, params)


def _codec_key(c: sdp.Codec) -> str:
    return c.name.lower()


class Room:
    """One meeting or webinar room. Its tracks are published on one media worker, ``media``; its
    subscribers are there too until it has ``room_worker_share`` of them, then on other workers of
    ``workers``, where each track it publishes is piped once (issue 18)."""

    def __init__(
        self,
        settings: RoomSettings,
        media: MediaEngine,
        on_empty: Callable[[Room], Any] | None = None,
        recordings: Recordings | None = None,
        streams: Streams | None = None,
        control: EventControl | None = None,
        record: Record | None = None,
        polls: Loader | None = None,
        poll_list: Lister | None = None,
        files: Finder | None = None,
        videos: VideoSource | None = None,
        workers: MediaWorkers | None = None,
    ) -> None:
        self.settings = settings
        self.recordings = recordings
        self.streams = streams
        self.control = control
        self.name = settings.id
        self.media = media
        self.workers = workers
        self.participants: dict[str, Participant] = {}
        # issue 16 (5,000 attendees): what a join needs without a loop over everyone: the seated count, and
        # the participants an attendee of a webinar sees (the staff, and attendees with the floor), in the
        # order they came (_order); kept by join, leave, admit_waiting and the floor actions
        self._seated = 0
        self._shown: dict[str, Participant] = {}
        self._order: dict[str, int] = {}
        self._joins = 0
        self._subscribers: dict[MediaEngine, int] = {}  # issue 18: the room's subscriptions on each worker
        self.tracks: dict[str, Track] = {}
        # issue 19: on an edge node, the node that owns the room (its presenters publish there; their tracks
        # come here over links); None on the owner and on a server alone. ``cascade`` tells the edges.
        self.owner_node: str | None = None
        self.cascade: Output | None = None
        # issue 19: on the owner, the people who joined the room on an edge (interaction members: the owner
        # runs the room's interaction for them too, and counts them in its capacity); on an edge, where the
        # interaction commands of this node's participants go (the owner)
        self.remote_members: dict[str, Member] = {}
        self._remote_status: dict[str, str] = {}  # their status as the owner decided it (joined, waiting ...)
        self._remote_seated = 0
        # the cluster's word to an edge that one of its people waiting is let in (with what they see)
        self.admit_remote: Callable[[Member, dict[str, Any]], Any] | None = None
        # and that the host removed one of its people, or moved them here (``act_remote(member, action,
        # reason)``, action "remove" or "move": the floor or the presenter's role is taken on this node)
        self.act_remote: Callable[[Member, str, str], Any] | None = None
        # on an edge: the people of the other nodes whom this node's people see, as the owner describes them
        # (a webinar's staff and attendees with the floor; everyone seated in a meeting), by id
        self.owner_people: dict[str, dict[str, Any]] = {}
        # the people the host gave the floor while they were on an edge: it is theirs when they come here
        self.granted_floor: set[str] = set()
        self.relay: Callable[[Participant, str, dict[str, Any]], Awaitable[dict[str, Any]]] | None = None
        self.removed: set[str] = set()  # the people the host removed (Grant.person: identities, e-mails)
        # issue 17 (R-INT-5): the people the host made presenters in the room (person key -> role): a
        # reconnection with their attendee token comes back as a presenter
        self.granted_roles: dict[str, str] = {}
        # a live event's room restored after a restart waits until then (time.monotonic()) for its people
        self.resume_by: float | None = None
        self._on_empty = on_empty
        self.empty_since: float | None = time.monotonic()  # nobody in the room since (None: someone is)
        # issue 16: chat, hands, reactions (and what comes next) of the seated participants
        self.interaction = Interaction(
            self._seated_member,
            record=record,
            polls=polls,
            poll_list=poll_list,
            files=files,
            videos=videos,
            room_id=settings.id,
        )

    # ---- membership ----

    def _require_owner(self, what: str) -> None:
        """Issue 19: the host and presenters act on the room's owner node; an edge only serves attendees."""
        if self.owner_node is not None:
            raise RuleError(
                "wrong_node",
                f"the host and presenters {what} on this room's owner node {self.owner_node!r}; join there",
            )

    def _seated_member(self, pid: str) -> Member | None:
        q = self.participants.get(pid)
        if q is None:
            return self.remote_members.get(pid) if self._remote_status.get(pid) == "joined" else None
        return q if q.status == "joined" else None

    def describe_remote(self, m: Member) -> dict[str, Any]:
        """Issue 19, on the owner: someone seated on an edge as the others see them (``node``: where)."""
        return {
            "id": m.id,
            "name": m.name,
            "role": m.role,
            "status": "joined",
            "canPublish": rules.may_publish(self.settings, m.role, m.floor),
            "floor": m.floor,
            "avatar": None,
            "muted": {},
            "node": getattr(m, "node", None),
        }

    def _seated_remote(self) -> list[Member]:
        return [m for pid, m in self.remote_members.items() if self._remote_status.get(pid) == "joined"]

    def people_for_edges(self) -> list[dict[str, Any]]:
        """Issue 19, on the owner: whom the edges' people see of the room (the edges show them): in a webinar
        the staff and the attendees with the floor, all on this node; in a meeting everyone seated, here or on
        any edge (an edge leaves its own people out)."""
        if self.settings.type == "webinar":
            return [q.describe() for q in self._shown.values() if q.status == "joined"]
        return [
            *(q.describe() for q in self.participants.values() if q.status == "joined"),
            *(self.describe_remote(m) for m in self._seated_remote()),
        ]

    def _people_changed(self, who: Member) -> None:
        """The edges see ``who`` (not a webinar's attendee without the floor): they hear of the change."""
        if self.cascade is not None and not self._plain_attendee(who):
            self.cascade.sync(self)

    def apply_owner_people(self, people: list[Any]) -> None:
        """Issue 19, on an edge: the owner's word on whom this node's people see of the other nodes; they are
        told who came, changed or went."""
        new = {
            str(d["id"]): d
            for d in people
            if isinstance(d, dict) and "id" in d and str(d["id"]) not in self.participants
        }
        old, self.owner_people = self.owner_people, new
        for pid, d in new.items():
            if pid not in old:
                self._broadcast("participantJoined", {"participant": d})
            elif old[pid] != d:
                self._broadcast("participantUpdated", {"participant": d})
        for pid in old:
            if pid not in new:
                self._broadcast("participantLeft", {"participant": pid})

    def _tell_about_remote(self, m: Member, method: str, params: dict[str, Any]) -> None:
        """Issue 19, on the owner: news of someone seated on an edge, to those here who see them."""
        among = self._shown if self._plain_attendee(m) else self.participants
        for q in list(among.values()):
            if q.status == "joined" and self._visible(m, q):
                q.send(method, params)
        self._people_changed(m)

    def command(
        self, p: Participant, method: str, params: dict[str, Any]
    ) -> dict[str, Any] | Awaitable[dict[str, Any]]:
        """An interaction command of ``p``: run here, or on the owner node when this node is an edge."""
        if self.relay is not None:
            return self.relay(p, method, params)
        return self.interaction.command(p, method, params)

    def add_remote_member(self, m: Member, rejoin: bool = False) -> str:
        """Issue 19: someone joined the room on an edge. The seats are the room's, whatever the node
        (R-ROOM-8): their status is decided here (joined; waiting when the seats are taken; lobby before the
        start)."""
        self.remove_remote_member(m.id, admit=False)  # registered again (its node followed a new owner)
        self.check_not_removed(frozenset(getattr(m, "person", ())) | {m.person_key}, m.role)
        if rejoin:  # seated before on the owner that died: no admission again (a lock keeps newcomers out)
            status = "joined"
        else:
            status = rules.entry_status(self.settings, m.role, self.seated())
            rules.check_room_full(self.settings, m.role, len(self.participants) + len(self.remote_members))
        self.remote_members[m.id] = m
        self._remote_status[m.id] = status
        self._remote_seated += status == "joined"
        self.empty_since = None
        if status == "joined":
            self._tell_about_remote(m, "participantJoined", {"participant": self.describe_remote(m)})
        return status

    def remove_remote_member(self, pid: str, admit: bool = True) -> None:
        m = self.remote_members.pop(pid, None)
        if m is None:
            return
        if self._remote_status.pop(pid, None) == "joined":
            self._remote_seated -= 1
            self.interaction.left(m)
            self._tell_about_remote(m, "participantLeft", {"participant": pid})
            if admit:
                self.admit_waiting()
        if not self.participants and not self.remote_members:
            self.empty_since = time.monotonic()
            if self._on_empty:
                self._on_empty(self)

    def follow_owner_status(self, p: Participant, status: str) -> None:
        """Issue 19, on an edge: the owner decided ``p``'s status (the seats are counted there)."""
        if status == p.status or status not in ("joined", "waiting", "lobby"):
            return
        if p.status == "joined":
            self._seated -= 1
        p.status = status
        if status == "joined":
            self._seated += 1
            self._announce(p)

    def admitted_by_owner(self, p: Participant, interaction: dict[str, Any]) -> None:
        """Issue 19, on an edge: the owner let ``p`` in from the waiting room (a seat came free)."""
        if p.status == "joined":
            return
        p.status = "joined"
        self._seated += 1
        p.send("admitted", {"participant": p.describe(), **self.snapshot(p), "interaction": interaction})
        self._announce(p)

    def seated(self) -> int:
        """The seats taken: here, and on the edges (issue 19, on the owner)."""
        return self._seated + self._remote_seated

    def _plain_attendee(self, p: Member) -> bool:
        """Whether only the staff (and ``p``) see ``p``: a webinar's attendee without the floor."""
        return self.settings.type == "webinar" and p.role == "attendee" and not p.floor

    def _shown_update(self, p: Participant) -> None:
        if p.role != "attendee" or p.floor:
            self._shown[p.id] = p
        else:
            self._shown.pop(p.id, None)

    def join(
        self,
        grant: Grant,
        notify: Callable[[str, dict[str, Any]], Any] | None = None,
        kind: str = "ws",
        device: str = devices.DESKTOP,
    ) -> Participant:
        person = grant.person()
        # issue 14 finding 13: the removal holds for the person (their e-mail or invitation), not one token
        self.check_not_removed(person, grant.role)
        role = grant.role
        if (
            role == "attendee"
            and kind == "ws"
            and device != devices.MOBILE
            and person
            and self.granted_roles.get(min(person)) == "presenter"
        ):
            role = "presenter"  # made a presenter by the host earlier in this room (issue 17)
        if kind != "whep":  # a WHEP player only watches, whatever its token's role
            rules.check_role_on_device(role, device)
        status = rules.entry_status(self.settings, role, self.seated())
        rules.check_room_full(self.settings, role, len(self.participants) + len(self.remote_members))
        rules.check_presenter_seat(
            self.settings,
            role,
            sum(1 for q in self._shown.values() if q.role == "presenter" and q.identity != grant.identity),
        )
        p = Participant(
            secrets.token_hex(6),
            grant.name,
            role,
            grant.identity,
            self,
            notify,
            kind=kind,
            device=device if device in devices.DEVICES else devices.DESKTOP,
            status=status,
            person=person,
            email=grant.email,
            attendance=grant.attendance,
            entered_ms=int(time.time() * 1000),
        )
        if role == "attendee" and kind == "ws" and person and min(person) in self.granted_floor:
            p.floor = True  # given the floor while on an edge (issue 19): they speak here
        self.participants[p.id] = p
        self._attendance(p, {"in": p.entered_ms, "pid": p.id})
        self._joins += 1
        self._order[p.id] = self._joins
        self._shown_update(p)
        if status == "joined":
            self._seated += 1
        self.resume_by = None  # someone is back after a restart: the session goes on as before
        self.empty_since = None
        if status == "joined":
            self._announce(p)
        log.info("room %s: %s joined as %s (%s, %s)", self.name, p.name, p.role, kind, status)
        return p

    def _attendance(self, p: Participant, stay: dict[str, Any]) -> None:
        """R-STAT-1: an entry or exit of an event's attendee, for its attendance row (mediaserver.events.
        attendance adds up the stays and sends participant.left)."""
        record = self.interaction.record
        if p.attendance and record is not None:
            record("attendance", {"id": p.attendance, **stay})

    def check_not_removed(self, person: frozenset[str], role: str) -> None:
        """Issue 14 finding 13: the people the host removed (by identity or e-mail) stay out."""
        if person & self.removed and role != "host":
            raise RuleError("removed", "the host removed you from this room")

    def _visible(self, p: Member, to: Participant) -> bool:
        """In a webinar attendees do not see each other (unless one has the floor); all see the staff."""
        return (
            self.settings.type != "webinar"
            or p.role != "attendee"
            or p.floor
            or to.role != "attendee"
            or p is to
        )

    def _tell_about(self, p: Participant, method: str, params: dict[str, Any]) -> None:
        # a webinar's attendee is news to the staff only: a loop over them, not over the 5,000 (issue 16)
        among = self._shown if self._plain_attendee(p) else self.participants
        for q in list(among.values()):
            if q is not p and q.status == "joined" and self._visible(p, q):
                q.send(method, params)
        self._people_changed(p)

    def _announce(self, p: Participant) -> None:
        self._tell_about(p, "participantJoined", {"participant": p.describe()})

    def leave(self, p: Participant, reason: str | None = None) -> None:
        if self.participants.pop(p.id, None) is None:
            return
        self._shown.pop(p.id, None)
        self._order.pop(p.id, None)
        was_seated = p.status == "joined"
        if was_seated:
            self._seated -= 1
        had_tracks = bool(p.tracks)
        for t in list(p.tracks.values()):
            self._remove_track(t)
        for transport in (p.subscription.transport if p.subscription else None, p.viewer_transport):
            if transport is not None:
                self._engine(p).close_transport(transport.id)
        for transport in p.publish_transports.values():
            self.media.close_transport(transport.id)
        if p.media is not None:
            self._subscribers[p.media] -= 1
            if not self._subscribers[p.media] and p.media is not self.media:
                self._unpipe_from(p.media)  # its last subscriber there: the copies go too
        p.consumers.clear()
        if was_seated:
            self.interaction.left(p)
        self._attendance(p, {"in": p.entered_ms, "out": int(time.time() * 1000)})
        if reason:
            p.send("removed", {"reason": reason})
        for cb in p.on_leave:
            cb(p)
        if was_seated:
            self._tell_about(p, "participantLeft", {"participant": p.id})
            if had_tracks:  # nobody's subscription changes when someone without tracks leaves
                self._renegotiate_all()
            self.admit_waiting()
        log.info("room %s: %s left%s", self.name, p.name, f" ({reason})" if reason else "")
        if not self.participants and not self.remote_members:
            self.empty_since = time.monotonic()
            if self._on_empty:
                self._on_empty(self)

    def admit_waiting(self) -> None:
        """Let people in while seats are free (R-ROOM-8): those waiting on the edges first (issue 19: they
        came through their node and the owner, which counts the seats), then here, in the order they came; on
        an edge, the owner decides."""
        if self.owner_node is not None:
            return
        remote_waiting = len(self._remote_status) > self._remote_seated
        if self.settings.state != "live" or (self._seated == len(self.participants) and not remote_waiting):
            return  # nobody waits (the common case: no loop over 5,000 attendees when one leaves)
        if remote_waiting:
            self._admit_remote()
        for q in list(self.participants.values()):
            if q.status not in ("waiting", "lobby"):
                continue
            if q.role == "host" or self.seated() < rules.seat_limit(self.settings):
                q.status = "joined"
                self._seated += 1
                seen = {**self.snapshot(q), "interaction": self.interaction.snapshot(q)}
                q.send("admitted", {"participant": q.describe(), **seen})
                self._announce(q)
            elif q.status == "lobby":  # started, but full: from the lobby to the waiting room
                q.status = "waiting"
                q.send("participantUpdated", {"participant": q.describe()})

    def _admit_remote(self) -> None:
        for pid, status in list(self._remote_status.items()):
            if status == "joined":
                continue
            m = self.remote_members[pid]
            if m.role != "host" and self.seated() >= rules.seat_limit(self.settings):
                return
            self._remote_status[pid] = "joined"
            self._remote_seated += 1
            if self.admit_remote is not None:
                self.admit_remote(m, self.interaction.snapshot(m))
            self._tell_about_remote(m, "participantJoined", {"participant": self.describe_remote(m)})

    def snapshot(self, to: Participant | None = None) -> dict[str, Any]:
        if to is not None and self._plain_attendee(to):
            # what a webinar's attendee sees: the staff, attendees with the floor, and themselves (issue 16:
            # not a loop over the 5,000), in the order they came
            among = sorted([*self._shown.values(), to], key=lambda q: self._order.get(q.id, 0))
        else:
            among = list(self.participants.values())
        seated = [q for q in among if q.status == "joined" and (to is None or self._visible(q, to))]
        # issue 19: on the owner, those seated on the edges whom ``to`` sees; on an edge, the other nodes'
        elsewhere = [
            *self.owner_people.values(),
            *(self.describe_remote(m) for m in self._seated_remote() if to is None or self._visible(m, to)),
        ]
        return {
            "room": self.settings.public(),
            "participants": [*elsewhere, *(q.describe() for q in seated)],
            "tracks": [t.describe() for t in self.tracks.values()],
        }

    def view_for(self, p: Participant) -> dict[str, Any]:
        """What ``p`` sees of the room on joining: once seated, the room as :meth:`snapshot` shows it to
        them; in the lobby or the waiting room, only the room's public face (no participants, no tracks)."""
        if p.status != "joined":
            return {"room": self.settings.public(), "participants": [], "tracks": []}
        return {**self.snapshot(p), "interaction": self.interaction.snapshot(p)}

    def _require_joined(self, p: Participant) -> None:
        if p.status != "joined":
            raise RuleError("not_admitted", f"you are in the {p.status}; wait until you are let in")

    # ---- publishing (client offer, server answer) ----

    def publish(
        self,
        p: Participant,
        offer_sdp: str,
        sources: dict[str, str] | None = None,
        screen_quality: str | None = None,
    ) -> tuple[str, list[Track]]:
        """Accept a publisher's offer: returns the answer SDP and the new tracks."""
        self._require_joined(p)
        self._require_owner("publish")
        if not p.can_publish:
            raise RuleError(
                "forbidden",
                f"role {p.role!r} may not publish in {self.settings.audio_mode!r} mode without the floor",
            )
        if len(p.publish_transports) >= 3:
            raise RuleError(
                "conflict", "at most 3 publishing connections (e.g. camera and a screen); unpublish one"
            )
        sources = sources or {}
        if any(s not in SOURCES for s in sources.values()):
            raise RuleError("bad_request", f"sources must be one of {', '.join(SOURCES)}")
        if screen_quality not in (None, "high", "lite"):
            raise RuleError("bad_request", "screenQuality must be 'high' or 'lite'")
        offer = sdp.parse(offer_sdp)
        rules.check_offer_sections(len(offer.media))  # issue 14 finding 8: before anything is negotiated
        ufrag, pwd = self.media.new_credentials()
        local = self._local(ufrag, pwd, "passive" if offer.setup in ("actpass", "active") else "active")
        answer, negotiated = sdp.answer_publish(offer, local)
        accepted = [n for n in negotiated if not n.rejected and n.codecs]
        source_of = {
            n.mid: sources.get(n.mid, "microphone" if n.kind == "audio" else "camera") for n in accepted
        }
        for n in accepted:
            if (n.kind == "audio") != (source_of[n.mid] == "microphone"):
                raise RuleError(
                    "bad_request", f"mid {n.mid}: a {n.kind} track cannot be a {source_of[n.mid]}"
                )
        if "screen" in source_of.values():
            rules.check_screen(p.device)
        rules.check_tracks([t.source for t in p.tracks.values()], list(source_of.values()))
        cameras_on = sum(1 for t in self.tracks.values() if t.source == "camera")
        rules.check_cameras(self.settings, cameras_on, sum(1 for s in source_of.values() if s == "camera"))
        transport = self.media.create_transport(
            offer.setup, offer.fingerprint_algorithm, offer.fingerprint, ufrag, pwd
        )
        new: list[Track] = []
        stream = next((m.msid.split()[0] for m in offer.media if m.msid), p.id)
        try:
            for n in accepted:
                main = n.codecs[0]
                codecs = {c.payload_type: c.name for c in n.codecs}
                rtx = {c.rtx_payload_type: c.payload_type for c in n.codecs if c.rtx_payload_type is not None}
                ssrc = n.ssrcs[0] if n.ssrcs else 0
                rtx_ssrc = n.rtx_ssrcs.get(ssrc, 0) if ssrc else 0
                if len(n.rids) > 1:
                    ssrc, rtx_ssrc = 0, 0  # simulcast: each layer's SSRC is learnt from its rid
                sim = [(x, n.rtx_ssrcs.get(x, 0)) for x in n.sim_ssrcs]
                pid = self.media.create_producer(
                    transport.id,
                    n.kind,
                    ssrc,
                    rtx_ssrc,
                    codecs,
                    rtx,
                    main.clock_rate,
                    n.extensions,
                    n.mid,
                    nack=any("nack" == f for f in main.rtcp_fb),
                    rids=n.rids,
                    sim_ssrcs=sim,
                )
                src = source_of[n.mid]
                new.append(
                    Track(
                        secrets.token_hex(6),
                        p,
                        n.kind,
                        pid,
                        main,
                        stream,
                        n.mid,
                        src,
                        screen_quality=(screen_quality or "high") if src == "screen" else None,
                        transport_id=transport.id,
                    )
                )
        except Exception:
            self.media.close_transport(transport.id)  # closes the producers made so far
            raise
        p.publish_transports[transport.id] = transport
        self._watch(p, transport)
        for t in new:
            p.tracks[t.id] = t
            self.tracks[t.id] = t
        for t in new:
            for o in self._outputs():
                o.track_added(self, t)  # a track that appears while recording or streaming is taken too
            self._broadcast("trackPublished", {"track": t.describe()}, exclude=p)
        self._renegotiate_all(exclude=p)
        return answer, new

    def unpublish(self, p: Participant, track_id: str | None = None) -> None:
        if track_id is not None and track_id not in p.tracks:
            raise RuleError("not_found", f"no track {track_id} published by this participant")
        tracks = [p.tracks[track_id]] if track_id is not None else list(p.tracks.values())
        for t in tracks:
            self._remove_track(t)
        in_use = {t.transport_id for t in p.tracks.values()}
        for tid in [tid for tid in p.publish_transports if tid not in in_use]:  # publications now empty
            self.media.close_transport(p.publish_transports.pop(tid).id)
        self._renegotiate_all(exclude=p)

    def _remove_track(self, t: Track) -> None:
        t.owner.tracks.pop(t.id, None)
        if self.tracks.pop(t.id, None) is None:
            return
        for q in self.participants.values():
            q.consumers.pop(t.id, None)
            q.paused.pop(t.id, None)
        for engine, pid in t.pipes.items():  # the other workers' copies, with their consumers
            self.media.unpipe(engine, pid)
        t.pipes.clear()
        self.media.close_producer(t.producer_id)  # closes its consumers too
        for o in self._outputs():
            o.track_removed(self, t)
        self._broadcast("trackUnpublished", {"track": t.id}, exclude=t.owner)

    def mute(self, p: Participant, kind: str, muted: bool, by: str | None = None) -> list[Track]:
        """Stop (or restart) forwarding p's own audio or camera; screen shares are unpublished instead."""
        if kind not in ("audio", "video"):
            raise RuleError("bad_request", "'kind' must be 'audio' or 'video'")
        changed = [
            t for t in p.tracks.values() if t.kind == kind and t.source != "screen" and t.muted != muted
        ]
        for t in changed:
            t.muted = muted
            self._broadcast("trackUpdated", {"track": t.describe()}, exclude=p)
        if changed:
            self._sync_all()
        if muted and by and changed:
            p.send("muted", {"kind": kind, "by": by})
        return changed

    def self_mute(self, p: Participant, kind: str, muted: bool) -> list[Track]:
        """A participant mutes or unmutes their own audio or camera (:meth:`mute`); unmuting needs the
        right to publish: in presenters-only audio mode an attendee without the floor may not speak
        (R-ROOM-2, -3)."""
        if not muted and not p.can_publish:
            raise RuleError("forbidden", "you may not speak in this audio mode without the floor")
        return self.mute(p, kind, muted)

    def set_avatar(self, p: Participant, url: str | None) -> None:
        self._require_joined(p)
        p.avatar = url
        self._tell_about(p, "participantUpdated", {"participant": p.describe()})

    # ---- forwarding rules: a consumer is paused when its track is muted or the rules deny the receiver ----

    def _wants(self, q: Participant, t: Track) -> bool:
        return not t.muted and rules.receives_media(self.settings, q.role, q.floor)

    def _sync(self, q: Participant) -> None:
        for tid, cid in list(q.consumers.items()):
            t = self.tracks.get(tid)
            if t is None:
                continue
            pause = not self._wants(q, t)
            if q.paused.get(tid, False) != pause:
                self._engine(q).pause_consumer(cid, pause)
                q.paused[tid] = pause

    def _sync_all(self) -> None:
        for q in self.participants.values():
            self._sync(q)
        for o in self._outputs():
            o.sync(self)  # R-REC-3: presenters-only mode and muted tracks are not recorded (nor streamed)

    def _outputs(self) -> list[Output]:
        return [o for o in (self.recordings, self.streams, self.cascade) if o is not None]

    # ---- issue 19: on an edge, the owner's tracks (their producers mirror the owner's over a link) ----

    def add_remote_track(self, t: Track) -> None:
        """A track of the owner node's, mirrored here: offered to this node's subscribers like a local one."""
        self.tracks[t.id] = t
        self._broadcast("trackPublished", {"track": t.describe()})
        self._renegotiate_all()

    def remove_remote_track(self, track_id: str) -> None:
        t = self.tracks.get(track_id)
        if t is not None and t.owner.kind == "remote":
            self._remove_track(t)
            self._renegotiate_all()

    def set_remote_muted(self, track_id: str, muted: bool) -> None:
        t = self.tracks.get(track_id)
        if t is not None and t.owner.kind == "remote" and t.muted != muted:
            t.muted = muted
            self._broadcast("trackUpdated", {"track": t.describe()})
            self._sync_all()

    # ---- subscribing (server offer, client answer) ----

    def subscribe(self, p: Participant) -> str:
        """The server's offer with every track of the others; the client answers with :meth:`answer`."""
        self._require_joined(p)
        if p.subscription is None:
            ufrag, pwd = self.media.new_credentials()
            p.subscription = Subscription(ufrag, pwd)
        if p.subscription.transport is None:
            # ICE starts with the offer: a client checks as soon as it has it, before it sends its answer
            p.media = p.media or self._place(p)
            p.subscription.transport = p.media.prepare_transport(p.subscription.ufrag, p.subscription.pwd)
            p.subscription.dtls_set = False
            self._watch(p, p.subscription.transport)
        offer = self._make_offer(p)
        if offer is None:
            raise RuleError("nothing_to_subscribe", "no tracks to subscribe to yet; wait for trackPublished")
        return offer

    def answer(self, p: Participant, answer_sdp: str) -> None:
        sub = p.subscription
        if sub is None or not sub.awaiting_answer:
            raise RuleError("unexpected_answer", "no server offer is waiting for an answer")
        desc = sdp.parse(answer_sdp)
        negotiated = sdp.apply_subscribe_answer(sub.offered, desc)
        assert sub.transport is not None
        if not sub.dtls_set:
            self._engine(p).set_remote_dtls(
                sub.transport.id, desc.setup, desc.fingerprint_algorithm, desc.fingerprint
            )
            sub.dtls_set = True
        sub.awaiting_answer = False
        by_mid = {n.mid: n for n in negotiated}
        for ot in sub.offered:
            tid = sub.track_of_mid.get(ot.mid)
            if not ot.active or tid is None or tid in p.consumers or tid not in self.tracks:
                continue
            n = by_mid.get(ot.mid)
            if n is None or n.rejected or n.direction == "inactive":
                continue
            track = self.tracks[tid]
            c = ot.codecs[0]
            pt_map = {track.codec.payload_type: c.payload_type}
            rtx_of = {c.payload_type: c.rtx_payload_type} if c.rtx_payload_type is not None else {}
            p.consumers[tid] = self._engine(p).create_consumer(
                sub.transport.id,
                self._producer_on(track, self._engine(p)),
                ot.ssrc,
                ot.rtx_ssrc or 0,
                pt_map,
                rtx_of,
                n.extensions or ot.extensions,
                ot.mid,
            )
            self._budget(p, sub.transport.id, track)
        self._sync(p)
        if sub.dirty:
            self._send_offer(p)

    def _make_offer(self, p: Participant) -> str | None:
        sub = p.subscription
        assert sub is not None
        wanted = [t for t in self.tracks.values() if t.owner is not p]
        wanted_ids = {t.id for t in wanted}
        for ot in sub.offered:  # retire m-lines whose track went away (mids are never reused)
            tid = sub.track_of_mid.get(ot.mid)
            if ot.active and tid not in wanted_ids:
                ot.active = False
                cid = p.consumers.pop(tid, None) if tid else None
                if cid is not None:
                    self._engine(p).close_consumer(cid)
        have = {sub.track_of_mid[ot.mid] for ot in sub.offered if ot.active}
        for t in wanted:
            if t.id in have:
                continue
            mid = str(sub.next_mid)
            sub.next_mid += 1
            name = _codec_key(t.codec)
            pt = SERVER_PT.get(name, t.codec.payload_type)
            ssrc = new_ssrc(sub.ssrcs)
            rtx_ssrc = new_ssrc(sub.ssrcs) if t.kind == "video" else None
            codec = sdp.Codec(
                payload_type=pt,
                name=t.codec.name,
                clock_rate=t.codec.clock_rate,
                channels=t.codec.channels,
                fmtp=dict(t.codec.fmtp),
                rtcp_fb=list(VIDEO_FB if t.kind == "video" else AUDIO_FB),
                rtx_payload_type=pt + 1 if t.kind == "video" else None,
            )
            exts = server_extensions(t.kind)
            sub.offered.append(
                sdp.OfferedTrack(
                    mid=mid,
                    kind=t.kind,
                    ssrc=ssrc,
                    rtx_ssrc=rtx_ssrc,
                    cname=t.owner.id,
                    stream_id=t.stream_id,
                    track_id=t.id,
                    codecs=[codec],
                    extensions=exts,
                    active=True,
                )
            )
            sub.track_of_mid[mid] = t.id
        if not any(ot.active for ot in sub.offered):
            return None
        sub.version += 1
        sub.awaiting_answer = True
        sub.dirty = False
        local = self._local(sub.ufrag, sub.pwd, "actpass", self._engine(p))
        return sdp.offer_subscribe(local, sub.offered, sub.version)

    def _send_offer(self, p: Participant) -> None:
        offer = self._make_offer(p)
        if offer is not None:
            p.send("offer", {"sdp": offer})

    def _renegotiate_all(self, exclude: Participant | None = None) -> None:
        for q in self.participants.values():
            if q is exclude or q.subscription is None:
                continue
            if q.subscription.awaiting_answer:
                q.subscription.dirty = True
            else:
                self._send_offer(q)

    # ---- WHEP (client offer, server answer, receive only) ----

    def view(self, p: Participant, offer_sdp: str) -> str:
        self._require_joined(p)
        offer = sdp.parse(offer_sdp)
        ufrag, pwd = self.media.new_credentials()
        engine = p.media = p.media or self._place(p)
        local = self._local(
            ufrag, pwd, "passive" if offer.setup in ("actpass", "active") else "active", engine
        )
        taken: set[int] = set()
        by_kind: dict[str, list[sdp.OfferedTrack]] = {"audio": [], "video": []}
        track_of: dict[int, Track] = {}
        for t in self.tracks.values():
            ssrc = new_ssrc(taken)
            ot = sdp.OfferedTrack(
                mid="",
                kind=t.kind,
                ssrc=ssrc,
                rtx_ssrc=new_ssrc(taken) if t.kind == "video" else None,
                cname=t.owner.id,
                stream_id=t.stream_id,
                track_id=t.id,
                codecs=[t.codec],
                extensions=server_extensions(t.kind),
                active=True,
            )
            by_kind.setdefault(t.kind, []).append(ot)
            track_of[ssrc] = t
        answer, negotiated = sdp.answer_whep(offer, local, by_kind)
        transport = engine.create_transport(
            offer.setup, offer.fingerprint_algorithm, offer.fingerprint, ufrag, pwd
        )
        p.viewer_transport = transport
        for n in negotiated:
            if n.rejected or n.direction == "inactive" or not n.codecs or not n.ssrcs:
                continue
            viewed = track_of.get(n.ssrcs[0])
            if viewed is None:
                continue
            t = viewed
            c = n.codecs[0]
            rtx_ssrc = n.rtx_ssrcs.get(n.ssrcs[0], 0)
            rtx_of = (
                {c.payload_type: c.rtx_payload_type} if c.rtx_payload_type is not None and rtx_ssrc else {}
            )
            p.consumers[t.id] = engine.create_consumer(
                transport.id,
                self._producer_on(t, engine),
                n.ssrcs[0],
                rtx_ssrc,
                {t.codec.payload_type: c.payload_type},
                rtx_of,
                n.extensions,
                n.mid,
            )
            self._budget(p, transport.id, t)
        self._sync(p)
        return answer

    # ---- the host's controls (R-ROOM-2, -3, -8, -13, -14) ----

    def host_action(self, p: Participant, action: str, params: dict[str, Any]) -> dict[str, Any]:
        if p.role != "host":
            raise RuleError("forbidden", "only the host may do that")
        self._require_owner("run the room")
        fn = (
            getattr(self, "_host_" + action, None)
            if isinstance(action, str) and action.isidentifier()
            else None
        )
        if fn is None:
            raise RuleError("bad_request", f"unknown host action {action!r}")
        result = fn(p, params) or {}
        if inspect.isawaitable(result):  # recording: the room's state is broadcast when it changes
            return result  # type: ignore[return-value]
        self._broadcast("roomUpdated", {"room": self.settings.public()})
        return result

    def _target(self, params: dict[str, Any], seated: bool = True) -> Participant:
        pid = params.get("participant")
        q = self.participants.get(pid) if isinstance(pid, str) else None
        if q is None or (seated and q.status != "joined"):
            raise RuleError("not_found", "no such participant in this room" + (" (seated)" if q else ""))
        return q

    def _host_start(self, p: Participant, params: dict[str, Any]) -> Awaitable[dict[str, Any]] | None:
        if self.settings.event:  # an event's room starts the event: its rules, session and history
            if self.control is None:
                raise RuleError(
                    "unavailable",
                    "an event's room is started through its event (POST "
                    "/api/v1/events/{id}/start); this server has no control plane",
                )
            return self.control.start(self, p)
        self.start(announce=False)  # host_action tells everyone
        return None

    def start(self, announce: bool = True) -> None:
        """The session begins: people in the lobby come in while seats are free (R-ROOM-8)."""
        if self.settings.state == "ended":
            raise RuleError("ended", "this session has ended")
        was = self.settings.state
        self.settings.state = "live"
        if was != "live" and announce:  # the host's page (and everyone seated) sees the room go live
            self._broadcast("roomUpdated", {"room": self.settings.public()})
        self.admit_waiting()

    def apply_caps(self, caps: PlanCaps) -> None:
        """The limits of the event's account's plan (R-ACC-1, R-MEDIA-5), set whenever the control plane opens
        or starts the room. A capacity the host had not changed follows the plan (an upgrade lets waiting
        people in, R-ROOM-8); one above the plan is brought down to it."""
        st = self.settings
        before = st.public()
        if st.caps is not None and st.capacity == st.caps.capacity:
            st.capacity = caps.capacity
        st.capacity = min(st.capacity, caps.capacity)
        st.caps = caps
        st.camera_limit = caps.cameras
        if st.public() != before:
            self._broadcast("roomUpdated", {"room": st.public()})
        self.admit_waiting()

    def _host_setAudioMode(self, p: Participant, params: dict[str, Any]) -> None:
        raw = params.get("mode")
        mode = raw if isinstance(raw, str) else ""  # anything but a string fails the check as ""
        rules.check_audio_mode(self.settings, mode, self.seated())
        if mode == self.settings.audio_mode:
            return
        self.settings.audio_mode = mode
        # R-ROOM-2: a switch turns off the other presenters' microphones; they turn them on again.
        for q in list(self.participants.values()):
            # the other presenters (not hosts, not encoders that could never unmute) lose their microphones
            if q is not p and q.status == "joined" and q.role != "host" and q.kind == "ws":
                self.mute(q, "audio", True, by="audioMode")
                if not q.can_publish and q.tracks:
                    self.unpublish(q)
                    q.send("floorRevoked", {"reason": "audioMode"})
        self._sync_all()
        self.admit_waiting()  # leaving discussion mode may free seats beyond 25
        for q in list(self.participants.values()):
            if q.status == "joined":
                self._tell_about(q, "participantUpdated", {"participant": q.describe()})
                q.send("participantUpdated", {"participant": q.describe()})

    def _remote_target(self, params: dict[str, Any]) -> Member | None:
        """Issue 19, on the owner: the person a host action names, when they are seated on an edge."""
        pid = params.get("participant")
        if not isinstance(pid, str) or pid in self.participants or self._remote_status.get(pid) != "joined":
            return None
        return self.remote_members[pid]

    def _act_on_remote(self, m: Member, action: str, reason: str) -> None:
        if self.act_remote is None:
            raise RuleError("cluster_unavailable", "the node of this participant cannot be reached now")
        self.act_remote(m, action, reason)

    def _host_grantFloor(self, p: Participant, params: dict[str, Any]) -> None:
        if (m := self._remote_target(params)) is not None:
            # issue 19: an attendee of an edge speaks here, where the media is published: they are moved here
            # and have the floor when they come (R-ROOM-3)
            if m.role != "attendee":
                raise RuleError("bad_request", "only an attendee can be given the floor")
            self.granted_floor.add(m.person_key)
            self.interaction.hands.floor_granted(m)
            self._act_on_remote(m, "move", "floorGranted")
            return
        q = self._target(params)
        if q.role != "attendee":
            raise RuleError("bad_request", "only an attendee can be given the floor")
        q.floor = True
        self._shown_update(q)
        self.interaction.hands.floor_granted(q)  # the raised hand is answered
        self._sync(q)
        q.send("floorGranted", {"by": p.id})
        self._tell_about(q, "participantUpdated", {"participant": q.describe()})

    def _host_revokeFloor(self, p: Participant, params: dict[str, Any]) -> None:
        q = self._target(params)
        if not q.floor:
            raise RuleError("bad_request", "this participant does not have the floor")
        q.floor = False
        self.granted_floor.discard(q.person_key)
        self._shown_update(q)
        if q.tracks and not q.can_publish:
            self.unpublish(q)
        self._sync(q)
        q.send("floorRevoked", {"by": p.id})
        self._tell_about(q, "participantUpdated", {"participant": q.describe()})

    def _host_setRole(self, p: Participant, params: dict[str, Any]) -> None:
        """Issue 17 (R-INT-5): the host makes an attendee a presenter in the room (presenting, the whiteboard,
        the staff's view), or a presenter an attendee again. A phone or tablet attendee cannot be made a
        presenter (``mobile_presenter``); the plan's presenter seats count. Those who now see them, or no
        longer do (a webinar's attendees), are told; the person gets ``roleChanged`` with the room and its
        interaction as their new role sees them. A host action: rare, so one pass over the room is fine."""
        role = params.get("role")
        if role not in ("presenter", "attendee"):
            raise RuleError("bad_request", "'role' must be 'presenter' or 'attendee'")
        if (m := self._remote_target(params)) is not None:
            self._remote_setRole(m, role)
            return
        q = self._target(params)
        if q.role == "host" or q.kind != "ws":
            raise RuleError("bad_request", "only an attendee or a presenter in the room page changes role")
        if q.role == role:
            return
        self.granted_floor.discard(q.person_key)
        if role == "presenter":
            if q.device == devices.MOBILE:
                raise RuleError(
                    "mobile_presenter",
                    "a participant on a phone or tablet cannot be made a presenter (R-INT-5): they watch, "
                    "chat and may be given the floor",
                )
            rules.check_presenter_seat(
                self.settings, role, sum(1 for x in self._shown.values() if x.role == "presenter")
            )
        seen = {x.id for x in self.participants.values() if x.status == "joined" and self._visible(q, x)}
        if role == "presenter":
            self.interaction.hands.floor_granted(q)  # a raised hand is answered
        q.role, q.floor = role, False
        self.granted_roles[q.person_key] = role
        self._shown_update(q)
        if q.tracks and not q.can_publish:
            self.unpublish(q)
        self._sync(q)
        desc = q.describe()
        for x in list(self.participants.values()):
            if x is q or x.status != "joined":
                continue
            if self._visible(q, x):
                x.send("participantUpdated" if x.id in seen else "participantJoined", {"participant": desc})
            elif x.id in seen:
                x.send("participantLeft", {"participant": q.id})
        q.send(
            "roleChanged",
            {
                "role": role,
                "by": p.id,
                "participant": desc,
                **self.snapshot(q),
                "interaction": self.interaction.snapshot(q),
            },
        )

    def _remote_setRole(self, m: Member, role: str) -> None:
        """Issue 19: an attendee seated on an edge made a presenter presents here, on the owner: their node
        moves them here (the SDK reconnects), where their token comes back as a presenter's. (Everyone on an
        edge is an attendee without the floor, so ``attendee`` changes nothing.)"""
        if role == m.role:
            return
        if getattr(m, "device", devices.DESKTOP) == devices.MOBILE:
            raise RuleError(
                "mobile_presenter",
                "a participant on a phone or tablet cannot be made a presenter (R-INT-5): they watch, "
                "chat and may be given the floor",
            )
        rules.check_presenter_seat(
            self.settings, role, sum(1 for x in self._shown.values() if x.role == "presenter")
        )
        self.interaction.hands.floor_granted(m)
        self.granted_roles[m.person_key] = role
        self._act_on_remote(m, "move", "roleChanged")

    def _host_lock(self, p: Participant, params: dict[str, Any]) -> None:
        self.settings.locked = True

    def _host_unlock(self, p: Participant, params: dict[str, Any]) -> None:
        self.settings.locked = False

    def _host_remove(self, p: Participant, params: dict[str, Any]) -> None:
        pid = params.get("participant")
        if isinstance(pid, str) and pid not in self.participants and pid in self.remote_members:
            m = self.remote_members[pid]  # issue 19: seated on an edge, or waiting there
            self.removed.update(frozenset(getattr(m, "person", ())) | {m.person_key})
            self.remove_remote_member(pid)
            self._act_on_remote(m, "remove", "removed by the host")
            return
        q = self._target(params, seated=False)
        if q is p:
            raise RuleError("bad_request", "use leave to exit the room yourself")
        self.removed.update(q.person)  # the same person comes back neither with this token nor a new one
        self.leave(q, reason="removed by the host")

    def _host_end(self, p: Participant, params: dict[str, Any]) -> Awaitable[dict[str, Any]] | None:
        """R-ROOM-13: "end session" closes the room for everyone (exit, by contrast, is just leave); an
        event's room ends its event's session (history, thank-you e-mails, webhook: R-STAT-2, -3)."""
        if self.settings.event and self.control is not None:
            return self.control.end(self, p)
        self.end(p.id)
        return None

    def give_up(self) -> None:
        """Issue 19: this node stops serving the room without ending its session (its cluster lease was
        lost): its recording and live stream made here stop as at an end."""
        for o in self._outputs():
            o.room_ended(self)

    def end(self, by: str | None = None) -> None:
        for o in self._outputs():
            o.room_ended(self)  # the recording (R-REC-2) and the live stream end with the session
        # what is still open is closed and recorded: an open poll and its results (R-INT-3), the Q&A list as
        # it stands (R-INT-2)
        self.interaction.ended()
        self.settings.state = "ended"
        for q in list(self.participants.values()):
            q.send("ended", {"by": by})
            self.leave(q)

    def _host_startRecording(self, p: Participant, params: dict[str, Any]) -> Awaitable[dict[str, Any]]:
        """R-REC-1: the host records with one button (an event's room; see mediaserver.output.recording)."""
        if self.recordings is None:
            raise RuleError("unavailable", "recording is not available on this server")
        return self.recordings.start(self, by=p.name)

    def _host_stopRecording(self, p: Participant, params: dict[str, Any]) -> Awaitable[dict[str, Any]]:
        if self.recordings is None:
            raise RuleError("unavailable", "recording is not available on this server")
        return self.recordings.stop(self, "host")

    def set_recording(self, on: bool) -> None:
        """R-REC-1: the recording indicator every participant sees (the room's public state)."""
        if self.settings.recording != on:
            self.settings.recording = on
            self._broadcast("roomUpdated", {"room": self.settings.public()})

    def _host_startStream(self, p: Participant, params: dict[str, Any]) -> Awaitable[dict[str, Any]]:
        """R-REC-6: the host streams the room to an RTMP service (its ingest URL and stream key)."""
        if self.streams is None:
            raise RuleError("unavailable", "live streaming is not available on this server")
        return self.streams.start(self, params.get("url"), params.get("key"), by=p.name)

    def _host_stopStream(self, p: Participant, params: dict[str, Any]) -> Awaitable[dict[str, Any]]:
        if self.streams is None:
            raise RuleError("unavailable", "live streaming is not available on this server")
        return self.streams.stop(self, "host")

    def set_streaming(self, on: bool) -> None:
        """R-REC-6: the live indicator every participant sees while the room is streamed."""
        if self.settings.streaming != on:
            self.settings.streaming = on
            self._broadcast("roomUpdated", {"room": self.settings.public()})

    def _host_setCapacity(self, p: Participant, params: dict[str, Any]) -> None:
        cap = rules.check_capacity(self.settings.type, params.get("capacity"), self.settings.caps)
        rules.check_discussion_capacity(self.settings, cap)
        self.settings.capacity = cap
        self.admit_waiting()

    def _host_setLanguage(self, p: Participant, params: dict[str, Any]) -> None:
        if params.get("language") not in rules.LANGUAGES:
            raise RuleError("bad_request", f"'language' must be one of {', '.join(rules.LANGUAGES)}")
        self.settings.language = params["language"]

    # ---- helpers ----

    def _watch(self, p: Participant, transport: TransportInfo) -> None:
        """A participant whose media path is gone (ICE consent expired, DTLS closed) leaves: no ghosts."""

        def on_change(t: TransportInfo) -> None:
            if (
                t.ice_state == "disconnected" or t.dtls_state in ("closed", "failed")
            ) and self.participants.get(p.id) is p:
                self.leave(p, reason="connection lost")

        transport.listeners.append(on_change)

    def _budget(self, p: Participant, transport_id: int, track: Track) -> None:
        """R-MEDIA-3: the consumer's own budget and priority, and the transport's total (the sum of its
        streams' budgets) for the core's allocation."""
        bps, prio = rules.stream_budget(
            self.settings, track.kind, track.source, track.screen_quality, track.owner.role
        )
        self._engine(p).set_consumer_budget(p.consumers[track.id], bps, prio)
        total = sum(
            rules.stream_budget(self.settings, t.kind, t.source, t.screen_quality, t.owner.role)[0]
            for tid, t in self.tracks.items()
            if tid in p.consumers
        )
        self._engine(p).set_transport_budget(transport_id, total)

    # ---- the workers (issue 18) ----

    def _engine(self, p: Participant) -> MediaEngine:
        """The worker of p's subscription (and WHEP viewer)."""
        return p.media or self.media

    def _place(self, p: Participant) -> MediaEngine:
        """Where p's subscription goes (counted there until p leaves): the room's own worker, or, once it
        holds room_worker_share of the room's subscribers (or is busy), the least loaded other one.
        Publishers stay on the room's own."""
        if self.workers is None or len(self.workers) == 1 or p.can_publish:
            engine = self.media
        else:
            counts = [self._subscribers.get(e, 0) for e in self.workers.engines]
            engine = self.workers.for_subscriber(self.media, counts)
        self._subscribers[engine] = self._subscribers.get(engine, 0) + 1
        return engine

    def _producer_on(self, t: Track, engine: MediaEngine) -> int:
        """Track t's producer as seen from ``engine``: its own, or its pipe's there (made once)."""
        if engine is self.media:
            return t.producer_id
        pid = t.pipes.get(engine)
        if pid is None:
            pid = t.pipes[engine] = self.media.pipe_to(t.producer_id, engine)
        return pid

    def _unpipe_from(self, engine: MediaEngine) -> None:
        """Every track's pipe to ``engine``, once the room has no subscriber left there: a worker forwards
        nothing for a room it no longer serves (the next subscriber placed there pipes again)."""
        for t in self.tracks.values():
            pid = t.pipes.pop(engine, None)
            if pid is not None:
                self.media.unpipe(engine, pid)

    def _local(self, ufrag: str, pwd: str, setup: str, engine: MediaEngine | None = None) -> sdp.LocalParams:
        u, pw, fp, cands = (engine or self.media).local_params(ufrag, pwd)
        return sdp.LocalParams(ice_ufrag=u, ice_pwd=pw, fingerprint=fp, setup=setup, candidates=cands)

    def _broadcast(self, method: str, params: dict[str, Any], exclude: Participant | None = None) -> None:
        for q in list(self.participants.values()):
            if q is not exclude and q.status == "joined":
                q.send(method, params)
        if method == "roomUpdated" and self.cascade is not None:
            self.cascade.sync(self)  # issue 19: the room's edges follow its state (started, locked, ...)

    def apply_owner_settings(self, owner: dict[str, Any]) -> None:
        """Issue 19, on an edge: the room's settings as its owner has them (its host acts there): the state
        (started, ended), the lock, the audio mode, the capacity; this node's people are told, and the
        forwarding rules follow."""
        st = self.settings
        if owner.get("state") == "ended" and st.state != "ended":
            self.end("host")
            return
        changed = False
        for attr, key in (
            ("type", "type"),
            ("name", "name"),
            ("language", "language"),
            ("agenda", "agenda"),
            ("message", "message"),
            ("locked", "locked"),
            ("audio_mode", "audioMode"),
            ("capacity", "capacity"),
            ("camera_limit", "cameraLimit"),
            ("recording", "recording"),
            ("streaming", "streaming"),
        ):
            if key in owner and getattr(st, attr) != owner[key]:
                setattr(st, attr, owner[key])
                changed = True
        if owner.get("state") == "live" and st.state != "live":
            self.start()  # tells everyone seated, lets the lobby in
        elif changed:
            self._broadcast("roomUpdated", {"room": st.public()})
        if changed:
            self._sync_all()


class RoomManager:
    """Rooms by their 9-digit ID; ad-hoc rooms (named by a token) come and go with their participants.

    Issue 14 finding 7: rooms cost memory whoever made them, so instant and ad-hoc rooms are capped per node
    (``max_rooms``), one client's anonymous creations are rate-limited (``creation_rate`` a minute), and a
    room with nobody in it is freed after ``idle_timeout`` seconds (an event's room only while its event is
    not live: the event governs it)."""

    def __init__(
        self,
        media: MediaWorkers,
        recordings: Recordings | None = None,
        streams: Streams | None = None,
        control: EventControl | None = None,
        idle_timeout: float = 600.0,
        max_rooms: int = 1000,
        creation_rate: int = 10,
    ) -> None:
        self.media = media  # the media workers: a new room goes to the least loaded (issue 18)
        self.recordings = recordings
        self.streams = streams
        self.control = control  # the event life cycle behind event rooms' start and end
        self.journal: Journal | None = None  # where the rooms' interaction records go (issue 16)
        self.polls: PollSource | None = None  # where event rooms read their polls (R-INT-3)
        self.files: FileSource | None = None  # what event rooms may show of their files (issue 17)
        self.videos: VideoSource | None = None  # the shared player's videos and YouTube (issue 17)
        self.board_limits: tuple[int, float] | None = None  # the board's max bytes, save period (issue 17)
        self.rooms: dict[str, Room] = {}
        self.cluster: Placement | None = None  # issue 19: owner or edge of each room, in a cluster
        self.idle_timeout = idle_timeout
        self.max_rooms = max_rooms
        self.creation_rate = creation_rate
        self._created: dict[str, deque[float]] = {}  # client -> when it created rooms in the last minute

    def create(
        self,
        type_: str = "webinar",
        name: str = "",
        capacity: int | None = None,
        language: str = "en",
        agenda: str = "",
        message: str = "",
        start: str = "instant",
        audio_mode: str | None = None,
        camera_limit: int | None = None,
        room_id: str | None = None,
        event: bool | None = None,
    ) -> Room:
        """A new room; room_id is an event's own 9-digit ID (an ended room of the same ID is replaced: the
        next session of a permanent event), or an ID chosen for an instant room (``event=False``)."""
        event = room_id is not None if event is None else event
        cap = rules.check_new_room(type_, capacity, language, name, agenda, message, start, audio_mode)
        cams = (
            rules.CAMERAS_DEFAULT if camera_limit is None else rules.check_camera_limit(type_, camera_limit)
        )
        if not event:
            self._check_room_count()
        settings = RoomSettings(
            id=room_id or rules.new_room_id(self.rooms),
            name=name,
            type=type_,
            capacity=cap,
            language=language,
            agenda=agenda,
            message=message,
            state="live" if start == "instant" else "lobby",
            audio_mode=audio_mode or rules.default_audio_mode(type_),
            camera_limit=cams,
            event=event,
        )
        room = self.rooms[settings.id] = Room(
            settings,
            self._worker(),
            on_empty=self._drop,
            recordings=self.recordings,
            streams=self.streams,
            control=self.control if settings.event else None,
            record=self.journal.for_room(settings.id) if self.journal is not None else None,
            polls=self._poll_loader(settings.id) if settings.event else None,
            poll_list=self._poll_lister(settings.id) if settings.event else None,
            files=self._file_finder(settings.id) if settings.event else None,
            videos=self.videos,
            workers=self.media,
        )
        self._board(room)
        log.info("room %s created (%s, capacity %d)", settings.id, type_, cap)
        return room

    def _worker(self) -> MediaEngine:
        """The worker a new room runs on, all of it (issue 18): the least loaded one."""
        engines = self.media.engines
        if len(engines) == 1:
            return engines[0]
        placed = [0] * len(engines)
        for r in self.rooms.values():
            placed[engines.index(r.media)] += 1
        return engines[self.media.pick(placed)]

    def _board(self, room: Room) -> None:
        if self.board_limits is not None:
            room.interaction.board.max_bytes, room.interaction.board.save_seconds = self.board_limits

    def _poll_loader(self, room_id: str) -> Loader | None:
        source = self.polls
        if source is None:
            return None
        return lambda poll_id: source.launch(room_id, poll_id)

    def _poll_lister(self, room_id: str) -> Lister | None:
        source = self.polls
        if source is None:
            return None
        return lambda: source.saved(room_id)

    def _file_finder(self, room_id: str) -> Finder | None:
        source = self.files
        if source is None:
            return None
        return lambda file_id: source.room_file(room_id, file_id)

    def find(self, room_id: str) -> Room | None:
        return self.rooms.get(room_id)

    def get(self, name: str) -> Room:
        """The room a token names: a created room, or an ad-hoc one made now (counted in ``max_rooms``)."""
        room = self.rooms.get(name)
        if room is None:
            self._check_room_count()
            settings = RoomSettings(id=name, name=name, capacity=rules.WEBINAR_MAX, adhoc=True)
            room = self.rooms[name] = Room(
                settings,
                self._worker(),
                on_empty=self._drop,
                recordings=self.recordings,
                streams=self.streams,
                record=self.journal.for_room(name) if self.journal is not None else None,
                videos=self.videos,
                workers=self.media,
            )
            self._board(room)
        return room

    async def enter(self, grant: Grant) -> Room:
        """The room a join token opens (:meth:`_open`), placed in the cluster: this node owns it, or serves
        it as an edge of its owner (issue 19)."""
        room = await self._open(grant)
        if self.cluster is not None:
            try:
                await self.cluster.place(room)
            except RuleError:  # this node takes no one (drained)
                self._drop(room)
                raise
            except Exception as e:
                log.warning("room %s: no place in the cluster: %s", room.name, e)
                self._drop(room)
                raise RuleError(
                    "cluster_unavailable", "the cluster cannot place this room now; try again"
                ) from e
        return room

    async def instant_elsewhere(self, room_id: str, op: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Issue 19: an instant room another node of the cluster made answers ``op`` there (its information,
        or a join token); None on a server alone or when no node has the room."""
        return await self.cluster.instant(room_id, op, body) if self.cluster is not None else None

    async def placed_elsewhere(self) -> str | None:
        """Issue 19: the address of the node a new attendee goes to instead of this one, which is full
        (mediaserver.cluster.placement); None: here (always, on a server alone)."""
        return await self.cluster.placed_elsewhere() if self.cluster is not None else None

    async def claim(self, room: Room) -> None:
        """A room made here (an instant room) is placed in the cluster at once (issue 19): this node owns it,
        and the others can serve it from its first join on, wherever that lands."""
        if self.cluster is not None:
            try:
                await self.cluster.place(room)
            except Exception as e:  # its first join here places it then
                log.warning("room %s: not placed in the cluster yet: %s", room.name, e)

    async def at_owner(
        self, room_id: str, action: str, by: str | None = None, auto_record: bool = False
    ) -> bool:
        """Issue 19: ``action`` (start, end) done by the node of the cluster that holds the room, when that is
        another node; False when this node is to do it (it holds the room, or no node does)."""
        if self.cluster is None:
            return False
        return await self.cluster.control(room_id, action, by, auto_record)

    async def elsewhere(self, room_id: str) -> bool:
        """Whether another node of the cluster holds the room (issue 19): then its absence here says nothing
        about its end. Always False on a server alone."""
        return await self.cluster.held_elsewhere(room_id) if self.cluster is not None else False

    async def joined(self, room: Room, p: Participant) -> dict[str, Any]:
        """``p`` joined ``room`` on this node (:meth:`Placement.joined`); {} on a server alone."""
        return await self.cluster.joined(room, p) if self.cluster is not None else {}

    async def _open(self, grant: Grant) -> Room:
        """The room a join token opens. A token the server issued for an existing room (an instant room's or
        an event's join) never makes an ad-hoc room: an event's room is opened by its event, a gone instant
        room is gone (410). A token of the API (``POST /api/v1/tokens``) makes an ad-hoc room, but never one
        with an event's room ID (409): an event must not adopt a room someone else made (issue 14 finding
        17)."""
        room = self.rooms.get(grant.room)
        if room is not None:
            return room
        if self.control is not None and len(grant.room) == 9 and grant.room.isdigit():
            if grant.adhoc:
                if await self.control.owns(grant.room):
                    raise RuleError(
                        "event_room",
                        f"room ID {grant.room} belongs to an event: its room is opened by the event "
                        "(POST /api/v1/rooms/{roomId}/join), not by a token of the API",
                    )
            else:
                reopened = await self.control.reopen(grant.room)
                if reopened is not None:
                    return reopened
        room = self.rooms.get(grant.room)  # made while we asked
        if room is not None:
            return room
        if not grant.adhoc and self.cluster is not None:
            # issue 19: an instant room lives on the node that made it; another node serves it as an edge
            owner = await self.cluster.settings_of(grant.room)
            room = self.rooms.get(grant.room)
            if room is None and owner is not None:
                room = self.get(grant.room)  # this node's copy: gone when nobody is in it here
                room.apply_owner_settings(owner)
            if room is not None:
                return room
        if not grant.adhoc:
            raise RuleError(
                "ended", "this room has ended, or was closed after standing empty; create or join one again"
            )
        return self.get(grant.room)

    def release(self, room: Room) -> None:
        """A join into ``room`` failed: an ad-hoc room made for it and still empty goes at once."""
        self._drop(room)

    def check_creation(self, client: str) -> None:
        """Issue 14 finding 7: ``client`` (an IP address) may create ``creation_rate`` rooms a minute without
        the API key; RuleError ``rate_limited`` beyond. :meth:`created` counts a room it made."""
        if self.creation_rate <= 0:
            return
        q = self._window(client)
        if len(q) >= self.creation_rate:
            wait = int(60 - (time.monotonic() - q[0])) + 1
            raise RuleError(
                "rate_limited",
                f"at most {self.creation_rate} rooms a minute from one address; try again in {wait} s "
                "(or use the API key)",
            )

    def created(self, client: str) -> None:
        if self.creation_rate > 0:
            self._window(client).append(time.monotonic())

    def _window(self, client: str) -> deque[float]:
        """When ``client`` created rooms in the last minute (an IPv6 client by its /64: one host has them
        all)."""
        try:
            ip = ipaddress.ip_address(client)
            if ip.version == 6 and ip.ipv4_mapped is None:
                client = str(ipaddress.ip_network(f"{ip}/64", strict=False))
        except ValueError:
            pass
        now = time.monotonic()
        if len(self._created) > 10_000:  # forget the clients with nothing in the window
            self._created = {c: q for c, q in self._created.items() if q and now - q[-1] < 60}
        q = self._created.setdefault(client, deque())
        while q and now - q[0] >= 60:
            q.popleft()
        return q

    def _check_room_count(self) -> None:
        if sum(1 for r in self.rooms.values() if not r.settings.event) >= self.max_rooms:
            raise RuleError(
                "too_many_rooms",
                f"this server holds its maximum of {self.max_rooms} rooms; try again later",
            )

    def discard(self, room: Room) -> None:
        """Forget ``room`` here without ending it (issue 19: its cluster lease was lost, and another node may
        hold it now): the next join opens it afresh and places it in the cluster again."""
        if self.rooms.get(room.name) is room and not room.participants:
            del self.rooms[room.name]

    def _drop(self, room: Room) -> None:
        if (
            self.rooms.get(room.name) is room
            and not room.participants
            and not room.remote_members
            and room.settings.adhoc
            and room.settings.state != "ended"
        ):
            del self.rooms[room.name]
            if self.cluster is not None:
                self.cluster.forget(room)

    def sweep(self, now: float | None = None) -> list[str]:
        """Free the rooms nobody has been in for ``idle_timeout`` seconds (issue 14 finding 7): instant and
        ad-hoc rooms (their outputs stop as at an end), and an event's room whose event is not live (its
        lobby, or an ended session: the event opens it again). A live event's room stays: its event governs
        it. Returns the freed IDs."""
        now = time.monotonic() if now is None else now
        freed = []
        for rid, room in list(self.rooms.items()):
            idle = room.empty_since
            if room.participants or room.remote_members or idle is None or now - idle < self.idle_timeout:
                continue
            if room.settings.event and room.settings.state == "live":
                continue
            if not room.settings.event and room.settings.state != "ended":
                room.end("expired")  # a recording or a live stream of it ends as at the host's end
            if self.rooms.get(rid) is room:
                del self.rooms[rid]
                if self.cluster is not None:
                    self.cluster.forget(room)
            freed.append(rid)
        if freed:
            log.info("freed %d room(s) that stood empty for %.0f s: %s", len(freed), self.idle_timeout, freed)
        return freed

    async def run_sweeper(self) -> None:
        """:meth:`sweep` every ``min(idle_timeout / 4, 30)`` seconds, for the application's life."""
        while True:
            await asyncio.sleep(min(self.idle_timeout / 4, 30.0))
            try:
                self.sweep()
            except Exception:
                log.exception("sweeping empty rooms failed")
