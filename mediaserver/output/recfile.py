"""Recording files (R-REC-1, -3, -4): the raw record file a recording appends to while it runs, and its
conversion to one playable WebM after it stops, and the trim of a finished WebM.

Pure file work, no event loop, no database: mediaserver.output.recording runs these in a worker thread.

The raw file is what the native recorder transport hands out
(mediaserver.rtc.engine.MediaEngine.recorder_drain), appended as it comes: records of ``u32 length (LE), u64
worker time in microseconds (LE), an RTP packet`` (the recorder consumer's rewritten, unencrypted packets).
One extra record kind is ours: a length of 0xFFFFFFFF is a *break*, written where a paused stretch
(presenters-only mode, R-REC-3) was left out; the converter closes that gap in the recording's timeline.

The WebM has
- video: the *stage* stream: a screen share while there is one, else the host's camera, else the first
  presenter's camera (:func:`stage_rank`). It switches between sources at a key frame of the new source (the
  recorder asks for one when a track joins or leaves), and to any source with a key frame when the current one
  has sent nothing for a second. VP8 frames rebuilt from the RTP payloads (RFC 7741) and muxed as they are,
  WITHOUT re-encoding (a switch to a source of another size is a key frame with the new size, which VP8
  decoders follow), their times from the RTP timestamps;
- audio: every Opus track decoded, mixed and encoded once (libopus, 48 kHz stereo).
"""

from __future__ import annotations

import fractions
import json
import struct
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RECORD = struct.Struct("<IQ")
BREAK = 0xFFFFFFFF
BREAK_GAP_US = 20_000  # what is left of a closed gap: one audio frame
AUDIO_RATE = 48000
BLOCK = AUDIO_RATE  # the audio mix is kept in blocks of one second...
MIX_LAG_US = 3_000_000  # ...and a block is encoded once the records are this far past its end
MS = fractions.Fraction(1, 1000)


def break_marker() -> bytes:
    return RECORD.pack(BREAK, 0)


@dataclass
class TrackMeta:
    """What the converter knows of a recorded track (written next to the raw file as JSON)."""

    ssrc: int  # the recorder consumer's SSRC: every packet of this track carries it
    kind: str  # audio | video
    codec: str  # lower-case codec name (opus, vp8, ...)
    clock_rate: int
    source: str  # camera | microphone | screen
    role: str  # the owner's role: host | presenter | attendee
    owner: str
    order: int  # the order tracks joined the recording


def save_meta(path: Path, tracks: list[TrackMeta]) -> None:
    path.write_text(json.dumps([asdict(t) for t in tracks]))


def load_meta(path: Path) -> list[TrackMeta]:
    return [TrackMeta(**t) for t in json.loads(path.read_text())]


def split_records(buf: bytes) -> tuple[list[tuple[int, bytes | None]], int]:
    """The whole records at the start of ``buf`` ((worker time µs, RTP packet); (0, None) for a break) and how
    many bytes they take: a torn last record is left for more bytes to complete."""
    out: list[tuple[int, bytes | None]] = []
    i = 0
    while len(buf) - i >= RECORD.size:
        n, t = RECORD.unpack_from(buf, i)
        if n == BREAK:
            out.append((0, None))
            i += RECORD.size
            continue
        if len(buf) - i - RECORD.size < n:
            break
        out.append((t, buf[i + RECORD.size : i + RECORD.size + n]))
        i += RECORD.size + n
    return out, i


def read_records(path: Path) -> Iterator[tuple[int, bytes | None]]:
    """(worker time in µs, RTP packet) per record; (0, None) for a break. A torn last record is ignored."""
    with open(path, "rb") as f:
        buf = b""
        while chunk := f.read(1 << 20):
            records, used = split_records(buf + chunk)
            yield from records
            buf = (buf + chunk)[used:]


def parse_rtp(pkt: bytes) -> tuple[bool, int, int, int, bytes] | None:
    """(marker, sequence number, timestamp, SSRC, payload) of an RTP packet, None if it is not one."""
    if len(pkt) < 12 or pkt[0] >> 6 != 2:
        return None
    cc = pkt[0] & 0x0F
    off = 12 + 4 * cc
    if pkt[0] & 0x10:
        if len(pkt) < off + 4:
            return None
        off += 4 + 4 * struct.unpack_from("!H", pkt, off + 2)[0]
    end = len(pkt)
    if pkt[0] & 0x20 and end > off:
        end -= pkt[-1]
    if end <= off:
        return None
    seq, ts, ssrc = struct.unpack_from("!HII", pkt, 2)
    return bool(pkt[1] & 0x80), seq, ts, ssrc, pkt[off:end]


