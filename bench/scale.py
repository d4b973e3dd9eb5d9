#!/usr/bin/env python3
"""The scaling test (issue 18): the server with W media workers pinned to W cores, the load elsewhere.

For each W of --workers: a fresh ``mediaserver serve`` is started on the first W CPUs this process may use
(``taskset`` by sched_setaffinity; ``workers: W``, ``pin_workers: true``, so worker i runs on the i-th of
them, and ``room_worker_share`` ceil(N / W), so one webinar of N subscribers spreads over all W workers);
the load tester (``python -m bench.loadtest``: 1 publisher, N subscribers) runs on the CPUs left. From the
tester's window and the server's own /metrics around it:

* received packets a second (all subscribers), loss, latency p50/p99;
* each worker's CPU share over the tester's run (``mediaserver_worker_cpu_seconds_total``), their sum, and
  the packets received per busy worker core;
* the speed-up: received packets a second against the W = 1 run of the same invocation.

A W for which fewer than W + 1 CPUs are available is skipped (the tester needs a core of its own).
Results go to bench/results/scale.json. Compare figures within one run only; the speed-up shows only where
N saturates one worker's core (raise --subscribers until the W = 1 run's worker is near 1.0 of a core).

    python -m bench.scale --workers 1,2,4,8 --subscribers 800 --duration 20
    python -m bench.scale                      # W = 1, 100 subscribers, 10 s: what a 2-core machine runs
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.lib import results

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "scale.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metrics(base: str, key: str) -> str:
    req = urllib.request.Request(base + "/metrics", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return str(r.read().decode())


def worker_cpu(text: str) -> dict[str, float]:
    """Each worker's CPU seconds from /metrics."""
    return {
        m.group(1): float(m.group(2))
        for m in re.finditer(r'^mediaserver_worker_cpu_seconds_total\{worker="(\d+)"\} (\S+)$', text, re.M)
    }


@contextlib.contextmanager
def server(
    w: int, cpus: set[int] | None, tmp: Path, name: str, **settings: str
) -> Iterator[tuple[str, str, str]]:
    """``mediaserver serve`` with W media workers (pinned to ``cpus`` when given, else on any CPU), other
    MEDIASERVER_* ``settings``, its data and log under ``tmp``; yields (base URL, API key, secret) once it
    answers, and stops it after."""
    port, secret, key = free_port(), secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "MEDIASERVER_HTTP_PORT": str(port),
        "MEDIASERVER_RTC_PORT": "0",
        "MEDIASERVER_DATA_DIR": str(tmp / name),
        "MEDIASERVER_SECRET": secret,
        "MEDIASERVER_API_KEY": key,
        "MEDIASERVER_WORKERS": str(w),
        "MEDIASERVER_PIN_WORKERS": "true" if cpus else "false",
        "MEDIASERVER_LOG_JSON": "false",
        "PYTHONPATH": str(ROOT),
        **{"MEDIASERVER_" + k.upper(): v for k, v in settings.items()},
    }
    log = (tmp / f"server-{name}.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mediaserver.cli", "serve"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 30
        while True:  # bounded: 30 s for the server to answer
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > end or proc.poll() is not None:
                    raise SystemExit(f"the server with {w} workers did not start: see {log.name}") from None
                time.sleep(0.2)
        yield base, key, secret
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def run_one(w: int, cpus: list[int], args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    server_cpus, tester_cpus = set(cpus[:w]), set(cpus[w:])
    share = str(max(1, math.ceil(args.subscribers / w)))
    with server(w, server_cpus, tmp, f"w{w}", room_worker_share=share) as (base, key, secret):
        out = tmp / f"loadtest-w{w}.json"
        before, t0 = worker_cpu(metrics(base, key)), time.monotonic()
        # --secret=... and --metrics-token=...: a generated value may begin with "-"
        cmd = [
            sys.executable, "-m", "bench.loadtest", "--url", base,
            "--room", f"scale{w}", f"--secret={secret}",
            f"--metrics-token={key}", "--publishers", "1", "--subscribers", str(args.subscribers),
            "--duration", str(args.duration), "--clip", args.clip, "--json", str(out),
        ]  # fmt: skip
        print(f"W={w}: server on CPUs {sorted(server_cpus)}, the tester on {sorted(tester_cpus)}", flush=True)
        subprocess.run(
            cmd,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=True,
            timeout=args.duration + 180,
            preexec_fn=lambda: os.sched_setaffinity(0, tester_cpus),
        )
        after, t1 = worker_cpu(metrics(base, key)), time.monotonic()
        doc = json.loads(out.read_text())
    shares = {k: round((after[k] - before.get(k, 0.0)) / (t1 - t0), 3) for k in after}
    win = doc["window"] or {}
    busy = sum(shares.values())
    pps = win.get("received_packets_per_s", 0.0)
    return {
        "workers": w,
        "server_cpus": sorted(server_cpus),
        "subscribers_receiving": doc["subscribers_receiving"],
        "received_packets_per_s": pps,
        "loss_pct": win.get("loss_pct"),
        "latency_ms": win.get("latency_ms"),
        "worker_cpu_share": shares,
        "busy_cores": round(busy, 3),
        "packets_per_busy_core": round(pps / busy, 1) if busy else None,
        "server_comparison": doc.get("server"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--workers", default="1", help="the W to run, comma-separated (default 1)")
    ap.add_argument("--subscribers", type=int, default=100, help="N, in one webinar (default 100)")
    ap.add_argument("--duration", type=float, default=10.0, help="the tester's window, seconds (default 10)")
    ap.add_argument("--clip", choices=("encoded", "synthetic"), default="synthetic")
    args = ap.parse_args()
    ws = [int(x) for x in args.workers.split(",") if x.strip()]
    if not ws or any(w < 1 for w in ws) or not 1 <= args.subscribers <= 5000 or not 1 <= args.duration <= 600:
        raise SystemExit("--workers: numbers from 1; --subscribers 1..5000; --duration 1..600")
    cpus = sorted(os.sched_getaffinity(0))
    runs = []
    with tempfile.TemporaryDirectory(prefix="scale-") as t:
        for w in ws:
            if len(cpus) < w + 1:
                print(f"W={w}: skipped, {len(cpus)} CPUs here and the tester needs one of its own")
                continue
            runs.append(run_one(w, cpus, args, Path(t)))
    base = next((r for r in runs if r["workers"] == 1), None)
    print()
    head = ("W", "received pkt/s", "loss %", "busy cores", "pkt/s per core", "speed-up")
    print(" ".join(f"{h:>{n}}" for h, n in zip(head, (3, 15, 7, 10, 15, 8), strict=True)))
    for r in runs:
        up = (
            r["received_packets_per_s"] / base["received_packets_per_s"]
            if base and base["received_packets_per_s"]
            else None
        )
        r["speed_up"] = None if up is None else round(up, 3)
        print(
            f"{r['workers']:>3} {r['received_packets_per_s']:>15,.0f} {r['loss_pct'] or 0:>7.3f} "
            f"{r['busy_cores']:>10.3f} {r['packets_per_busy_core'] or 0:>15,.0f} "
            f"{'-' if up is None else f'{up:.2f}x':>8}"
        )
    results.write(RESULTS, args, runs=runs)
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
