"""Fan-out through aiortc (bench/servers/aiortc_sfu.py): 1 publisher -> N subscribers, per mode.

    python -m bench.aiortc_fanout [--modes relay,passthrough] [--subs 10,20,50] [--seconds 10]
                                  [--driver loadgen|aiortc]

The server is pinned to --server-core; this process (and the load generator's I/O thread, or the
aiortc client peers) to --client-core. For each point it reports the server's CPU (utime+stime from
/proc/<pid>/stat, in % of one core), its RTP egress (packets/s from its /stats), what subscribers
received (packets/s, lost, latency percentiles when the load generator can measure them).

``--driver loadgen``: the native load generator publishes bench/lib/media.py's clip (640x480 VP8 at
about 1.9 Mbit/s, 30 fps, a keyframe every 2 s, Opus 64 kbit/s) and N load-generator subscribers.
``--driver aiortc``: an aiortc publisher encoding a 640x480 pattern at 2 Mbit/s and N aiortc
subscribers that do not decode (they count encoded frames); the client process saturates long
before 50 passthrough subscribers, so use it only as a cross-check.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.adapters.aiortc import AiortcAdapter  # noqa: E402
from bench.adapters.base import Media  # noqa: E402
from bench.lib import media as bmedia  # noqa: E402
from bench.lib.procstat import proc_cpu_us  # noqa: E402

AUDIO = True  # --no-audio: video only (the latency histogram then is video's alone)
STRIP: bool | None = None  # --strip-trailer: None = the adapter's default (relay only)


def loadgen_clips(lg) -> dict[str, int]:  # type: ignore[no-untyped-def]
    clip = bmedia.load_clip(log=lambda s: None)
    vframes = [
        (round(i * 1e6 / bmedia.FPS), 90000 // bmedia.FPS, key, bmedia.vp8_payloads(data))
        for i, (data, key) in enumerate(clip.video)
    ]
    aframes = [(i * 20000, bmedia.AUDIO_FRAME, True, [data]) for i, data in enumerate(clip.audio)]
    video = lg.load_clip(vframes, clock_rate=90000)
    audio = lg.load_clip(aframes, clock_rate=48000)
    return {"audio": audio, "q": video, "h": video, "f": video}


def runq_wait_ns(pid: int) -> int:
    """Time pid's threads spent runnable but waiting for a CPU (schedstat field 2): high when
    something else shares the server's core."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            pass
    return total


def percentile(hist: list[int], bounds: list[int], q: float) -> float | None:
    total = sum(hist)
    if not total:
        return None
    acc = 0
    for n, b in zip(hist, bounds, strict=False):
        acc += n
        if acc >= q * total:
            return b / 1000.0
    return bounds[-1] / 1000.0


async def point_loadgen(mode: str, n: int, seconds: float, core: int, workdir: Path) -> dict:
    from bench.loadgen import Loadgen

    lg = Loadgen(bind_ip="127.0.0.1", verify_every=1)
    ad = AiortcAdapter(mode, loadgen_clips(lg), strip_trailer=STRIP)
    await ad.start(core, workdir)
    try:
        pub = await ad.publish(lg, "room", "pub", Media(audio=AUDIO, video_layers=("f",)))
        await wait_state(lg, [pub.lg_peer])
        lg.start_all()
        subs = [await ad.subscribe(lg, "room", f"s{i}", [pub]) for i in range(n)]
        await wait_state(lg, [s.lg_peer for s in subs])
        await asyncio.sleep(4)  # warm-up: keyframes, queues
        pid = ad.pids[0]
        c0, e0, t0 = proc_cpu_us(pid), ad.egress_counters(), time.monotonic()
        m0, w0 = proc_cpu_us(os.getpid()), runq_wait_ns(pid)
        s0 = [lg.peer_stats(s.lg_peer) for s in subs]
        h0 = lg.totals()
        await asyncio.sleep(seconds)
        c1, e1, t1 = proc_cpu_us(pid), ad.egress_counters(), time.monotonic()
        m1, w1 = proc_cpu_us(os.getpid()), runq_wait_ns(pid)
        s1 = [lg.peer_stats(s.lg_peer) for s in subs]
        h1 = lg.totals()
        dt = t1 - t0
        rx = [(b["rx_packets"] - a["rx_packets"]) / dt for a, b in zip(s0, s1, strict=True)]
        vrx = [
            (b["ssrcs"].get(v, 0) - a["ssrcs"].get(v, 0)) / dt
            for sub, a, b in zip(subs, s0, s1, strict=True)
            for k, v in sub.ssrcs.items()
            if k.startswith("video")
        ]
        lost = sum(b["lost"] - a["lost"] for a, b in zip(s0, s1, strict=True))
        hist = [y - x for x, y in zip(h0["latency_hist"], h1["latency_hist"], strict=True)]
        ps = lg.peer_stats(pub.lg_peer)
        server = await ad.server_stats()
        return {
            "server": {k: server[k] for k in ("publishers", "subscribers", "connected")},
            "mode": mode,
            "subs": n,
            "cpu_pct": round((c1 - c0) / dt / 1e4, 1),
            "runq_wait_pct": round((w1 - w0) / dt / 1e7, 1),
            "loadgen_cpu_pct": round((m1 - m0) / dt / 1e4, 1),
            "egress_pps": round((e1["tx_packets"] - e0["tx_packets"]) / dt),
            "egress_kbps": round((e1["tx_bytes"] - e0["tx_bytes"]) * 8 / dt / 1e3),
            "rx_pps_per_sub_min": round(min(rx)),
            "rx_pps_per_sub_mean": round(sum(rx) / len(rx)),
            "video_pps_per_sub_min": round(min(vrx)) if vrx else None,
            "video_pps_per_sub_mean": round(sum(vrx) / len(vrx)) if vrx else None,
            "lost": lost,
            "latency_samples": sum(hist),
            "lat_p50_ms": percentile(hist, h1["bounds_us"], 0.5),
            "lat_p95_ms": percentile(hist, h1["bounds_us"], 0.95),
            "pub_plis_rx": ps.get("plis_rx"),
            "pub_nacks_rx": ps.get("nacks_rx"),
        }
    finally:
        await ad.stop()
        lg.close()


