"""Pre-encoded looping clips for the load generator: three VP8 simulcast layers and Opus.

Each layer is encoded once with PyAV (libvpx real-time settings, constant bitrate, a keyframe every
``KEYFRAME_S`` seconds, no alt-ref frames) and cached under ``bench/.cache``. ``frames_of`` turns a
clip into the frame list ``Loadgen.load_clip`` takes: one entry per frame with its send offset, its
RTP timestamp step and its RTP payloads (RFC 7741 VP8 packetization, or one Opus frame).
"""

from __future__ import annotations

import fractions
import hashlib
import json
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.lib import media

CACHE_DIR = Path(__file__).resolve().parent.parent / ".cache"
VERSION = 2
FPS = 30
SECONDS = 12  # the loop length
KEYFRAME_S = 4  # a keyframe every 4 s (the clips)
MAX_PAYLOAD = 1100  # VP8 payload descriptor included; the loadgen adds a 16-byte trailer
TRAILER = 16
AUDIO_FRAME, AUDIO_BITRATE = media.AUDIO_FRAME, media.AUDIO_BITRATE  # Opus 20 ms, as the older benches

# name -> (width, height, bit/s), lowest first, as a browser's simulcast would send them
LAYERS: dict[str, tuple[int, int, int]] = {
    "q": (320, 180, 150_000),
    "h": (640, 360, 400_000),
    "f": (1280, 720, 1_700_000),
}


@dataclass
class Encoded:
    """One encoded stream: frames (bytes, keyframe) at a fixed frame interval."""

    name: str
    frames: list[tuple[bytes, bool]]
    interval_us: int
    ts_step: int

    @property
    def bitrate(self) -> float:
        return sum(len(f) for f, _ in self.frames) * 8 / SECONDS


def _encode_video(width: int, height: int, bitrate: int) -> list[tuple[bytes, bool]]:
    import av
    import numpy as np

    ctx = av.CodecContext.create("libvpx", "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base = fractions.Fraction(1, FPS)
    ctx.framerate = FPS
    ctx.bit_rate = bitrate
    ctx.gop_size = FPS * KEYFRAME_S
    ctx.options = {
        "deadline": "realtime",
        "cpu-used": "8",
        "lag-in-frames": "0",
        "auto-alt-ref": "0",
        "minrate": str(bitrate),
        "maxrate": str(bitrate),
        "keyint_min": str(FPS * KEYFRAME_S),
        "max-intra-rate": "800",
        "undershoot-pct": "95",
        "overshoot-pct": "5",
    }
    rng = np.random.default_rng(20261125)
    yy, xx = np.mgrid[0:height, 0:width]
    texture = (rng.integers(0, 256, (height * 2, width * 2, 3), dtype=np.uint8) // 12).astype(np.int16)
    out: list[tuple[bytes, bool]] = []
    n = FPS * SECONDS
    for i in range(n):
        img = np.empty((height, width, 3), np.int16)
        img[..., 0] = (xx * 640 // width + 4 * i) % 256
        img[..., 1] = (2 * yy * 360 // height + 3 * i) % 256
        img[..., 2] = ((xx * 20 // width + yy * 12 // height + i // 8) % 2) * 200
        ox, oy = (7 * i) % width, (5 * i) % height
        img += texture[oy : oy + height, ox : ox + width]
        frame = av.VideoFrame.from_ndarray(img.clip(0, 255).astype(np.uint8), format="rgb24").reformat(
            format="yuv420p"
        )
        frame.pts, frame.time_base = i, ctx.time_base
        out += [(bytes(p), bool(p.is_keyframe)) for p in ctx.encode(frame)]
    out += [(bytes(p), bool(p.is_keyframe)) for p in ctx.encode(None)]
    if len(out) != n or not out[0][1]:
        raise RuntimeError(f"VP8 encoder gave {len(out)} frames for {n} inputs (first keyframe: {out[0][1]})")
    return out


def _cached(name: str, params: dict, make: Callable[[], object], log: Callable[[str], None]) -> object:
    key = hashlib.sha256(
        json.dumps(
            {"v": VERSION, "fps": FPS, "s": SECONDS, "k": KEYFRAME_S, **params}, sort_keys=True
        ).encode()
    ).hexdigest()[:12]
    path = CACHE_DIR / f"lg-{name}-{key}.pickle"
    if path.exists():
        try:
            with path.open("rb") as f:
                return pickle.load(f)
        except Exception:  # a damaged cache file: encode again
            pass
    t0 = time.monotonic()
    log(f"encoding clip {name} {params} (cached in {path}) ...")
    data = make()
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    ignore = CACHE_DIR / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        pickle.dump(data, f)
    tmp.replace(path)
    log(f"  {name} encoded in {time.monotonic() - t0:.1f} s")
    return data


def load(log: Callable[[str], None] = print) -> dict[str, Encoded]:
    """The three video layers and the audio clip, encoding them the first time (~30 s of CPU)."""
    out: dict[str, Encoded] = {}
    for name, (w, h, br) in LAYERS.items():
        frames = _cached(
            name, {"w": w, "h": h, "br": br}, lambda w=w, h=h, br=br: _encode_video(w, h, br), log
        )
        out[name] = Encoded(name, frames, 1_000_000 // FPS, 90000 // FPS)  # type: ignore[arg-type]
    audio = _cached("audio", {"abr": AUDIO_BITRATE}, lambda: media._encode_audio(SECONDS), log)
    out["audio"] = Encoded("audio", [(a, True) for a in audio], 20_000, AUDIO_FRAME)  # type: ignore[union-attr]
    return out


def vp8_payloads(frame: bytes, max_payload: int = MAX_PAYLOAD) -> list[bytes]:
    """RFC 7741: a 1-byte payload descriptor (S on the first packet, PID 0), equal-sized chunks."""
    room = max_payload - 1
    n = max(1, -(-len(frame) // room))
    size = -(-len(frame) // n)
    return [(b"\x10" if i == 0 else b"\x00") + frame[i * size : (i + 1) * size] for i in range(n)]


def frames_of(enc: Encoded) -> list[tuple[int, int, bool, list[bytes]]]:
    """``Loadgen.load_clip`` input: (send offset µs, RTP timestamp step, keyframe, payloads) per frame."""
    video = enc.name != "audio"
    return [
        (i * enc.interval_us, enc.ts_step, key, vp8_payloads(data) if video else [data])
        for i, (data, key) in enumerate(enc.frames)
    ]


def packets_per_second(enc: Encoded) -> float:
    """RTP packets per second the stream sends (one per Opus frame, VP8 frames split at MAX_PAYLOAD)."""
    if enc.name == "audio":
        return 1e6 / enc.interval_us
    return sum(len(vp8_payloads(d)) for d, _ in enc.frames) / SECONDS
