"""Rooms, participants and their tracks: who publishes what and who receives it.

Each participant has at most one publishing peer connection (client offers) and one subscribing peer
connection (server offers, renegotiated as tracks come and go). WHIP and WHEP sessions are
participants too. The room drives the media engine through :mod:`mediaserver.media` only.
"""
from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import sdp
from .media import MediaEngine, TransportInfo, new_ssrc
from .tokens import Grant

log = logging.getLogger("mediaserver.rooms")

#: The server's own payload-type space for the offers it makes to subscribers.
SERVER_PT = {"opus": 111, "vp8": 96, "vp9": 98, "h264": 102, "av1": 45}
#: Header extensions the server offers to subscribers.
SERVER_EXT = {
    "urn:ietf:params:rtp-hdrext:sdes:mid": 1,
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time": 2,
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level": 3,
}
VIDEO_FB = ["nack", "nack pli", "ccm fir"]


class RoomError(Exception):
    """A request the room refuses; code is a short machine-readable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Track:
    id: str
    owner: Participant
    kind: str
    producer_id: int
    codec: sdp.Codec
    stream_id: str
    mid: str

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "participant": self.owner.id, "codec": self.codec.name,
                "streamId": self.stream_id}


@dataclass
class Subscription:
    """The server-offered peer connection of one participant."""

    ufrag: str
    pwd: str
    transport: TransportInfo | None = None
    offered: list[sdp.OfferedTrack] = field(default_factory=list)
    track_of_mid: dict[str, str] = field(default_factory=dict)
    consumers: dict[str, int] = field(default_factory=dict)   # track id -> consumer id
    ssrcs: set[int] = field(default_factory=set)
    version: int = 0
    awaiting_answer: bool = False
    dirty: bool = False
    next_mid: int = 0


@dataclass
class Participant:
    id: str
    name: str
    role: str
    identity: str
    room: Room
    notify: Callable[[str, dict[str, Any]], Any] | None = None
    publish_transport: TransportInfo | None = None
    tracks: dict[str, Track] = field(default_factory=dict)
    subscription: Subscription | None = None
    viewer_transport: TransportInfo | None = None   # WHEP
    viewer_consumers: list[int] = field(default_factory=list)
    kind: str = "ws"

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "role": self.role}

    def send(self, method: str, params: dict[str, Any]) -> None:
        if self.notify is not None:
            self.notify(method, params)


def _codec_key(c: sdp.Codec) -> str:
    return c.name.lower()


class Room:
    """One meeting or webinar room on one media worker."""

    def __init__(self, name: str, media: MediaEngine, on_empty: Callable[[Room], Any] | None = None) -> None:
        self.name = name
        self.media = media
        self.participants: dict[str, Participant] = {}
        self.tracks: dict[str, Track] = {}
        self._on_empty = on_empty

    # ---- membership ----

    def join(self, grant: Grant, notify: Callable[[str, dict[str, Any]], Any] | None = None,
             kind: str = "ws") -> Participant:
        p = Participant(secrets.token_hex(6), grant.name, grant.role, grant.identity, self, notify, kind=kind)
        self._broadcast("participantJoined", {"participant": p.describe()}, exclude=p)
        self.participants[p.id] = p
        log.info("room %s: %s joined as %s (%s)", self.name, p.name, p.role, kind)
        return p

    def leave(self, p: Participant) -> None:
        if self.participants.pop(p.id, None) is None:
            return
        for t in list(p.tracks.values()):
            self._remove_track(t)
        if p.subscription and p.subscription.transport:
            self.media.close_transport(p.subscription.transport.id)
        if p.publish_transport:
            self.media.close_transport(p.publish_transport.id)
        if p.viewer_transport:
            self.media.close_transport(p.viewer_transport.id)
        self._broadcast("participantLeft", {"participant": p.id})
        log.info("room %s: %s left", self.name, p.name)
        if not self.participants and self._on_empty:
            self._on_empty(self)

    def snapshot(self) -> dict[str, Any]:
        return {"room": self.name, "participants": [q.describe() for q in self.participants.values()],
                "tracks": [t.describe() for t in self.tracks.values()]}

    # ---- publishing (client offer, server answer) ----

    def publish(self, p: Participant, offer_sdp: str) -> tuple[str, list[Track]]:
        """Accept a publisher's offer: returns the answer SDP and the new tracks."""
        if p.role not in ("host", "presenter"):
            raise RoomError("forbidden", f"role {p.role!r} may not publish in this room")
        if p.publish_transport is not None:
            raise RoomError("conflict", "this participant already publishes; unpublish or leave first")
        offer = sdp.parse(offer_sdp)
        ufrag, pwd = self.media.new_credentials()
        local = self._local(ufrag, pwd, "passive" if offer.setup in ("actpass", "active") else "active")
        answer, negotiated = sdp.answer_publish(offer, local)
        transport = self.media.create_transport(offer.setup, offer.fingerprint_algorithm, offer.fingerprint,
                                                ufrag, pwd)
        new: list[Track] = []
        stream = next((m.msid.split()[0] for m in offer.media if m.msid), p.id)
        try:
            for n in negotiated:
                if n.rejected or not n.codecs:
                    continue
                main = n.codecs[0]
                codecs = {c.payload_type: c.name for c in n.codecs}
                rtx = {c.rtx_payload_type: c.payload_type for c in n.codecs if c.rtx_payload_type is not None}
                ssrc = n.ssrcs[0] if n.ssrcs else 0
                rtx_ssrc = n.rtx_ssrcs.get(ssrc, 0) if ssrc else 0
                pid = self.media.create_producer(transport.id, n.kind, ssrc, rtx_ssrc, codecs, rtx,
                                                 main.clock_rate, n.extensions, n.mid,
                                                 nack=any("nack" == f for f in main.rtcp_fb))
                new.append(Track(secrets.token_hex(6), p, n.kind, pid, main, stream, n.mid))
        except Exception:
            self.media.close_transport(transport.id)     # closes the producers made so far
            raise
        p.publish_transport = transport
        for t in new:
            p.tracks[t.id] = t
            self.tracks[t.id] = t
        for t in new:
            self._broadcast("trackPublished", {"track": t.describe()}, exclude=p)
        self._renegotiate_all(exclude=p)
        return answer, new

    def unpublish(self, p: Participant, track_id: str | None = None) -> None:
        if track_id is not None and track_id not in p.tracks:
            raise RoomError("not_found", f"no track {track_id} published by this participant")
        tracks = [p.tracks[track_id]] if track_id is not None else list(p.tracks.values())
        for t in tracks:
            self._remove_track(t)
        if not p.tracks and p.publish_transport:
            self.media.close_transport(p.publish_transport.id)
            p.publish_transport = None
        self._renegotiate_all(exclude=p)

    def _remove_track(self, t: Track) -> None:
        t.owner.tracks.pop(t.id, None)
        if self.tracks.pop(t.id, None) is None:
            return
        for q in self.participants.values():
            sub = q.subscription
            if sub and t.id in sub.consumers:
                sub.consumers.pop(t.id)
        self.media.close_producer(t.producer_id)   # closes its consumers too
        self._broadcast("trackUnpublished", {"track": t.id}, exclude=t.owner)

    # ---- subscribing (server offer, client answer) ----

    def subscribe(self, p: Participant) -> str:
        """The server's offer with every track of the others; the client answers with :meth:`answer`."""
        if p.subscription is None:
            ufrag, pwd = self.media.new_credentials()
            p.subscription = Subscription(ufrag, pwd)
        offer = self._make_offer(p)
        if offer is None:
            raise RoomError("nothing_to_subscribe", "no tracks to subscribe to yet; wait for trackPublished")
        return offer

    def answer(self, p: Participant, answer_sdp: str) -> None:
        sub = p.subscription
        if sub is None or not sub.awaiting_answer:
            raise RoomError("unexpected_answer", "no server offer is waiting for an answer")
        desc = sdp.parse(answer_sdp)
        negotiated = sdp.apply_subscribe_answer(sub.offered, desc)
        if sub.transport is None:
            sub.transport = self.media.create_transport(desc.setup, desc.fingerprint_algorithm, desc.fingerprint,
                                                        sub.ufrag, sub.pwd)
        sub.awaiting_answer = False
        by_mid = {n.mid: n for n in negotiated}
        for ot in sub.offered:
            tid = sub.track_of_mid.get(ot.mid)
            if not ot.active or tid is None or tid in sub.consumers or tid not in self.tracks:
                continue
            n = by_mid.get(ot.mid)
            if n is None or n.rejected or n.direction == "inactive":
                continue
            track = self.tracks[tid]
            c = ot.codecs[0]
            pt_map = {track.codec.payload_type: c.payload_type}
            rtx_of = {c.payload_type: c.rtx_payload_type} if c.rtx_payload_type is not None else {}
            sub.consumers[tid] = self.media.create_consumer(
                sub.transport.id, track.producer_id, ot.ssrc, ot.rtx_ssrc or 0, pt_map, rtx_of,
                n.extensions or ot.extensions, ot.mid)
        if sub.dirty:
            self._send_offer(p)

    def _make_offer(self, p: Participant) -> str | None:
        sub = p.subscription
        assert sub is not None
        wanted = [t for t in self.tracks.values() if t.owner is not p]
        wanted_ids = {t.id for t in wanted}
        for ot in sub.offered:    # retire m-lines whose track went away (mids are never reused)
            tid = sub.track_of_mid.get(ot.mid)
            if ot.active and tid not in wanted_ids:
                ot.active = False
                cid = sub.consumers.pop(tid, None) if tid else None
                if cid is not None:
                    self.media.close_consumer(cid)
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
            codec = sdp.Codec(payload_type=pt, name=t.codec.name, clock_rate=t.codec.clock_rate,
                              channels=t.codec.channels, fmtp=dict(t.codec.fmtp),
                              rtcp_fb=list(VIDEO_FB) if t.kind == "video" else [],
                              rtx_payload_type=pt + 1 if t.kind == "video" else None)
            exts = {u: i for u, i in SERVER_EXT.items() if t.kind == "audio" or "audio-level" not in u}
            sub.offered.append(sdp.OfferedTrack(mid=mid, kind=t.kind, ssrc=ssrc, rtx_ssrc=rtx_ssrc,
                                                cname=t.owner.id, stream_id=t.stream_id, track_id=t.id,
                                                codecs=[codec], extensions=exts, active=True))
            sub.track_of_mid[mid] = t.id
        if not any(ot.active for ot in sub.offered):
            return None
        sub.version += 1
        sub.awaiting_answer = True
        sub.dirty = False
        local = self._local(sub.ufrag, sub.pwd, "actpass")
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
        offer = sdp.parse(offer_sdp)
        ufrag, pwd = self.media.new_credentials()
        local = self._local(ufrag, pwd, "passive" if offer.setup in ("actpass", "active") else "active")
        taken: set[int] = set()
        by_kind: dict[str, list[sdp.OfferedTrack]] = {"audio": [], "video": []}
        track_of: dict[int, Track] = {}
        for t in self.tracks.values():
            ssrc = new_ssrc(taken)
            ot = sdp.OfferedTrack(mid="", kind=t.kind, ssrc=ssrc, rtx_ssrc=new_ssrc(taken) if t.kind == "video" else None,
                                  cname=t.owner.id, stream_id=t.stream_id, track_id=t.id, codecs=[t.codec],
                                  extensions={}, active=True)
            by_kind.setdefault(t.kind, []).append(ot)
            track_of[ssrc] = t
        answer, negotiated = sdp.answer_whep(offer, local, by_kind)
        transport = self.media.create_transport(offer.setup, offer.fingerprint_algorithm, offer.fingerprint,
                                                ufrag, pwd)
        p.viewer_transport = transport
        for n in negotiated:
            if n.rejected or n.direction == "inactive" or not n.codecs or not n.ssrcs:
                continue
            t = track_of.get(n.ssrcs[0])
            if t is None:
                continue
            c = n.codecs[0]
            rtx_ssrc = n.rtx_ssrcs.get(n.ssrcs[0], 0)
            rtx_of = {c.payload_type: c.rtx_payload_type} if c.rtx_payload_type is not None and rtx_ssrc else {}
            p.viewer_consumers.append(self.media.create_consumer(
                transport.id, t.producer_id, n.ssrcs[0], rtx_ssrc, {t.codec.payload_type: c.payload_type},
                rtx_of, n.extensions, n.mid))
        return answer

    # ---- helpers ----

    def _local(self, ufrag: str, pwd: str, setup: str) -> sdp.LocalParams:
        u, pw, fp, cands = self.media.local_params(ufrag, pwd)
        return sdp.LocalParams(ice_ufrag=u, ice_pwd=pw, fingerprint=fp, setup=setup, candidates=cands)

    def _broadcast(self, method: str, params: dict[str, Any], exclude: Participant | None = None) -> None:
        for q in self.participants.values():
            if q is not exclude:
                q.send(method, params)


class RoomManager:
    """Creates rooms on demand and forgets them when the last participant leaves."""

    def __init__(self, media: MediaEngine) -> None:
        self.media = media
        self.rooms: dict[str, Room] = {}

    def get(self, name: str) -> Room:
        room = self.rooms.get(name)
        if room is None:
            room = self.rooms[name] = Room(name, self.media, on_empty=self._drop)
        return room

    def _drop(self, room: Room) -> None:
        if self.rooms.get(room.name) is room and not room.participants:
            del self.rooms[room.name]
