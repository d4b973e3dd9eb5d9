"""Egress packets per second per core of the C floor, per send mode.

    python -m bench.floor.measure [--receivers 400] [--pps 300] [--size 1100] [--seconds 6]

The floor runs pinned to ``--floor-core``, the driver (``drive.c``: one sender, N receivers that
drain their sockets) to ``--driver-core``. Rates come from two snapshots of the floor's stats file
(written once a second), so ``cpu`` is the floor's own utime+stime over the same interval as its
``tx_packets``; ``pps/core`` = egress pps / cpu share.
"""
from __future__ import annotations

import argparse
import json
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from bench.floor import MODES, build, build_driver


def _stats(path: Path) -> dict:
    return json.loads(path.read_text())


def _wait_update(path: Path, after: float, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = _stats(path)
        if st["uptime_s"] > after:
            return st
        time.sleep(0.02)
    raise RuntimeError("floor stats stalled")


def run(mode: str, *, receivers: int, pps: int, size: int, fps: int, seconds: float,
        floor_core: int, driver_core: int, workdir: Path) -> dict:
    stats_path = workdir / f"stats-{mode}.json"
    floor = subprocess.Popen(["taskset", "-c", str(floor_core), str(build()), "--port", "0", "--seed", "m",
                              "--mode", mode, "--stats", str(stats_path)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while not stats_path.exists():
            if time.monotonic() > deadline or floor.poll() is not None:
                raise RuntimeError("floor did not start")
            time.sleep(0.01)
        port = _stats(stats_path)["port"]
        driver = subprocess.Popen(["taskset", "-c", str(driver_core), str(build_driver()), "--port", str(port),
                                   "--seed", "m", "--receivers", str(receivers), "--pps", str(pps),
                                   "--size", str(size), "--fps", str(fps), "--seconds", str(seconds)],
                                  stdout=subprocess.PIPE, text=True)
        s0 = _wait_update(stats_path, _stats(stats_path)["uptime_s"] + 1.5)   # warm-up: skip ~1.5 s
        time.sleep(max(0.5, seconds - 2.5))
        s1 = _wait_update(stats_path, _stats(stats_path)["uptime_s"])
        out, _ = driver.communicate(timeout=seconds + 30)
        drv = json.loads(out)
    finally:
        floor.send_signal(signal.SIGTERM)
        floor.wait(5)
    dt = s1["uptime_s"] - s0["uptime_s"]
    tx = (s1["tx_packets"] - s0["tx_packets"]) / dt
    cpu = (s1["cpu_us"] - s0["cpu_us"]) / 1e6 / dt
    return {
        "mode": mode, "receivers": receivers, "ingress_pps": round((s1["rx_rtp"] - s0["rx_rtp"]) / dt),
        "demand_pps": pps * receivers, "egress_pps": round(tx), "floor_cpu": round(cpu, 3),
        "sys_share": round((s1["stime_us"] - s0["stime_us"]) / max(1, s1["cpu_us"] - s0["cpu_us"]), 3),
        "pps_per_core": round(tx / cpu) if cpu > 0 else None,
        "syscalls_per_s": round((s1["tx_syscalls"] - s0["tx_syscalls"]) / dt),
        "egress_mbps": round((s1["tx_bytes"] - s0["tx_bytes"]) * 8 / dt / 1e6, 1),
        "driver_rx_share": round(drv["rx_packets"] / max(1, drv["sent"] * receivers), 4),
        "driver": drv,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--receivers", type=int, default=400)
    ap.add_argument("--pps", type=int, nargs="+", default=[300])
    ap.add_argument("--size", type=int, default=1100)
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--floor-core", type=int, default=0)
    ap.add_argument("--driver-core", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="one JSON object per run instead of a table")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if not a.json:
            print(f"{'mode':9} {'demand':>8} {'egress':>8} {'cpu':>6} {'sys':>5} {'pps/core':>9} "
                  f"{'syscall/s':>9} {'Mbit/s':>7} {'delivered':>9}")
        for pps in a.pps:
            for mode in a.modes.split(","):
                r = run(mode, receivers=a.receivers, pps=pps, size=a.size, fps=a.fps, seconds=a.seconds,
                        floor_core=a.floor_core, driver_core=a.driver_core, workdir=Path(tmp))
                if a.json:
                    print(json.dumps(r))
                else:
                    print(f"{mode:9} {r['demand_pps']:>8} {r['egress_pps']:>8} {r['floor_cpu']:>6.2f} "
                          f"{r['sys_share']:>5.2f} {r['pps_per_core'] or 0:>9} {r['syscalls_per_s']:>9} "
                          f"{r['egress_mbps']:>7} {r['driver_rx_share']:>9.3f}", flush=True)


if __name__ == "__main__":
    main()