async def wait_state(lg, peers: list[int], timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        states = [lg.state(p) for p in peers]
        if all(s["dtls"] == "connected" for s in states):
            return
        if any("failed" in (s["ice"], s["dtls"]) for s in states) or time.monotonic() > deadline:
            raise RuntimeError(f"peers not connected: {states}")
        await asyncio.sleep(0.05)


async def point_aiortc(mode: str, n: int, seconds: float, core: int, workdir: Path) -> dict:
    import aiohttp
    from aiortc import rtcrtpreceiver
    from aiortc.codecs import vpx

    from bench.servers import aiortc_client, aiortc_sfu

    aiortc_sfu.loopback_only_ice()
    rtcrtpreceiver.decoder_worker = aiortc_sfu.passthrough_worker  # subscribers count frames, no decoding
    vpx.DEFAULT_BITRATE = 2_000_000
    ad = AiortcAdapter(mode, {})
    await ad.start(core, workdir)
    try:
        async with aiohttp.ClientSession() as session:
            pub = await aiortc_client.publish(
                session, ad.base, "room", "pub", video=aiortc_client.MovingPattern(640, 480, 30)
            )
            await pub.connected()
            subs = [await aiortc_client.subscribe(session, ad.base, "room", f"s{i}") for i in range(n)]
            for s in subs:
                await s.connected()
            await asyncio.sleep(4)
            pid = ad.pids[0]
            c0, e0, t0 = proc_cpu_us(pid), ad.egress_counters(), time.monotonic()
            f0 = [s.frames.get("video", 0) for s in subs]
            await asyncio.sleep(seconds)
            c1, e1, t1 = proc_cpu_us(pid), ad.egress_counters(), time.monotonic()
            f1 = [s.frames.get("video", 0) for s in subs]
            dt = t1 - t0
            fps = [(b - a) / dt for a, b in zip(f0, f1, strict=True)]
            for s in subs:
                await s.close()
            await pub.close()
        return {
            "mode": mode,
            "subs": n,
            "cpu_pct": round((c1 - c0) / dt / 1e4, 1),
            "egress_pps": round((e1["tx_packets"] - e0["tx_packets"]) / dt),
            "egress_kbps": round((e1["tx_bytes"] - e0["tx_bytes"]) * 8 / dt / 1e3),
            "video_fps_per_sub_min": round(min(fps), 1),
            "video_fps_per_sub_mean": round(sum(fps) / len(fps), 1),
        }
    finally:
        await ad.stop()


async def run(args: argparse.Namespace) -> list[dict]:
    global STRIP, AUDIO
    AUDIO = not args.no_audio
    STRIP = {"auto": None, "on": True, "off": False}[args.strip_trailer]
    os.sched_setaffinity(0, {args.client_core})
    workdir = Path(tempfile.mkdtemp(prefix="aiortc_fanout_"))
    fn = point_loadgen if args.driver == "loadgen" else point_aiortc
    out = []
    for mode in args.modes.split(","):
        for n in (int(x) for x in args.subs.split(",")):
            try:
                r = await fn(mode, n, args.seconds, args.server_core, workdir)
            except Exception as e:  # one failed point does not stop the sweep
                r = {"mode": mode, "subs": n, "error": repr(e)}
            r["driver"] = args.driver
            if args.driver == "loadgen":
                r["strip_trailer"] = args.strip_trailer
                r["audio"] = not args.no_audio
            print(json.dumps(r), flush=True)
            out.append(r)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modes", default="relay,passthrough")
    ap.add_argument("--subs", default="10,20,50")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--driver", choices=("loadgen", "aiortc"), default="loadgen")
    ap.add_argument("--server-core", type=int, default=0)
    ap.add_argument("--client-core", type=int, default=1)
    ap.add_argument(
        "--strip-trailer",
        choices=("auto", "on", "off"),
        default="auto",
        help="the server drops the load generator's trailers on receipt (auto: in relay mode)",
    )
    ap.add_argument("--no-audio", action="store_true", help="load generator publishes video only")
    ap.add_argument("--out", type=Path, help="also write the points as JSON here")
    args = ap.parse_args()
    res = asyncio.run(run(args))
    if args.out:
        args.out.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