def vp8_payload(payload: bytes) -> tuple[bool, bytes] | None:
    """RFC 7741 section 4.2: skip the payload descriptor; (starts a frame, VP8 data)."""
    b0 = payload[0]
    i = 1
    if b0 & 0x80:  # X: extension byte
        if len(payload) < 2:
            return None
        b1 = payload[1]
        i = 2
        if b1 & 0x80:  # I: picture ID, 7 or 15 bits
            if len(payload) <= i:
                return None
            i += 2 if payload[i] & 0x80 else 1
        if b1 & 0x40:  # L: TL0PICIDX
            i += 1
        if b1 & 0x30:  # T or K: TID/Y/KEYIDX
            i += 1
    if i >= len(payload):
        return None
    return bool(b0 & 0x10) and (b0 & 0x07) == 0, payload[i:]


def vp8_keyframe_size(frame: bytes) -> tuple[int, int] | None:
    """Width and height of a VP8 key frame (RFC 6386 section 9.1), None for an inter frame."""
    if len(frame) < 10 or frame[0] & 1 or frame[3:6] != b"\x9d\x01\x2a":
        return None
    return (int.from_bytes(frame[6:8], "little") & 0x3FFF, int.from_bytes(frame[8:10], "little") & 0x3FFF)


class Vp8Frames:
    """Rebuilds VP8 frames from one stream's packets (in order: the recorder hands them out in order, gap-free
    unless lost before the server). After a loss, and at the start, frames are skipped up to a key frame."""

    def __init__(self) -> None:
        self.parts: list[bytes] | None = None
        self.ts = 0
        self.last_seq: int | None = None
        self.need_key = True

    def push(self, seq: int, ts: int, marker: bool, payload: bytes) -> tuple[int, bytes, bool] | None:
        d = vp8_payload(payload)
        lost = self.last_seq is not None and seq != (self.last_seq + 1) & 0xFFFF
        self.last_seq = seq
        if d is None:
            return None
        start, data = d
        if start:
            self.parts, self.ts = [data], ts
        elif self.parts is None or ts != self.ts or lost:
            self.parts = None  # the frame lost its beginning or a middle part
            self.need_key = True
            return None
        else:
            self.parts.append(data)
        if lost:
            self.need_key = True
        if not marker:
            return None
        frame = b"".join(self.parts)
        self.parts = None
        key = vp8_keyframe_size(frame) is not None
        if self.need_key and not key:
            return None
        self.need_key = False
        return ts, frame, key


