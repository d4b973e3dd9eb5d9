"""CPU and socket accounting from /proc, the server's Prometheus counters, and stopping a server process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from dataclasses import dataclass

CLK_TCK = os.sysconf("SC_CLK_TCK")


def terminate(p: subprocess.Popen | None, grace: float = 10) -> None:
    """SIGTERM a still running ``p`` and wait ``grace`` seconds for it to exit; then kill it."""
    if p is not None and p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def _fields_after_comm(text: str) -> list[str]:
    return text[text.rindex(")") + 2 :].split()


def proc_cpu_us(pid: int) -> int:
    """utime + stime of a whole process (all threads) from /proc/<pid>/stat, in microseconds."""
    with open(f"/proc/{pid}/stat") as f:
        fs = _fields_after_comm(f.read())
    # fields after ") ": state(3) ... utime is field 14, stime 15 (1-based in proc(5)) -> index 11, 12
    return (int(fs[11]) + int(fs[12])) * 1_000_000 // CLK_TCK


def proc_runtime_ns(pid: int) -> int:
    """Sum over threads of the scheduler's run time (/proc/<pid>/task/*/schedstat), in nanoseconds;
    finer than the clock ticks of /proc/<pid>/stat, used as a cross-check."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            pass
    return total


def thread_cpu_us(pid: int) -> dict[int, tuple[str, int]]:
    """{tid: (name, utime+stime in us)} of every thread of pid."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                text = f.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fs = _fields_after_comm(text)
        out[int(tid)] = (name, (int(fs[11]) + int(fs[12])) * 1_000_000 // CLK_TCK)
    return out


def affinity_of_threads(pid: int) -> set[str]:
    """The distinct Cpus_allowed_list values of pid's threads."""
    out = set()
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("Cpus_allowed_list:"):
                        out.add(line.split(":", 1)[1].strip())
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


@dataclass
class CoreTimes:
    busy: int  # ticks: user nice system irq softirq steal
    total: int  # busy + idle + iowait
    softirq: int


def core_times() -> dict[int, CoreTimes]:
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            m = re.match(r"cpu(\d+)\s", line)
            if not m:
                continue
            v = [int(x) for x in line.split()[1:]]
            user, nice, system, idle, iowait, irq, softirq, steal = (v + [0] * 8)[:8]
            busy = user + nice + system + irq + softirq + steal
            out[int(m.group(1))] = CoreTimes(busy, busy + idle + iowait, softirq)
    return out


def udp_snmp() -> dict[str, int]:
    """The Udp: line of /proc/net/snmp (InDatagrams, RcvbufErrors, SndbufErrors, ...)."""
    with open("/proc/net/snmp") as f:
        lines = [line.split() for line in f if line.startswith("Udp:")]
    return {k: int(v) for k, v in zip(lines[0][1:], lines[1][1:], strict=False)}


def socket_inodes(pid: int) -> set[int]:
    out = set()
    d = f"/proc/{pid}/fd"
    for fd in os.listdir(d):
        try:
            target = os.readlink(f"{d}/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(int(target[8:-1]))
    return out


def udp_sockets(pid: int, inodes: set[int] | None = None) -> dict[str, int]:
    """Kernel view of pid's UDP sockets (/proc/net/udp): count, queued receive bytes, drops."""
    inodes = socket_inodes(pid) if inodes is None else inodes
    n = rxq = drops = 0
    with open("/proc/net/udp") as f:
        next(f)
        for line in f:
            fs = line.split()
            if len(fs) < 13 or int(fs[9]) not in inodes:
                continue
            n += 1
            rxq += int(fs[4].split(":")[1], 16)
            drops += int(fs[12])
    return {"sockets": n, "rx_queue_bytes": rxq, "drops": drops}


_METRIC_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([-+0-9.eEinfINFNa]+)$")


def parse_prometheus(text: str) -> dict[str, float]:
    """{'name{labels}': value} of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _METRIC_RE.match(line.strip())
        if m:
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def udp_rx_queues(groups: dict[str, set[int]]) -> dict[str, int]:
    """Queued receive bytes summed per group of socket inodes, in one pass over /proc/net/udp."""
    out = dict.fromkeys(groups, 0)
    owner = {ino: g for g, inos in groups.items() for ino in inos}
    with open("/proc/net/udp") as f:
        next(f)
        for line in f:
            fs = line.split()
            if len(fs) < 10:
                continue
            g = owner.get(int(fs[9]))
            if g is not None:
                out[g] += int(fs[4].split(":")[1], 16)
    return out


def ipis() -> dict[str, list[int]]:
    """Per-CPU counts of the inter-processor interrupts that cross-core wake-ups cause (RES, CAL)."""
    out = {}
    with open("/proc/interrupts") as f:
        ncpu = len(f.readline().split())
        for line in f:
            fs = line.split()
            if fs and fs[0] in ("RES:", "CAL:"):
                out[fs[0][:-1]] = [int(x) for x in fs[1 : 1 + ncpu]]
    return out


def ctx_switches(pid: int) -> tuple[int, int]:
    """(voluntary, involuntary) context switches summed over pid's threads."""
    vol = inv = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        vol += int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches:"):
                        inv += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return vol, inv


async def wait_quiet(max_wait: float, threshold: float = 0.15) -> tuple[float, float]:
    """Other work shares this machine: wait, bounded, until all cores together are less than
    ``threshold`` busy over one second. Returns (waited s, last busy cores)."""
    import asyncio
    import time

    t0 = time.monotonic()
    while True:
        a = core_times()
        await asyncio.sleep(1.0)
        b = core_times()
        busy = sum((b[c].busy - a[c].busy) / max(1, b[c].total - a[c].total) for c in b if c in a)
        if busy < threshold or time.monotonic() - t0 >= max_wait:
            return round(time.monotonic() - t0, 1), round(busy, 3)
