"""An aiortc publisher for bench/join.py, run as a process of its own (like a real remote presenter).

It joins a room as presenter over the WebSocket protocol and publishes synthetic 640x480 video at
30 fps (VP8, encoded live by aiortc, so it answers the server's PLIs with a keyframe) plus Opus.
It reports on stdout, one JSON object per line, each with ``t`` = ``time.monotonic()`` (the same
CLOCK_MONOTONIC as the parent's):

* ``{"ev": "ready"}`` once the peer connection is connected;
* ``{"ev": "pli"}`` whenever aiortc's sender gets a PLI or FIR (it then forces a keyframe);
* ``{"ev": "key", "bytes", "packets", "forced", "encode_ms"}`` for each keyframe the encoder produced
  (``t`` is when the encoder returned it; its packets go out right after);
* ``{"ev": "lag", "ms"}`` when its event loop was held up for more than 50 ms, and ``{"ev": "late",
  "frame", "ms"}`` when a video frame was produced more than 50 ms after its due time (both show a
  publisher starved of CPU, which would distort the joins it overlaps);
* ``{"ev": "stats", ...}`` every 5 s and at exit; ``{"ev": "error", "error"}`` on failure.

It stops when its stdin closes (the parent went away), on SIGTERM/SIGINT, or after --max-seconds.
Traffic stays on 127.0.0.1 (aioice is limited to the loopback address, as in tests/conftest.py).

    python -m bench.lib.aiortc_publisher --ws ws://127.0.0.1:PORT/ws --token JWT
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import signal
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import aioice.ice  # noqa: E402
import av  # noqa: E402
import numpy as np  # noqa: E402
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.codecs import vpx  # noqa: E402
from aiortc.mediastreams import AudioStreamTrack  # noqa: E402
from aiortc.rtcrtpsender import RTCRtpSender  # noqa: E402

from bench.lib.wsclient import Signal  # noqa: E402

WIDTH, HEIGHT, FPS = 640, 480, 30
_out_lock = threading.Lock()


def emit(ev: str, **kw: object) -> None:
    line = json.dumps({"ev": ev, "t": time.monotonic(), **kw})
    with _out_lock:  # the encoder runs in an executor thread
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class Counters:
    frames = 0
    bytes = 0
    packets = 0
    keyframes = 0
    plis = 0
    encode_s = 0.0


COUNT = Counters()


def loopback_only_ice() -> None:
    """aioice leaves 127.0.0.1 out of its host candidates; gather on loopback only."""
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


def instrument(bitrate: int) -> None:
    """Report PLIs and keyframes; start the VP8 encoder at `bitrate` (aiortc's default is 500 kbit/s).

    The server sends no REMB, so aiortc never changes the target afterwards."""
    vpx.DEFAULT_BITRATE = bitrate
    orig_kf = RTCRtpSender._send_keyframe

    def send_keyframe(self: RTCRtpSender) -> None:
        COUNT.plis += 1
        emit("pli")
        orig_kf(self)

    RTCRtpSender._send_keyframe = send_keyframe  # type: ignore[method-assign]
    orig_encode = vpx.Vp8Encoder.encode

    def encode(self: vpx.Vp8Encoder, frame: av.VideoFrame, force_keyframe: bool = False):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        payloads, ts = orig_encode(self, frame, force_keyframe)
        dt = time.perf_counter() - t
        size = sum(len(p) for p in payloads)
        COUNT.frames += 1
        COUNT.bytes += size
        COUNT.packets += len(payloads)
        COUNT.encode_s += dt
        if payloads:
            _, rest = vpx.VpxPayloadDescriptor.parse(payloads[0])
            if rest and rest[0] & 0x01 == 0:  # P bit of the VP8 frame tag: 0 = keyframe
                COUNT.keyframes += 1
                emit(
                    "key",
                    bytes=size,
                    packets=len(payloads),
                    forced=bool(force_keyframe),
                    encode_ms=round(dt * 1e3, 2),
                )
        return payloads, ts

    vpx.Vp8Encoder.encode = encode  # type: ignore[method-assign]


class SyntheticVideo(MediaStreamTrack):
    """640x480 yuv420p at 30 fps: scrolling ramps, a blinking checkerboard and a moving noise texture,
    so the encoder has real work (about the content of bench/lib/media.py's clip)."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self.n = 0
        self.start: float | None = None
        rng = np.random.default_rng(20240501)
        self.noise = rng.integers(0, 64, (HEIGHT * 2, WIDTH * 2), dtype=np.uint8)
        yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
        self.xx, self.yy = xx.astype(np.uint16), yy.astype(np.uint16)
        cy, cx = np.mgrid[0 : HEIGHT // 2, 0 : WIDTH // 2]
        self.cx, self.cy = cx.astype(np.uint16), cy.astype(np.uint16)
        self.check = (((xx // 32 + yy // 32) % 2) * 60).astype(np.uint8)

    async def recv(self) -> av.VideoFrame:
        if self.start is None:
            self.start = time.monotonic()
        due = self.start + self.n / FPS
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.05:  # this process fell behind real time (CPU starved?)
            emit("late", frame=self.n, ms=round(-delay * 1e3, 1))
        i = self.n
        ox, oy = (7 * i) % WIDTH, (5 * i) % HEIGHT
        buf = np.empty((HEIGHT * 3 // 2, WIDTH), np.uint8)
        y = ((self.xx + 4 * i) % 192).astype(np.uint8) + self.noise[oy : oy + HEIGHT, ox : ox + WIDTH]
        if (i // 8) % 2:
            y = y + self.check
        buf[:HEIGHT] = y
        chroma = buf[HEIGHT:].reshape(2, HEIGHT // 2, WIDTH // 2)  # U then V, each (H/2, W/2)
        chroma[0] = (self.cx + 3 * i) % 256
        chroma[1] = (2 * self.cy + 2 * i) % 256
        frame = av.VideoFrame.from_ndarray(buf, format="yuv420p")
        frame.pts = i * (90000 // FPS)
        frame.time_base = fractions.Fraction(1, 90000)
        self.n += 1
        return frame


async def watch_lag(threshold: float = 0.05) -> None:
    """Report when this event loop was blocked (or the process not scheduled) for more than threshold s."""
    while True:
        t = time.monotonic()
        await asyncio.sleep(0.01)
        lag = time.monotonic() - t - 0.01
        if lag > threshold:
            emit("lag", ms=round(lag * 1e3, 1))


async def run(args: argparse.Namespace) -> int:
    loopback_only_ice()
    instrument(args.bitrate)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def watch_stdin() -> None:  # EOF: the parent is gone
        while await reader.read(4096):
            pass
        stop.set()

    stdin_task = asyncio.create_task(watch_stdin())
    lag_task = asyncio.create_task(watch_lag())
    session = aiohttp.ClientSession()
    sig: Signal | None = None
    pc: RTCPeerConnection | None = None
    t_start = time.monotonic()
    try:
        sig = await Signal.connect(session, args.ws)
        await sig.call("join", {"token": args.token})
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        connected = asyncio.Event()
        failed = asyncio.Event()

        @pc.on("connectionstatechange")
        def _state() -> None:
            assert pc is not None
            if pc.connectionState == "connected":
                connected.set()
            elif pc.connectionState in ("failed", "closed"):
                failed.set()
                stop.set()

        pc.addTransceiver(SyntheticVideo(), direction="sendonly")
        pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        res = await sig.call("publish", {"sdp": pc.localDescription.sdp})
        await pc.setRemoteDescription(RTCSessionDescription(res["sdp"], "answer"))
        done, _ = await asyncio.wait(
            [asyncio.create_task(connected.wait()), asyncio.create_task(failed.wait())],
            timeout=args.connect_timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        for t in _:
            t.cancel()
        if not connected.is_set():
            raise RuntimeError(
                f"publisher not connected after {args.connect_timeout:.0f} s (state {pc.connectionState})"
            )
        emit("ready", tracks=res.get("tracks", []), bitrate=args.bitrate)
        last = time.monotonic()
        while not stop.is_set() and time.monotonic() - t_start < args.max_seconds:
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except asyncio.TimeoutError:
                pass
            if time.monotonic() - last >= 5:
                last = time.monotonic()
                emit("stats", **vars_of(COUNT))
        return 0
    except Exception as e:  # reported to the parent, which fails the run
        emit("error", error=repr(e))
        return 1
    finally:
        emit("stats", final=True, **vars_of(COUNT))
        stdin_task.cancel()
        lag_task.cancel()
        if pc is not None:
            try:
                await asyncio.wait_for(pc.close(), 5)
            except (asyncio.TimeoutError, Exception):
                pass
        if sig is not None:
            await sig.close()
        await session.close()


def vars_of(c: Counters) -> dict[str, object]:
    return {
        "frames": c.frames,
        "bytes": c.bytes,
        "packets": c.packets,
        "keyframes": c.keyframes,
        "plis": c.plis,
        "encode_s": round(c.encode_s, 3),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ws", required=True, help="the server's WebSocket URL (ws://127.0.0.1:PORT/ws)")
    ap.add_argument("--token", required=True, help="a presenter join token")
    ap.add_argument("--bitrate", type=int, default=2_000_000, help="VP8 target bit/s (default 2,000,000)")
    ap.add_argument("--max-seconds", type=float, default=900.0, help="stop after this long (default 900)")
    ap.add_argument("--connect-timeout", type=float, default=15.0)
    args = ap.parse_args()
    if not args.ws.startswith("ws://127.0.0.1:"):
        ap.error("--ws must be on 127.0.0.1")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