class Timeline:
    """Positions in the recording (µs from its start) for packets: each stream is anchored at its first packet
    (the worker's arrival clock, which every stream shares) and goes on by its own RTP timestamps. Breaks
    (left-out paused stretches) close the gap and re-anchor every stream."""

    def __init__(self) -> None:
        self.removed = 0
        self.origin: int | None = None
        self.last = 0
        self.broken = False
        self.anchors: dict[int, tuple[int, int]] = {}  # ssrc -> (position µs, extended RTP timestamp)
        self.ext: dict[int, int] = {}  # ssrc -> last extended RTP timestamp

    def brk(self) -> None:
        self.broken = True

    def arrival(self, t_us: int) -> int:
        """The position of a record's arrival time."""
        if self.origin is None:
            self.origin = t_us
        elif self.broken:
            self.removed += max(0, t_us - self.last - BREAK_GAP_US)
            self.anchors.clear()
        self.broken = False
        self.last = t_us
        return t_us - self.origin - self.removed

    def position(self, ssrc: int, ts: int, clock: int, arrival_pos: int) -> int:
        prev = self.ext.get(ssrc)
        ext = (
            ts if prev is None else prev + ((ts - (prev & 0xFFFFFFFF) + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        )
        self.ext[ssrc] = ext
        anchor = self.anchors.get(ssrc)
        if anchor is None:
            anchor = self.anchors[ssrc] = (arrival_pos, ext)
        return anchor[0] + (ext - anchor[1]) * 1_000_000 // clock


def mix_into(blocks: dict[int, Any], first: int, size: int, sample: int, pcm: Any) -> int:
    """Add ``pcm`` (2 x n float32, stereo) into the mix, kept as blocks of ``size`` samples by index, from
    sample ``sample`` on; what falls in blocks before ``first`` (already encoded) is left out. The sample
    after it."""
    import numpy as np

    n: int = pcm.shape[1]
    done = 0
    while done < n:
        index, off = divmod(sample + done, size)
        take = min(n - done, size - off)
        if index >= first:
            block = blocks.get(index)
            if block is None:
                block = blocks[index] = np.zeros((2, size), np.float32)
            block[:, off : off + take] += pcm[:, done : done + take]
        done += take
    return sample + n


def stage_rank(t: TrackMeta) -> tuple[int, int]:
    """Lower is preferred on the stage: a screen share, the host's camera, a presenter's, any other; then the
    order the tracks came in."""
    return (
        0 if t.source == "screen" else 1 if t.role == "host" else 2 if t.role == "presenter" else 3,
        t.order,
    )


def choose_stage(tracks: list[TrackMeta], usable: set[int]) -> TrackMeta | None:
    """The most preferred of the VP8 streams that have a key frame in the recording (:func:`stage_rank`)."""
    videos = [t for t in tracks if t.kind == "video" and t.codec == "vp8" and t.ssrc in usable]
    return min(videos, key=stage_rank, default=None)


STAGE_IDLE_US = 1_000_000  # a stage source silent this long gives way to any source with a key frame


@dataclass
class Converted:
    duration: float  # seconds
    width: int
    height: int
    video_frames: int
    audio_tracks: int


def _scan(raw: Path, tracks: dict[int, TrackMeta]) -> dict[int, tuple[int, int]]:
    """Pass 1: the first key frame's size of every VP8 stream that has one (in the order they come)."""
    sizes: dict[int, tuple[int, int]] = {}
    frames: dict[int, Vp8Frames] = {}
    for _t, pkt in read_records(raw):
        if pkt is None:
            for f in frames.values():
                f.need_key = True
            continue
        r = parse_rtp(pkt)
        if r is None or r[3] in sizes:
            continue
        meta = tracks.get(r[3])
        if meta is None or meta.kind != "video" or meta.codec != "vp8":
            continue
        got = frames.setdefault(r[3], Vp8Frames()).push(r[1], r[2], r[0], r[4])
        if got is not None and got[2]:
            size = vp8_keyframe_size(got[1])
            assert size is not None
            sizes[r[3]] = size
    return sizes


def convert(raw: Path, tracks_list: list[TrackMeta], out: Path) -> Converted:
    """The raw file to one WebM (see the module's docstring). Raises ValueError when nothing was recorded."""
    import av
    import numpy as np

    tracks = {t.ssrc: t for t in tracks_list}
    sizes = _scan(raw, tracks)
    first = next(iter(sizes), None)  # the stage starts with the first source that has a key frame
    audio_ssrcs = {t.ssrc for t in tracks_list if t.kind == "audio" and t.codec == "opus"}
    container = av.open(str(out), "w", format="webm")
    try:
        vstream = astream = None
        width = height = 0
        if first is not None:
            width, height = sizes[first]
            vstream = container.add_stream("libvpx", rate=30)
            vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
        astream = container.add_stream("libopus", rate=AUDIO_RATE, layout="stereo")
        timeline = Timeline()
        vp8: dict[int, Vp8Frames] = {}
        stage: int | None = None  # the SSRC on the stage now
        stage_last = 0  # the position of its last frame
        decoders: dict[int, Any] = {}
        resamplers: dict[int, Any] = {}
        blocks: dict[int, Any] = {}
        next_block = 0
        last_vpts = -1
        frames = 0
        end_us = 0
        heard: set[int] = set()

        def encode_block(index: int, samples: int = BLOCK) -> None:
            data = blocks.pop(index, None)
            if data is None:
                data = np.zeros((2, BLOCK), np.float32)
            data = np.ascontiguousarray(data[:, :samples])
            frame = av.AudioFrame.from_ndarray(np.clip(data, -1.0, 1.0), format="fltp", layout="stereo")
            frame.sample_rate = AUDIO_RATE
            frame.pts = index * BLOCK
            frame.time_base = fractions.Fraction(1, AUDIO_RATE)
            for p in astream.encode(frame):
                container.mux(p)

        for t_us, pkt in read_records(raw):
            if pkt is None:
                timeline.brk()
                for f in vp8.values():
                    f.need_key = True
                continue
            r = parse_rtp(pkt)
            if r is None:
                continue
            marker, seq, ts, ssrc, payload = r
            meta = tracks.get(ssrc)
            if meta is None:
                continue
            arrival = timeline.arrival(t_us)
            if vstream is not None and ssrc in sizes:
                got = vp8.setdefault(ssrc, Vp8Frames()).push(seq, ts, marker, payload)
                if got is None:
                    continue
                pos = timeline.position(ssrc, got[0], meta.clock_rate, arrival)
                if ssrc != stage:
                    # switch at a key frame: to a preferred source, or to any when the stage fell silent
                    if not got[2] or (
                        stage is not None
                        and stage_rank(meta) >= stage_rank(tracks[stage])
                        and pos - stage_last < STAGE_IDLE_US
                    ):
                        continue
                    stage = ssrc
                stage_last = pos
                pts = max(pos // 1000, last_vpts + 1)
                last_vpts = pts
                packet = av.Packet(got[1])
                packet.pts = packet.dts = pts
                packet.time_base = MS
                packet.stream = vstream
                packet.is_keyframe = got[2]
                container.mux(packet)
                frames += 1
                end_us = max(end_us, pts * 1000 + 33_000)
            elif ssrc in audio_ssrcs:
                pos = timeline.position(ssrc, ts, meta.clock_rate, arrival)
                if ssrc not in decoders:
                    decoders[ssrc] = av.CodecContext.create("opus", "r")
                    resamplers[ssrc] = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
                try:
                    decoded = decoders[ssrc].decode(av.Packet(payload))
                except av.error.FFmpegError:
                    continue
                heard.add(ssrc)
                sample = max(0, pos * AUDIO_RATE // 1_000_000)
                for f in decoded:
                    for g in resamplers[ssrc].resample(f):
                        sample = mix_into(blocks, next_block, BLOCK, sample, g.to_ndarray())
                end_us = max(end_us, sample * 1_000_000 // AUDIO_RATE)
            # blocks the records have left behind are final: encode them in order (bounded memory)
            while (next_block + 1) * 1_000_000 + MIX_LAG_US < arrival:
                encode_block(next_block)
                next_block += 1
        if frames == 0 and not heard:
            raise ValueError("nothing was recorded")
        last_sample = end_us * AUDIO_RATE // 1_000_000
        while next_block * BLOCK < last_sample:
            encode_block(next_block, min(BLOCK, last_sample - next_block * BLOCK))
            next_block += 1
        for p in astream.encode(None):
            container.mux(p)
    finally:
        container.close()
    return Converted(
        duration=end_us / 1e6, width=width, height=height, video_frames=frames, audio_tracks=len(heard)
    )


def probe(path: Path) -> float:
    """The duration of a media file in seconds (from its streams' last packets)."""
    import av

    with av.open(str(path)) as c:
        end = 0.0
        for p in c.demux():
            if p.pts is not None and p.time_base is not None:
                end = max(end, float((p.pts + (p.duration or 0)) * p.time_base))
        return end


def trim(src: Path, out: Path, start: float, end: float) -> tuple[float, float]:
    """R-REC-4: a new WebM of [start, end) seconds of src, cut at key frames and remuxed without re-encoding:
    video from the last key frame at or before start; audio packets in the same span. Returns where the cut
    starts in src (seconds: that key frame's time) and the new file's duration."""
    import av

    with av.open(str(src)) as inp, av.open(str(out), "w", format="webm") as dst:
        streams = {}
        for s in inp.streams:
            if s.type in ("video", "audio"):
                streams[s.index] = dst.add_stream_from_template(s)
        video = next((s for s in inp.streams if s.type == "video"), None)
        cut = start
        if video is not None:  # the last key frame at or before start
            with av.open(str(src)) as scan:
                for vp in scan.demux(scan.streams.video[0]):
                    if vp.pts is None:
                        continue
                    t = float(vp.pts * vp.time_base)
                    if t > start:
                        break
                    if vp.is_keyframe:
                        cut = t
        last = 0.0
        for p in inp.demux():
            if p.pts is None or p.stream.index not in streams:
                continue
            t = float(p.pts * p.time_base)
            if t < cut or t >= end:
                continue
            p.pts -= round(cut / p.time_base)
            p.dts = p.pts
            last = max(last, float((p.pts + (p.duration or 0)) * p.time_base))
            p.stream = streams[p.stream.index]
            dst.mux(p)
        return cut, last
