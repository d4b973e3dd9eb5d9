"""The live feed of a room for an RTMP service (R-REC-6: YouTube, Facebook or any RTMP ingest): captured
packets in, one FLV stream of H.264 video and AAC audio out. Pure media work, no event loop, no database:
mediaserver.output.streaming runs one :class:`LiveFeed` per stream in a thread of its own.

RTMP ingests take H.264 and AAC only, while the room carries VP8 and Opus, so this is the one place that
re-encodes (the SFU itself never does): one picture and one sound for the whole room, whatever the number of
viewers on the other side.

- Video: the *stage*, chosen as a recording chooses it (mediaserver.output.recfile.stage_rank: a screen share,
  the host's camera, a presenter's camera), switching at a key frame of the new source. Its VP8 frames are
  decoded, scaled to the feed's fixed size and encoded with x264 (zero-latency tuning, a key frame every 2 s
  as the services ask). While no source sends (none yet, all muted, presenters-only mode), the last picture,
  or black, is repeated once a second so the service keeps the stream alive.
- Audio: every Opus track decoded and mixed into blocks of 100 ms (48 kHz stereo); a block is encoded (AAC)
  once the clock is :data:`AUDIO_LAG_US` past its end, silence where nobody spoke.

Times are the worker's arrival clock (CLOCK_MONOTONIC µs, the records' own clock, and Python's
``time.monotonic_ns``), each stream following its RTP timestamps from an anchor as in a recording
(mediaserver.output.recfile.Timeline) and re-anchored when it strays more than a second from the clock (a
pause).
"""

from __future__ import annotations

import fractions
from typing import Any

from mediaserver.output import recfile

AUDIO_RATE = 48000
AUDIO_BLOCK = 4800  # 100 ms
AUDIO_LAG_US = 400_000  # a block waits this long for late packets before it is encoded
FILL_US = 1_000_000  # the picture is repeated this often while no source sends
KEY_SECONDS = 2  # a key frame every 2 s (YouTube asks for at most 4)
STRAY_US = 1_000_000
MS = fractions.Fraction(1, 1000)


