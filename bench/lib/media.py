"""A pre-encoded synthetic clip (VP8 + Opus) and its RTP packetization.

The clip is encoded once with PyAV (libvpx, libopus) and cached under ``bench/.cache``; the pacer
then sends it in real time, looping, with continuous RTP sequence numbers and timestamps.
"""

from __future__ import annotations

import fractions
import hashlib
import json
import pickle
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CACHE_DIR = Path(__file__).resolve().parent.parent / ".cache"

# The clip (changing any of these changes the cache key).
WIDTH, HEIGHT, FPS = 640, 480, 30
VIDEO_BITRATE = 2_000_000
GOP_FRAMES = 60  # a keyframe every 2 s
CLIP_SECONDS = 10
AUDIO_RATE, AUDIO_FRAME = 48000, 960  # 20 ms Opus frames
AUDIO_BITRATE = 64_000
CLIP_VERSION = 1

# RTP
VP8_PT, OPUS_PT = 96, 111
EXT_MID_ID, EXT_ABS_ID = 1, 3  # the ids the publisher offer declares
MAX_PAYLOAD = 1100  # VP8 payload descriptor included


@dataclass
class Clip:
    video: list[tuple[bytes, bool]]  # one encoded frame per 1/FPS s: (data, is_keyframe)
    audio: list[bytes]  # one Opus frame per 20 ms
    seconds: float

    @property
    def video_bitrate(self) -> float:
        return sum(len(f) for f, _ in self.video) * 8 / self.seconds

    @property
    def audio_bitrate(self) -> float:
        return sum(len(f) for f in self.audio) * 8 / self.seconds


def _params() -> dict:
    return {
        "v": CLIP_VERSION,
        "w": WIDTH,
        "h": HEIGHT,
        "fps": FPS,
        "br": VIDEO_BITRATE,
        "gop": GOP_FRAMES,
        "s": CLIP_SECONDS,
        "abr": AUDIO_BITRATE,
    }


