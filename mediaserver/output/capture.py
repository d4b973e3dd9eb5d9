"""A room's tracks captured off the network through one recorder transport of the native core: what a
recording (mediaserver.output.recording, R-REC-1) and a live stream (mediaserver.output.streaming, R-REC-6)
both take in.

The recorder transport gets a consumer for every audio and video track of the room, like a subscriber that
never goes on the network; its packets (rewritten to the consumer's SSRC, unencrypted) gather in a buffer in
the core that :meth:`RoomCapture.drain` empties (records of ``u32 length, u64 worker time in µs, RTP packet``,
see mediaserver.output.recfile). A paused capture (presenters-only mode, R-REC-3) and a muted track have their
consumers paused in the core; key frames are asked for when video resumes or a source joins or leaves, so a
stage can switch at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mediaserver.output import recfile
from mediaserver.rtc.engine import MediaEngine, new_ssrc

if TYPE_CHECKING:
    from mediaserver.rtc.rooms import Track

log = logging.getLogger("mediaserver.output.capture")


@dataclass
class Captured:
    cid: int
    track: Track
    meta: recfile.TrackMeta
    paused: bool = False


class RoomCapture:
    """One recorder transport and its consumers (one per track of the room)."""

    def __init__(self, media: MediaEngine, buffer_bytes: int, video_budget: int, name: str) -> None:
        self.media = media
        self.buffer_bytes = buffer_bytes
        self.video_budget = video_budget  # no bandwidth estimate on a recorder: the top layer up to this
        self.name = name  # for the log
        self.tid = media.create_recorder(buffer_bytes)
        self.consumers: dict[str, Captured] = {}
        self.metas: list[recfile.TrackMeta] = []
        self.ssrcs: set[int] = set()
        self.paused = False
        self.dropped = 0

    def add(self, t: Track) -> recfile.TrackMeta | None:
        """Capture a track (once); its description, or None if it was captured already."""
        if t.id in self.consumers:
            return None
        pt = t.codec.payload_type
        ssrc = new_ssrc(self.ssrcs)
        cid = self.media.create_consumer(
            self.tid, t.producer_id, ssrc, 0, {pt: pt}, {}, {}, f"r{len(self.metas)}"
        )
        if t.kind == "video":
            self.media.set_consumer_budget(cid, self.video_budget, 1)
        meta = recfile.TrackMeta(
            ssrc=ssrc,
            kind=t.kind,
            codec=t.codec.name.lower(),
            clock_rate=t.codec.clock_rate,
            source=t.source,
            role=t.owner.role,
            owner=t.owner.name,
            order=len(self.metas),
        )
        self.metas.append(meta)
        c = self.consumers[t.id] = Captured(cid, t, meta)
        self.apply(c, resume_key=False)
        if t.kind == "video" and not c.paused:
            self.media.request_keyframe(t.producer_id)
        return meta

    def remove(self, t: Track) -> None:
        """The track's producer is closed (the core closed its consumer too): forget it; a stage may go back
        to another video source, which switches at its next key frame."""
        if self.consumers.pop(t.id, None) is not None and t.kind == "video":
            for c in self.consumers.values():
                if c.track.kind == "video" and not c.paused:
                    self.media.request_keyframe(c.track.producer_id)

    def apply_all(self, resume_key: bool = True) -> None:
        """Pause or resume every consumer after the capture's pause or a track's mute changed."""
        for c in self.consumers.values():
            self.apply(c, resume_key)

    def apply(self, c: Captured, resume_key: bool) -> None:
        want = self.paused or c.track.muted
        if want == c.paused:
            return
        try:
            self.media.pause_consumer(c.cid, want)
        except Exception:  # closed with its producer a moment ago
            return
        c.paused = want
        if not want and resume_key and c.track.kind == "video":
            self.media.request_keyframe(c.track.producer_id)

    def drain(self) -> Iterator[bytes]:
        """What waits in the core's buffer, in blobs of whole records."""
        while True:
            blob, dropped = self.media.recorder_drain(self.tid)
            if dropped > self.dropped:
                log.warning(
                    "%s: the core's buffer overflowed, %d packets lost", self.name, dropped - self.dropped
                )
                self.dropped = dropped
            if not blob:
                return
            yield blob
            if len(blob) < self.buffer_bytes // 2:
                return

    def close(self) -> None:
        try:
            self.media.close_transport(self.tid)
        except Exception:  # already gone with the worker
            log.debug("%s: recorder transport already closed", self.name)