def parse_size(text: str) -> tuple[int, int]:
    """ "1280x720" -> (1280, 720); both even, 64..3840 x 64..2160."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"a size is WIDTHxHEIGHT, not {text!r}") from None
    if not (64 <= w <= 3840 and 64 <= h <= 2160) or w % 2 or h % 2:
        raise ValueError(f"size {text!r}: width 64..3840 and height 64..2160, both even")
    return w, h


def records_of(blob: bytes) -> list[tuple[int, bytes]]:
    """The (worker time µs, RTP packet) records of a drained blob (recfile's layout, no breaks)."""
    return [(t, p) for t, p in recfile.split_records(blob)[0] if p is not None]


class LiveFeed:
    """One FLV output (an ``rtmp://`` URL, or a file path in tests) fed with captured records."""

    def __init__(
        self,
        url: str,
        size: tuple[int, int] = (1280, 720),
        video_bps: int = 2_500_000,
        audio_bps: int = 128_000,
        fps: int = 30,
        fmt: str = "flv",
    ) -> None:
        self.url, self.size, self.video_bps, self.audio_bps, self.fps, self.fmt = (
            url,
            size,
            video_bps,
            audio_bps,
            fps,
            fmt,
        )
        self.tracks: dict[int, recfile.TrackMeta] = {}
        self.container: Any = None
        self.origin: int | None = None  # the worker time of position 0
        self.anchors: dict[int, tuple[int, int]] = {}
        self.ext: dict[int, int] = {}
        self.vp8: dict[int, recfile.Vp8Frames] = {}
        self.decoders: dict[int, Any] = {}
        self.stage: int | None = None
        self.stage_last = -FILL_US
        self.last_picture: Any = None
        self.last_vpts = -1
        self.last_video_us = -FILL_US
        self.audio_dec: dict[int, Any] = {}
        self.resamplers: dict[int, Any] = {}
        self.blocks: dict[int, Any] = {}
        self.next_block = 0
        self.video_frames = 0  # frames encoded (stage pictures and repeats)
        self.stage_frames = 0  # of which decoded from a source
        self.audio_blocks = 0

    # ---------------------------------------------------------------- life

    def open(self) -> None:
        """Connect (RTMP handshake) and set up the encoders; av.error.FFmpegError / OSError on failure."""
        import av

        c = av.open(self.url, "w", format=self.fmt, timeout=10)
        try:
            v = c.add_stream("libx264", rate=self.fps)
            v.width, v.height = self.size
            v.pix_fmt = "yuv420p"
            v.bit_rate = self.video_bps
            v.codec_context.time_base = MS
            v.options = {
                "preset": "veryfast",
                "tune": "zerolatency",
                "g": str(KEY_SECONDS * self.fps),
                "keyint_min": str(KEY_SECONDS * self.fps),
                "bf": "0",
                "profile": "main",
                "maxrate": str(self.video_bps),
                "bufsize": str(self.video_bps),
            }
            a = c.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
            a.bit_rate = self.audio_bps
            c.start_encoding()  # connects (the RTMP handshake) and sends the stream's header now
        except Exception:
            c.close()
            raise
        self.container, self.vstream, self.astream = c, v, a

    def add_track(self, meta: recfile.TrackMeta) -> None:
        self.tracks[meta.ssrc] = meta

    def close(self, now_us: int | None = None) -> None:
        """Flush what waits (audio up to ``now_us``) and end the stream."""
        if self.container is None:
            return
        try:
            if now_us is not None and self.origin is not None:
                self._flush_audio(now_us - self.origin + AUDIO_LAG_US + AUDIO_BLOCK * 1_000_000 // AUDIO_RATE)
            for p in self.vstream.encode(None):
                self.container.mux(p)
            for p in self.astream.encode(None):
                self.container.mux(p)
        finally:
            self.container.close()
            self.container = None

    # ---------------------------------------------------------------- input

    def feed(self, blob: bytes) -> None:
        """Records drained from the capture, in order."""
        for t_us, pkt in records_of(blob):
            self._record(t_us, pkt)

    def tick(self, now_us: int) -> None:
        """The clock moved on (called a few times a second): finished audio blocks out, the picture repeated
        while no source sends."""
        if self.origin is None:
            self.origin = now_us
        pos = now_us - self.origin
        self._flush_audio(pos)
        if pos - self.last_video_us >= FILL_US:
            self._encode_picture(None, pos)

    # ---------------------------------------------------------------- inside

    def _position(self, ssrc: int, ts: int, clock: int, arrival: int) -> int:
        prev = self.ext.get(ssrc)
        ext = (
            ts if prev is None else prev + ((ts - (prev & 0xFFFFFFFF) + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        )
        self.ext[ssrc] = ext
        anchor = self.anchors.get(ssrc)
        pos = None if anchor is None else anchor[0] + (ext - anchor[1]) * 1_000_000 // clock
        if pos is None or abs(pos - arrival) > STRAY_US:
            self.anchors[ssrc] = (arrival, ext)
            pos = arrival
        return pos

    def _record(self, t_us: int, pkt: bytes) -> None:
        r = recfile.parse_rtp(pkt)
        if r is None:
            return
        marker, seq, ts, ssrc, payload = r
        meta = self.tracks.get(ssrc)
        if meta is None:
            return
        if self.origin is None:
            self.origin = t_us
        arrival = t_us - self.origin
        if meta.kind == "video" and meta.codec == "vp8":
            got = self.vp8.setdefault(ssrc, recfile.Vp8Frames()).push(seq, ts, marker, payload)
            if got is None:
                return
            pos = self._position(ssrc, got[0], meta.clock_rate, arrival)
            if ssrc != self.stage:
                if not got[2] or (
                    self.stage is not None
                    and self.stage in self.tracks
                    and recfile.stage_rank(meta) >= recfile.stage_rank(self.tracks[self.stage])
                    and pos - self.stage_last < recfile.STAGE_IDLE_US
                ):
                    return
                self.stage = ssrc
                self.decoders.pop(ssrc, None)  # a fresh decoder from this key frame on
            self.stage_last = pos
            picture = self._decode_vp8(ssrc, got[1])
            if picture is not None:
                self.stage_frames += 1
                self._encode_picture(picture, pos)
        elif meta.kind == "audio" and meta.codec == "opus":
            self._mix(ssrc, payload, self._position(ssrc, ts, meta.clock_rate, arrival))
        self._flush_audio(arrival)

    def _decode_vp8(self, ssrc: int, frame: bytes) -> Any:
        import av

        dec = self.decoders.get(ssrc)
        if dec is None:
            dec = self.decoders[ssrc] = av.CodecContext.create("libvpx", "r")
        try:
            out = dec.decode(av.Packet(frame))
        except av.error.FFmpegError:
            self.vp8[ssrc].need_key = True
            self.decoders.pop(ssrc, None)
            return None
        return out[-1] if out else None

    def _encode_picture(self, picture: Any, pos_us: int) -> None:
        import av

        w, h = self.size
        if picture is not None:
            self.last_picture = picture.reformat(width=w, height=h, format="yuv420p")
        elif self.last_picture is None:
            import numpy as np

            black = np.full((h * 3 // 2, w), 16, np.uint8)  # video black (limited range)
            black[h:] = 128
            self.last_picture = av.VideoFrame.from_ndarray(black, format="yuv420p")
        frame = self.last_picture
        pts = max(pos_us // 1000, self.last_vpts + 1)
        self.last_vpts = pts
        self.last_video_us = max(pos_us, self.last_video_us)
        frame.pts = pts
        frame.time_base = MS
        for p in self.vstream.encode(frame):
            self.container.mux(p)
        self.video_frames += 1

    def _mix(self, ssrc: int, payload: bytes, pos_us: int) -> None:
        import av

        if ssrc not in self.audio_dec:
            self.audio_dec[ssrc] = av.CodecContext.create("opus", "r")
            self.resamplers[ssrc] = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
        try:
            decoded = self.audio_dec[ssrc].decode(av.Packet(payload))
        except av.error.FFmpegError:
            return
        sample = max(0, pos_us * AUDIO_RATE // 1_000_000)
        for f in decoded:
            for g in self.resamplers[ssrc].resample(f):  # too late for a block already sent: left out
                sample = recfile.mix_into(self.blocks, self.next_block, AUDIO_BLOCK, sample, g.to_ndarray())

    def _flush_audio(self, pos_us: int) -> None:
        import av
        import numpy as np

        while (self.next_block + 1) * AUDIO_BLOCK * 1_000_000 // AUDIO_RATE + AUDIO_LAG_US <= pos_us:
            data = self.blocks.pop(self.next_block, None)
            if data is None:
                data = np.zeros((2, AUDIO_BLOCK), np.float32)
            frame = av.AudioFrame.from_ndarray(np.clip(data, -1.0, 1.0), format="fltp", layout="stereo")
            frame.sample_rate = AUDIO_RATE
            frame.pts = self.next_block * AUDIO_BLOCK
            frame.time_base = fractions.Fraction(1, AUDIO_RATE)
            for p in self.astream.encode(frame):
                self.container.mux(p)
            self.next_block += 1
            self.audio_blocks += 1