def _encode_video() -> list[tuple[bytes, bool]]:
    import av
    import numpy as np

    ctx = av.CodecContext.create("libvpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    ctx.time_base = fractions.Fraction(1, FPS)
    ctx.framerate = FPS
    ctx.bit_rate = VIDEO_BITRATE
    ctx.gop_size = GOP_FRAMES
    # real-time style: no look-ahead, no alt-ref (invisible) frames, constant bitrate
    ctx.options = {
        "deadline": "realtime",
        "cpu-used": "8",
        "lag-in-frames": "0",
        "auto-alt-ref": "0",
        "minrate": str(VIDEO_BITRATE),
        "maxrate": str(VIDEO_BITRATE),
    }
    rng = np.random.default_rng(20240501)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    texture = (rng.integers(0, 256, (HEIGHT * 2, WIDTH * 2, 3), dtype=np.uint8) // 4).astype(np.int16)
    out: list[tuple[bytes, bool]] = []
    n = FPS * CLIP_SECONDS
    for i in range(n):
        img = np.empty((HEIGHT, WIDTH, 3), np.int16)
        img[..., 0] = (xx + 4 * i) % 256  # scrolling ramps
        img[..., 1] = (2 * yy + 3 * i) % 256
        img[..., 2] = ((xx // 32 + yy // 32 + i // 8) % 2) * 200  # blinking checkerboard
        ox, oy = (7 * i) % WIDTH, (5 * i) % HEIGHT
        img += texture[oy : oy + HEIGHT, ox : ox + WIDTH]  # moving noise texture
        frame = av.VideoFrame.from_ndarray(img.clip(0, 255).astype(np.uint8), format="rgb24")
        frame = frame.reformat(format="yuv420p")
        frame.pts, frame.time_base = i, ctx.time_base
        out += [(bytes(p), bool(p.is_keyframe)) for p in ctx.encode(frame)]
    out += [(bytes(p), bool(p.is_keyframe)) for p in ctx.encode(None)]
    if len(out) != n or not out[0][1]:
        raise RuntimeError(f"VP8 encoder gave {len(out)} frames for {n} inputs (first keyframe: {out[0][1]})")
    return out


def _encode_audio(seconds: int = CLIP_SECONDS) -> list[bytes]:
    """Opus frames of a 440 Hz tone, 20 ms each."""
    import av
    import numpy as np

    ctx = av.CodecContext.create("libopus", "w")
    ctx.sample_rate, ctx.layout, ctx.format = AUDIO_RATE, "stereo", "s16"
    ctx.bit_rate = AUDIO_BITRATE
    ctx.time_base = fractions.Fraction(1, AUDIO_RATE)
    out: list[bytes] = []
    frames = seconds * AUDIO_RATE // AUDIO_FRAME
    for i in range(frames):
        t = (np.arange(AUDIO_FRAME) + i * AUDIO_FRAME) / AUDIO_RATE
        s = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
        fr = av.AudioFrame.from_ndarray(
            np.stack([s, s], axis=1).reshape(1, -1), format="s16", layout="stereo"
        )
        fr.sample_rate, fr.pts, fr.time_base = AUDIO_RATE, i * AUDIO_FRAME, ctx.time_base
        out += [bytes(p) for p in ctx.encode(fr)]
    out += [bytes(p) for p in ctx.encode(None)]
    return out[:frames]


def load_clip(log: Callable[[str], None] = print) -> Clip:
    """The clip from the cache, encoding it (about 10 s of CPU) the first time."""
    key = hashlib.sha256(json.dumps(_params(), sort_keys=True).encode()).hexdigest()[:12]
    path = CACHE_DIR / f"clip-{key}.pickle"
    if path.exists():
        try:
            with path.open("rb") as f:
                d = pickle.load(f)
            return Clip(d["video"], d["audio"], d["seconds"])
        except Exception:  # a damaged cache file: encode again
            pass
    log(f"encoding the {CLIP_SECONDS} s VP8 {WIDTH}x{HEIGHT}@{FPS} + Opus clip (cached in {path}) ...")
    t0 = time.monotonic()
    clip = Clip(_encode_video(), _encode_audio(), float(CLIP_SECONDS))
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    ignore = CACHE_DIR / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        pickle.dump({"video": clip.video, "audio": clip.audio, "seconds": clip.seconds}, f)
    tmp.replace(path)
    log(
        f"  encoded in {time.monotonic() - t0:.1f} s: video {clip.video_bitrate / 1e6:.2f} Mbit/s, "
        f"audio {clip.audio_bitrate / 1e3:.0f} kbit/s"
    )
    return clip


# ---------------------------------------------------------------------------------------- RTP


def vp8_payloads(frame: bytes, max_payload: int = MAX_PAYLOAD) -> list[bytes]:
    """RFC 7741 packetization: a 1-byte payload descriptor (X=0, N=0, S on the first packet, PID 0)."""
    room = max_payload - 1
    n = max(1, -(-len(frame) // room))
    size = -(-len(frame) // n)  # equal-sized chunks
    return [(b"\x10" if i == 0 else b"\x00") + frame[i * size : (i + 1) * size] for i in range(n)]


def _ext_block(mid: bytes) -> bytes:
    """One-byte header extensions: mid, then abs-send-time (3 bytes, stamped by the native sender)."""
    body = bytes([(EXT_MID_ID << 4) | (len(mid) - 1)]) + mid + bytes([(EXT_ABS_ID << 4) | 2, 0, 0, 0])
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("!HH", 0xBEDE, len(body) // 4) + body


class RtpStream:
    """Sequence numbers, timestamps and header of one outgoing stream."""

    def __init__(self, ssrc: int, pt: int, mid: str, seq0: int = 1000, ts0: int = 0) -> None:
        self.ssrc, self.pt = ssrc, pt
        self.seq = seq0 & 0xFFFF
        self.ts0 = ts0
        self.ext = _ext_block(mid.encode())

    def packet(self, payload: bytes, ts: int, marker: bool) -> bytes:
        hdr = struct.pack(
            "!BBHII",
            0x90,
            (0x80 if marker else 0) | self.pt,
            self.seq,
            (self.ts0 + ts) & 0xFFFFFFFF,
            self.ssrc,
        )
        self.seq = (self.seq + 1) & 0xFFFF
        return hdr + self.ext + payload


@dataclass
class PacerStats:
    video_frames: int = 0
    audio_frames: int = 0
    packets: int = 0
    bytes: int = 0
    late_max_ms: float = 0.0
    send_errors: int = 0


class Pacer(threading.Thread):
    """Sends the clip in real time (looping) through ``send(list_of_packets)`` until stopped or
    ``max_seconds`` have passed; each video frame goes out as one burst, Opus every 20 ms."""

    def __init__(
        self,
        clip: Clip,
        send: Callable[[list[bytes]], int],
        video: RtpStream,
        audio: RtpStream,
        max_seconds: float,
    ) -> None:
        super().__init__(name="pacer", daemon=True)
        self.clip, self.send, self.video, self.audio = clip, send, video, audio
        self.max_seconds = max_seconds
        self.stop_event = threading.Event()
        self.stats = PacerStats()
        self.error: BaseException | None = None
        # one loop of the clip as a time-ordered schedule: (t, kind, index)
        sched = [(i / FPS, 0, i) for i in range(len(clip.video))]
        sched += [(i * AUDIO_FRAME / AUDIO_RATE, 1, i) for i in range(len(clip.audio))]
        self.schedule = sorted(sched)
        self.video_payloads = [vp8_payloads(f) for f, _ in clip.video]

    def run(self) -> None:
        try:
            self._run()
        except BaseException as e:  # reported by the caller
            self.error = e

    def _run(self) -> None:
        start = time.monotonic()
        loop = 0
        st = self.stats
        vclock = 90000 // FPS
        nv, na = len(self.clip.video), len(self.clip.audio)
        while not self.stop_event.is_set():
            base = start + loop * self.clip.seconds
            for t, kind, i in self.schedule:
                due = base + t
                now = time.monotonic()
                if now - start > self.max_seconds or self.stop_event.is_set():
                    return
                if due > now:
                    if self.stop_event.wait(due - now):
                        return
                else:
                    st.late_max_ms = max(st.late_max_ms, (now - due) * 1e3)
                if kind == 0:
                    ts = (loop * nv + i) * vclock
                    pl = self.video_payloads[i]
                    pkts = [self.video.packet(p, ts, k == len(pl) - 1) for k, p in enumerate(pl)]
                    st.video_frames += 1
                else:
                    ts = (loop * na + i) * AUDIO_FRAME
                    pkts = [self.audio.packet(self.clip.audio[i], ts, False)]
                    st.audio_frames += 1
                sent = self.send(pkts)
                st.packets += sent
                st.send_errors += len(pkts) - sent
                st.bytes += sum(len(p) for p in pkts)
            loop += 1
