#!/usr/bin/env python3
"""Join storm (issue 18): N media attendees join one webinar at R a second, as at a webinar's start time.

For each W of --workers a fresh ``mediaserver serve`` with W media workers (``room_worker_share`` ceil(N / W),
so the storm spreads over all of them) takes one publisher (the native load generator: Opus and VP8 in
three simulcast layers, answering keyframe requests with its next keyframe) and then N subscribers at
--rate joins a second, through ``python -m bench.loadtest``. Reported per W, from the tester's JSON:

* how many subscribers joined, received media, and received video;
* p50/p95/p99 from just before each subscriber's WebSocket connect to its signaling done, its first media
  packet, and its first video packet (the server starts a video consumer on a keyframe, so that is the
  first frame's first packet);
* the keyframe requests (PLI/FIR) that reached the publisher per simulcast layer over the whole run: how
  many, the most within any one second, the shortest gap between two (the bar: at most one a second per
  layer whatever the audience);
* each media worker's share of a core over the run (``mediaserver_worker_cpu_seconds_total``).

Results go to bench/results/join_storm.json. The server and the tester share this machine's CPUs (nothing is
pinned): on a 2-core machine the storm's figures include that contention.

    python -m bench.join_storm                               # N = 1000 at 100/s, W = 1 and 2
    python -m bench.join_storm --subscribers 300 --rate 50 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.lib import results
from bench.scale import ROOT, metrics, server, worker_cpu

RESULTS = ROOT / "bench" / "results" / "join_storm.json"


def run_one(w: int, args: argparse.Namespace, tmp: Path, k: int) -> dict[str, Any]:
    share = str(max(1, -(-args.subscribers // w)))
    with server(w, None, tmp, f"w{w}-{k}", room_worker_share=share) as (base, key, secret):
        out = tmp / f"storm-w{w}-{k}.json"
        before, t0 = worker_cpu(metrics(base, key)), time.monotonic()
        # --secret=... and --metrics-token=...: a generated value may begin with "-"
        cmd = [
            sys.executable, "-m", "bench.loadtest", "--url", base,
            "--room", f"storm{w}", f"--secret={secret}",
            f"--metrics-token={key}", "--publishers", "1", "--subscribers", str(args.subscribers),
            "--join-rate", str(args.rate), "--concurrency", str(args.concurrency),
            "--duration", str(args.duration), "--warmup", "0", "--steady-timeout", "0",
            "--join-timeout", str(args.join_timeout), "--clip", args.clip,
            "--verify-every", "10", "--json", str(out),
        ]  # fmt: skip
        print(f"W={w} run {k + 1}: {args.subscribers} subscribers at {args.rate:g}/s", flush=True)
        subprocess.run(
            cmd,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=args.subscribers / args.rate + args.join_timeout + args.duration + 180,
        )
        after, t1 = worker_cpu(metrics(base, key)), time.monotonic()
        doc = json.loads(out.read_text())
    kreq = doc["keyframe_requests"]
    return {
        "workers": w,
        "run": k + 1,
        "subscribers": args.subscribers,
        "joined": doc["subscribers_joined"],
        "receiving": doc["subscribers_receiving"],
        "with_video": doc["subscribers_with_video"],
        "join_errors": doc["join_errors"][:10],
        "signaling_ms": doc["signaling_ms"],
        "first_media_ms": doc["join_ms"],
        "first_video_ms": doc["first_video_ms"],
        "keyframe_requests": kreq,
        "max_requests_in_1s": max((x["max_in_1s"] for x in kreq), default=0),
        "worker_cpu_share": {n: round((after[n] - before.get(n, 0.0)) / (t1 - t0), 3) for n in after},
        "seconds": round(t1 - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--workers", default="1,2", help="the W to run, comma-separated (default 1,2)")
    ap.add_argument("--subscribers", type=int, default=1000, help="N (default 1000)")
    ap.add_argument("--rate", type=float, default=100.0, help="joins a second (default 100)")
    ap.add_argument("--runs", type=int, default=1, help="runs of each W, interleaved (default 1)")
    ap.add_argument("--duration", type=float, default=3.0, help="the tester's window after the joins (3 s)")
    ap.add_argument("--concurrency", type=int, default=64, help="subscribers signalling at once (64)")
    ap.add_argument("--join-timeout", type=float, default=60.0, help="bound on the joins (60 s)")
    ap.add_argument("--clip", choices=("encoded", "synthetic"), default="synthetic")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    ws = [int(x) for x in args.workers.split(",") if x.strip()]
    if not ws or any(w < 1 for w in ws) or not 1 <= args.subscribers <= 5000 or not 1 <= args.runs <= 10:
        raise SystemExit("--workers: numbers from 1; --subscribers 1..5000; --runs 1..10")
    if not 1 <= args.rate <= 1000:
        raise SystemExit("--rate 1..1000")
    runs = []
    with tempfile.TemporaryDirectory(prefix="storm-") as t:
        for k in range(args.runs):
            for w in ws:
                runs.append(run_one(w, args, Path(t), k))
    print()
    head = ("W", "run", "video", "first video p50/p95/p99 ms", "signaling p95", "PLI/s max", "CPU")
    print(f"{head[0]:>3} {head[1]:>3} {head[2]:>11} {head[3]:>28} {head[4]:>13} {head[5]:>9} {head[6]}")
    for r in runs:
        v, s = r["first_video_ms"], r["signaling_ms"]
        pct = "/".join("-" if v[q] is None else f"{v[q]:,.0f}" for q in ("p50", "p95", "p99"))
        cpu = " ".join(f"{x:.2f}" for x in r["worker_cpu_share"].values())
        print(
            f"{r['workers']:>3} {r['run']:>3} {r['with_video']:>5}/{r['subscribers']:<5} {pct:>28} "
            f"{s['p95'] or 0:>13,.0f} {r['max_requests_in_1s']:>9} {cpu}"
        )
    results.write(args.out, args, runs=runs)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
