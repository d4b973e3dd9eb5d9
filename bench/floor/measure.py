"""Egress packets per second per core of the C floor, per send mode.

    python -m bench.floor.measure [--receivers 400] [--pps 300] [--size 1100] [--seconds 6]

The floor runs pinned to ``--floor-core``, the driver (``drive.c``: one sender, N receivers that
drain their sockets) to ``--driver-core``. Rates come from two snapshots of the floor's stats file
(written once a second), so ``cpu`` is the floor's own utime+stime over the same interval as its
``tx_packets`` and ``pps/cpu`` = egress pps / that share. On loopback the kernel delivers into the
receivers' sockets in softirq on the sending core; under load part of it is deferred to
``ksoftirqd/<core>`` and leaves the floor's own time, so ``pps/core`` = egress pps / (floor +
ksoftirqd share) is the fairer number. Keep other load off both cores: it slows the floor down.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from bench.floor import MODES, build, build_driver


def _stats(path: Path) -> dict:
    return json.loads(path.read_text())


def _ksoftirqd_us(core: int) -> int:
    """CPU time (µs) of ksoftirqd/<core>: loopback delivery the kernel deferred out of the floor."""
    hz = os.sysconf("SC_CLK_TCK")
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "comm").read_text().strip() == f"ksoftirqd/{core}":
                    f = (d / "stat").read_text().rsplit(")", 1)[1].split()
                    return (int(f[11]) + int(f[12])) * 1_000_000 // hz
            except OSError:
                continue
    return 0


def _wait_update(path: Path, after: float, core: int, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = _stats(path)
        if st["uptime_s"] > after:
            st["ksoftirqd_us"] = _ksoftirqd_us(core)
            return st
        time.sleep(0.01)
    raise RuntimeError("floor stats stalled")


def run(
    mode: str,
    *,
    receivers: int,
    pps: int,
    size: int,
    fps: int,
    seconds: float,
    floor_core: int,
    driver_core: int,
    workdir: Path,
) -> dict:
    stats_path = workdir / f"stats-{mode}.json"
    stats_path.unlink(missing_ok=True)  # its appearance is the floor's "ready"
    floor = subprocess.Popen(
        [
            "taskset",
            "-c",
            str(floor_core),
            str(build()),
            "--port",
            "0",
            "--seed",
            "m",
            "--mode",
            mode,
            "--stats",
            str(stats_path),
        ],
        stderr=subprocess.DEVNULL,
    )
    driver = None
    try:
        deadline = time.monotonic() + 5
        while not stats_path.exists():
            if time.monotonic() > deadline or floor.poll() is not None:
                raise RuntimeError("floor did not start")
            time.sleep(0.01)
        port = _stats(stats_path)["port"]
        driver = subprocess.Popen(
            [
                "taskset",
                "-c",
                str(driver_core),
                str(build_driver()),
                "--port",
                str(port),
                "--seed",
                "m",
                "--receivers",
                str(receivers),
                "--pps",
                str(pps),
                "--size",
                str(size),
                "--fps",
                str(fps),
                "--seconds",
                str(seconds),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        s0 = _wait_update(stats_path, _stats(stats_path)["uptime_s"] + 1.5, floor_core)  # warm-up
        time.sleep(max(0.5, seconds - 3.5))
        s1 = _wait_update(stats_path, _stats(stats_path)["uptime_s"], floor_core)
        out, _ = driver.communicate(timeout=seconds + 30)
        drv = json.loads(out)
    finally:
        if driver is not None and driver.poll() is None:
            driver.terminate()
            driver.wait(10)
        floor.send_signal(signal.SIGTERM)
        try:
            floor.wait(15)
        except subprocess.TimeoutExpired:
            floor.kill()
            floor.wait()
    dt = s1["uptime_s"] - s0["uptime_s"]
    tx = (s1["tx_packets"] - s0["tx_packets"]) / dt
    cpu = (s1["cpu_us"] - s0["cpu_us"]) / 1e6 / dt
    soft = (s1["ksoftirqd_us"] - s0["ksoftirqd_us"]) / 1e6 / dt
    return {
        "mode": mode,
        "receivers": receivers,
        "ingress_pps": round((s1["rx_rtp"] - s0["rx_rtp"]) / dt),
        "demand_pps": pps * receivers,
        "egress_pps": round(tx),
        "floor_cpu": round(cpu, 3),
        "sys_share": round((s1["stime_us"] - s0["stime_us"]) / max(1, s1["cpu_us"] - s0["cpu_us"]), 3),
        "ksoftirqd_cpu": round(soft, 3),
        "pps_per_cpu": round(tx / cpu) if cpu > 0 else None,  # the floor's own rusage
        "pps_per_core": round(tx / (cpu + soft)) if cpu + soft > 0 else None,  # + deferred softirq
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
            print(
                f"{'mode':9} {'demand':>8} {'egress':>8} {'cpu':>6} {'sys':>5} {'pps/cpu':>8} {'ksoft':>5} "
                f"{'pps/core':>9} "
                f"{'syscall/s':>9} {'Mbit/s':>7} {'delivered':>9}"
            )
        for pps in a.pps:
            for mode in a.modes.split(","):
                r = run(
                    mode,
                    receivers=a.receivers,
                    pps=pps,
                    size=a.size,
                    fps=a.fps,
                    seconds=a.seconds,
                    floor_core=a.floor_core,
                    driver_core=a.driver_core,
                    workdir=Path(tmp),
                )
                if a.json:
                    print(json.dumps(r))
                else:
                    print(
                        f"{mode:9} {r['demand_pps']:>8} {r['egress_pps']:>8} {r['floor_cpu']:>6.2f} "
                        f"{r['sys_share']:>5.2f} {r['pps_per_cpu'] or 0:>8} {r['ksoftirqd_cpu']:>5.2f} "
                        f"{r['pps_per_core'] or 0:>9} {r['syscalls_per_s']:>9} "
                        f"{r['egress_mbps']:>7} {r['driver_rx_share']:>9.3f}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
