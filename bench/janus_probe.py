"""A quick fan-out probe of Janus through bench/adapters/janus.py and the native load generator.

One load-generator publisher (Opus + VP8 simulcast q/h/f of synthetic frames: ~150 kbit/s,
~500 kbit/s, ~1.5 Mbit/s at 30 fps) and N load-generator subscribers (top layer). After the joins
settle it samples, over ``--window`` seconds: Janus's CPU (utime+stime from /proc, per thread too)
and its run-queue wait (schedstat: time it was runnable but another process had the core), the
egress packet rate (the subscribers' received packets), losses, NACKs, the latency percentiles,
and the CPU of the harness's own threads (to show which side is the bottleneck).

    PYTHONPATH=. taskset -c 0 python -m bench.janus_probe --core 1 50 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

from bench.adapters.base import Media
from bench.adapters.janus import JanusAdapter
from bench.lib.procstat import proc_cpu_us, thread_cpu_us


def vp8_clip(lg, size: int, frames: int = 30, fps: int = 30) -> int:
    """VP8-looking frames of random bytes (descriptor 0x10; keyframe header on frame 0)."""
    out = []
    for i in range(frames):
        body = bytearray(os.urandom(size))
        if i == 0:
            body[0:10] = bytes([0x10, 0x00, 0x00, 0x9D, 0x01, 0x2A, 0x40, 0x01, 0xF0, 0x00])
        else:
            body[0] |= 0x01
        chunks = [bytes(body[j : j + 1100]) for j in range(0, len(body), 1100)]
        out.append(
            (
                i * 1_000_000 // fps,
                90000 // fps,
                i == 0,
                [(b"\x10" if k == 0 else b"\x00") + c for k, c in enumerate(chunks)],
            )
        )
    return lg.load_clip(out, clock_rate=90000)


def opus_clip(lg, frames: int = 50) -> int:
    return lg.load_clip(
        [(i * 20_000, 960, True, [b"\xf8" + os.urandom(79)]) for i in range(frames)], clock_rate=48000
    )


def run_wait_ns(pid: int) -> int:
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            pass
    return total


def percentile(hist: list[int], bounds: list[float], q: float) -> int | None:
    n, acc = sum(hist), 0
    for c, u in zip(hist, bounds, strict=True):
        acc += c
        if n and acc >= q * n:
            return round(u)
    return None


async def probe(nsubs: int, core: int, window: float, workdir: Path) -> dict:
    from bench.loadgen import Loadgen

    lg = Loadgen(bind_ip="127.0.0.1", verify_every=1)
    clips = {"audio": opus_clip(lg), "q": vp8_clip(lg, 600), "h": vp8_clip(lg, 2000), "f": vp8_clip(lg, 6000)}
    ad = JanusAdapter(clips)
    await ad.start(core, workdir)
    try:
        await ad.create_room("probe", 1)
        pub = await ad.publish(lg, "probe", "pub", Media())
        lg.start_all()
        sem = asyncio.Semaphore(16)

        async def one(i: int):
            async with sem:
                return await ad.subscribe(lg, "probe", f"s{i}", [pub])

        t0 = time.monotonic()
        subs = await asyncio.gather(*[one(i) for i in range(nsubs)])
        t_sig = time.monotonic() - t0
        await asyncio.sleep(3)

        def snap():
            st = [lg.peer_stats(s.lg_peer) for s in subs]
            return dict(
                t=time.monotonic(),
                cpu=proc_cpu_us(ad.pids[0]),
                wait=run_wait_ns(ad.pids[0]),
                rx=sum(s["rx_packets"] for s in st),
                lost=sum(s["lost"] for s in st),
                nacks=sum(s["nacks_tx"] for s in st),
                tot=lg.totals(),
                jt=thread_cpu_us(ad.pids[0]),
                ht=thread_cpu_us(os.getpid()),
            )

        a = snap()
        await asyncio.sleep(window)
        b = snap()
        dt = b["t"] - a["t"]

        def threads(key: str) -> dict[str, float]:
            out = {}
            for tid, (name, us) in b[key].items():
                pct = round((us - a[key].get(tid, (name, 0))[1]) / 1e6 / dt * 100, 1)
                if pct > 1:
                    out[f"{name}/{tid}"] = pct
            return out

        hist = [y - x for x, y in zip(a["tot"]["latency_hist"], b["tot"]["latency_hist"], strict=True)]
        bounds = b["tot"]["bounds_us"]
        res = dict(
            subs=nsubs,
            connected=sum(lg.state(s.lg_peer)["dtls"] == "connected" for s in subs),
            signal_s=round(t_sig, 2),
            janus_cpu_pct=round((b["cpu"] - a["cpu"]) / 1e6 / dt * 100, 1),
            janus_runqueue_wait_pct=round((b["wait"] - a["wait"]) / 1e9 / dt * 100, 1),
            egress_pps=round((b["rx"] - a["rx"]) / dt),
            per_sub_pps=round((b["rx"] - a["rx"]) / dt / nsubs, 1),
            lost=b["lost"] - a["lost"],
            nacks=b["nacks"] - a["nacks"],
            lat_p50_us=percentile(hist, bounds, 0.5),
            lat_p99_us=percentile(hist, bounds, 0.99),
            janus_threads_cpu_pct=threads("jt"),
            harness_threads_cpu_pct=threads("ht"),
        )
        await asyncio.gather(*[ad.leave(s) for s in subs])
        await ad.leave(pub)
        return res
    finally:
        await ad.stop()
        lg.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("subscribers", type=int, nargs="+")
    ap.add_argument("--core", type=int, default=(os.cpu_count() or 1) - 1, help="the core Janus is pinned to")
    ap.add_argument("--window", type=float, default=10.0)
    args = ap.parse_args()
    for n in args.subscribers:
        with tempfile.TemporaryDirectory(prefix="janus-probe-") as d:
            print(json.dumps(asyncio.run(probe(n, args.core, args.window, Path(d)))), flush=True)


if __name__ == "__main__":
    main()
