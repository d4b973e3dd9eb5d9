#!/usr/bin/env python3
"""Fan-out load benchmark: one publisher (pre-encoded VP8 ~2 Mbit/s + Opus) to N subscribers.

For each N the server (``python -m mediaserver.cli serve``) is started afresh, pinned to core 0; this
process (the load generator) pins itself to core 1. The publisher and the N subscribers are native
client transports of ``native._core.Worker`` (one C thread each for the publisher and for all
subscribers; no aiortc peers), signalled over the real WebSocket API. After a warm-up, a measurement
window gives:

* egress packets/s of the server (its tx datagram counter from /metrics) and of RTP delivered to
  the subscribers (sum of their sink counters);
* the server's CPU per egress packet (utime+stime of the server process from /proc/<pid>/stat) and
  its CPU share, hence the egress packets/s one fully busy server core would sustain;
* loss (sequence gaps seen by the subscribers) and p50/p99 latency, receive time minus the
  abs-send-time the publisher stamped (same clock), i.e. server-added latency plus loopback time;
* the load generator's own CPU share, to show it was not the bottleneck.

Media starts once all N subscribers are connected (the clip begins with a keyframe). After the window
one more subscriber joins under load (the "late join" probe: signaling and first-packet times).
The server and this process run a private copy of the server code taken at start (the tree is
shared with people who rebuild the native extension in place); --no-snapshot runs the tree.

Everything is bounded in count and time, traffic stays on 127.0.0.1, and every process and socket is
torn down on exit (also on errors and Ctrl-C). See docs/benchmarks.md.

    python bench/fanout.py                      # N = 50, 100, 200, 400; 10 s windows
    python bench/fanout.py --n 400 --seconds 20 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bench.lib import media, procstat, sdpgen  # noqa: E402
from bench.lib.wsclient import Signal  # noqa: E402
from mediaserver.rtc import sdp, tokens  # noqa: E402

if TYPE_CHECKING:
    from native._core import Worker

SERVER_CORE, LOADGEN_CORE = 0, 1
DEFAULT_NS = (50, 100, 200, 400)
ROOM = "bench-fanout"
DONE_BAR = {"server_core_pps": 100_000, "loss_pct": 0.5}
HIST_BOUNDS: list[tuple[int, int]] = []  # latency histogram buckets, from native._core
CORE: ModuleType | None = None  # native._core, imported by load_native()
NATIVE_DIR: Path | None = None  # the private copy of the server code (see load_native)


def log(msg: str) -> None:
    print(msg, flush=True)


# ------------------------------------------------------------------------------------------ server


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`python -m mediaserver.cli serve` on free loopback ports, pinned to SERVER_CORE."""

    def __init__(self, pin: bool, gso: bool = True) -> None:
        self.gso = gso
        self.port = free_tcp_port()
        self.secret = secrets.token_urlsafe(24)
        self.pin = pin
        self.proc: subprocess.Popen | None = None
        self.log_file = tempfile.NamedTemporaryFile(prefix="fanout-server-", suffix=".log", delete=False)
        self.data_dir = tempfile.mkdtemp(prefix="fanout-server-data-")
        self.base = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = dict(
            os.environ,
            MEDIASERVER_HTTP_PORT=str(self.port),
            MEDIASERVER_HTTP_HOST="127.0.0.1",
            MEDIASERVER_RTC_PORT="0",
            MEDIASERVER_RTC_LISTEN_IP="127.0.0.1",
            MEDIASERVER_ANNOUNCED_IP="127.0.0.1",
            MEDIASERVER_SECRET=self.secret,
            MEDIASERVER_API_KEY=secrets.token_urlsafe(24),
            MEDIASERVER_LOG_LEVEL="WARNING",
            MEDIASERVER_UDP_GSO="true" if self.gso else "false",
            MEDIASERVER_DATA_DIR=self.data_dir,
            PYTHONPATH=str(NATIVE_DIR or ROOT),
        )
        env.pop("MEDIASERVER_CONFIG", None)
        pin = self.pin

        def preexec() -> None:  # in the child, before exec: every later thread inherits the mask
            os.setpgid(0, 0)
            if pin:
                os.sched_setaffinity(0, {SERVER_CORE})

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mediaserver.cli", "serve"],
            cwd=NATIVE_DIR or ROOT,
            env=env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec,
        )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def wait_ready(self, session: aiohttp.ClientSession, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                async with session.get(self.base + "/healthz", timeout=aiohttp.ClientTimeout(total=2)) as r:
                    if r.status == 200:
                        return await r.json()
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                pass
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the server did not answer /healthz within {timeout:.0f} s: {self.log_tail()}")

    def log_tail(self, n: int = 2000) -> str:
        try:
            return Path(self.log_file.name).read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        procstat.terminate(self.proc)
        self.proc = None
        self.log_file.close()
        try:
            os.unlink(self.log_file.name)
        except OSError:
            pass
        import shutil

        shutil.rmtree(self.data_dir, ignore_errors=True)


# ------------------------------------------------------------------------------------------ peers


@dataclass
class Sub:
    signal: Signal
    tid: int


@dataclass
class Snapshot:
    t: float  # when the /proc and sink counters were read
    metrics_t: float  # middle of the /metrics request (the server answers it between packet batches)
    metrics_fetch_s: float
    server_cpu_us: int
    server_runtime_ns: int
    server_threads: dict[int, tuple[str, int]]
    loadgen_cpu_us: int
    loadgen_runtime_ns: int
    cores: dict[int, procstat.CoreTimes]
    metrics: dict[str, float]
    sink_packets: list[int]
    sink_bytes: list[int]
    sink_lost: list[int]
    sink_decrypt_errors: int
    hist: list[int]
    sub_hists: list[list[int]]
    ipis: dict[str, list[int]]
    server_ctx: tuple[int, int]
    loadgen_ctx: tuple[int, int]
    udp_snmp: dict[str, int]
    loadgen_udp: dict[str, int]
    server_udp: dict[str, int]
    pub_stats: dict[str, Any]
    sub_stats: dict[str, Any]
    pacer: media.PacerStats = field(default_factory=media.PacerStats)


def transport_state(w: Worker, tid: int) -> tuple[str, str]:
    s = w.transport_stats(tid)
    return s["ice_state"], s["dtls_state"]


async def wait_connected(w: Worker, tids: list[int], timeout: float, what: str) -> float:
    """Poll until every transport is ICE+DTLS connected; returns the time it took."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    pending = list(tids)
    while pending:
        states = {tid: transport_state(w, tid) for tid in pending}
        failed = [tid for tid, (_, d) in states.items() if d in ("failed", "closed")]
        if failed:
            raise RuntimeError(f"{what}: DTLS failed on {len(failed)} transport(s)")
        pending = [tid for tid, (i, d) in states.items() if not (i == "connected" and d == "connected")]
        if not pending:
            break
        if time.monotonic() > deadline:
            sample = states[pending[0]]
            raise RuntimeError(
                f"{what}: {len(pending)} of {len(tids)} transports not connected after "
                f"{timeout:.0f} s (e.g. ice={sample[0]} dtls={sample[1]})"
            )
        await asyncio.sleep(0.1)
    return time.monotonic() - t0


async def fetch_metrics(session: aiohttp.ClientSession, base: str) -> dict[str, float]:
    """The server's Prometheus counters; {} when /metrics fails (the subscribers' counters remain)."""
    try:
        async with session.get(base + "/metrics", timeout=aiohttp.ClientTimeout(total=10)) as r:
            if r.status != 200:
                log(
                    f"  warning: /metrics answered {r.status}; egress falls back to the subscribers' counters"
                )
                return {}
            return procstat.parse_prometheus(await r.text())
    except (aiohttp.ClientError, asyncio.TimeoutError) as e:
        log(f"  warning: /metrics failed ({e!r}); egress falls back to the subscribers' counters")
        return {}


def out_packets(m: dict[str, float]) -> float:
    return m.get('mediaserver_packets_total{direction="out"}', 0.0)


async def snapshot(
    session: aiohttp.ClientSession,
    server: ServerProcess,
    subw: Worker,
    pubw: Worker,
    subs: list[Sub],
    pacer: media.Pacer | None,
) -> Snapshot:
    m0 = time.monotonic()
    metrics = await fetch_metrics(session, server.base)
    m1 = time.monotonic()
    t = time.monotonic()
    s_cpu, s_rt = procstat.proc_cpu_us(server.pid), procstat.proc_runtime_ns(server.pid)
    l_cpu, l_rt = procstat.proc_cpu_us(os.getpid()), procstat.proc_runtime_ns(os.getpid())
    cores = procstat.core_times()
    stats = [subw.transport_stats(s.tid) for s in subs]
    hist = [0] * 128
    for st in stats:
        for i, v in enumerate(st["latency_hist"]):
            if v:
                hist[i] += v
    pstats = media.PacerStats(**vars(pacer.stats)) if pacer is not None else media.PacerStats()
    return Snapshot(
        t=t,
        metrics_t=(m0 + m1) / 2,
        metrics_fetch_s=m1 - m0,
        server_cpu_us=s_cpu,
        server_runtime_ns=s_rt,
        server_threads=procstat.thread_cpu_us(server.pid),
        loadgen_cpu_us=l_cpu,
        loadgen_runtime_ns=l_rt,
        cores=cores,
        metrics=metrics,
        sink_packets=[st["sink_packets"] for st in stats],
        sink_bytes=[st["sink_bytes"] for st in stats],
        sink_lost=[st["sink_lost"] for st in stats],
        sink_decrypt_errors=sum(st["sink_decrypt_errors"] for st in stats),
        hist=hist,
        sub_hists=[st["latency_hist"] for st in stats],
        ipis=procstat.ipis(),
        server_ctx=procstat.ctx_switches(server.pid),
        loadgen_ctx=procstat.ctx_switches(os.getpid()),
        udp_snmp=procstat.udp_snmp(),
        loadgen_udp=procstat.udp_sockets(os.getpid()),
        server_udp=procstat.udp_sockets(server.pid),
        pub_stats=pubw.stats(),
        sub_stats=subw.stats(),
        pacer=pstats,
    )


def percentile(hist: list[int], q: float) -> float | None:
    """q-quantile (0..1) of a bucketed histogram, interpolating linearly inside the bucket."""
    total = sum(hist)
    if total <= 0:
        return None
    target = q * total
    acc = 0
    for b, c in enumerate(hist):
        if c and acc + c >= target:
            lo, hi = HIST_BOUNDS[b]
            return lo + (hi - lo) * (target - acc) / c
        acc += c
    return float(HIST_BOUNDS[-1][1])


def summarize(
    n: int, a: Snapshot, b: Snapshot, setup: dict[str, float], queues: list[dict[str, int]]
) -> dict[str, Any]:
    dt = b.t - a.t
    dtm = b.metrics_t - a.metrics_t
    tx = out_packets(b.metrics) - out_packets(a.metrics)
    lost = sum(y - x for x, y in zip(a.sink_lost, b.sink_lost, strict=True))
    per_sub = [y - x for x, y in zip(a.sink_packets, b.sink_packets, strict=True)]
    delivered = sum(per_sub)
    egress_source = "metrics"
    if not a.metrics or not b.metrics:
        tx, dtm, egress_source = delivered + lost, dt, "subscribers (RTP delivered + lost; /metrics failed)"
    rx = b.metrics.get('mediaserver_packets_total{direction="in"}', 0) - a.metrics.get(
        'mediaserver_packets_total{direction="in"}', 0
    )
    tx_bytes = b.metrics.get('mediaserver_bytes_total{direction="out"}', 0) - a.metrics.get(
        'mediaserver_bytes_total{direction="out"}', 0
    )
    server_cpu = (b.server_cpu_us - a.server_cpu_us) / 1e6
    server_rt = (b.server_runtime_ns - a.server_runtime_ns) / 1e9
    loadgen_cpu = (b.loadgen_cpu_us - a.loadgen_cpu_us) / 1e6
    hist = [y - x for x, y in zip(a.hist, b.hist, strict=True)]

    def core_frac(c: int, attr: str = "busy") -> float | None:
        if c not in a.cores or c not in b.cores:
            return None
        tot = b.cores[c].total - a.cores[c].total
        return round((getattr(b.cores[c], attr) - getattr(a.cores[c], attr)) / tot, 4) if tot else None

    drops = {}
    for k, v in b.metrics.items():
        if k.startswith("mediaserver_dropped_packets_total"):
            d = v - a.metrics.get(k, 0)
            if d:
                drops[k.split('"')[1]] = int(d)
    counters = {}
    for name in ("nacks_received", "nacks_sent", "retransmissions", "plis_received", "plis_sent"):
        key = f"mediaserver_{name}_total"
        counters[name] = int(b.metrics.get(key, 0) - a.metrics.get(key, 0))
    sub_p50, order = [], []
    for i, (ha, hb) in enumerate(zip(a.sub_hists, b.sub_hists, strict=True)):
        v = percentile([y - x for x, y in zip(ha, hb, strict=True)], 0.5)
        if v is not None:
            sub_p50.append(v)
            order.append(i)
    ipi = {
        k: [round((y - x) / dt) for x, y in zip(a.ipis[k], b.ipis[k], strict=True)]
        for k in b.ipis
        if k in a.ipis
    }
    threads = []
    for tid, (name, us) in b.server_threads.items():
        before = a.server_threads.get(tid, (name, 0))[1]
        threads.append({"tid": tid, "name": name, "cpu_fraction": round((us - before) / 1e6 / dt, 4)})
    threads = sorted((x for x in threads if x["cpu_fraction"] > 0), key=lambda x: -x["cpu_fraction"])
    cpu_frac = server_cpu / dt
    egress_pps = tx / dtm
    busy = [core_frac(c) for c in sorted(b.cores)]
    other = sum(x for x in busy if x is not None) - cpu_frac - loadgen_cpu / dt
    pacer_pkts = b.pacer.packets - a.pacer.packets
    snmp = {
        k: b.udp_snmp.get(k, 0) - a.udp_snmp.get(k, 0)
        for k in ("InDatagrams", "RcvbufErrors", "SndbufErrors", "InErrors")
    }
    res = {
        "n": n,
        "window_s": round(dt, 3),
        "egress_pps": round(egress_pps, 1),
        "egress_source": egress_source,
        "egress_rtp_delivered_pps": round(delivered / dt, 1),
        "egress_mbit_s": round(tx_bytes * 8 / dtm / 1e6, 2),
        "ingress_pps": round(rx / dtm, 1),
        "publisher_pps": round(pacer_pkts / dt, 1),
        "server_cpu_us_per_packet": round(cpu_frac / egress_pps * 1e6, 3) if egress_pps else None,
        "server_cpu_fraction": round(cpu_frac, 4),
        "server_core_pps": round(egress_pps / cpu_frac, 0) if cpu_frac > 0 else None,
        "server_cpu_fraction_schedstat": round(server_rt / dt, 4),
        "server_threads": threads,
        "core0_busy_fraction": core_frac(SERVER_CORE),
        "core0_softirq_fraction": core_frac(SERVER_CORE, "softirq"),
        "core0_pps": round(egress_pps / core_frac(SERVER_CORE), 0) if core_frac(SERVER_CORE) else None,
        "other_cpu_fraction": round(other, 4),
        "metrics_fetch_ms": [round(a.metrics_fetch_s * 1e3, 1), round(b.metrics_fetch_s * 1e3, 1)],
        "loss_pct": round(100.0 * lost / (delivered + lost), 4) if delivered + lost else None,
        "lost_packets": lost,
        "delivered_packets": delivered,
        "latency_p50_us": _r(percentile(hist, 0.50)),
        "latency_p90_us": _r(percentile(hist, 0.90)),
        "latency_p99_us": _r(percentile(hist, 0.99)),
        "latency_p999_us": _r(percentile(hist, 0.999)),
        "latency_samples": sum(hist),
        "per_subscriber_p50_us": {
            "min": _r(min(sub_p50)),
            "median": _r(statistics.median(sub_p50)),
            "max": _r(max(sub_p50)),
        }
        if sub_p50
        else None,
        # +1: the later a subscriber joined, the later the server serves it in every fan-out
        "p50_vs_join_order_spearman": spearman(order, sub_p50),
        "loadgen_cpu_fraction": round(loadgen_cpu / dt, 4),
        "loadgen_cpu_us_per_packet": round(loadgen_cpu * 1e6 / delivered, 3) if delivered else None,
        "core1_busy_fraction": core_frac(LOADGEN_CORE),
        "rx_queue_kib": {
            g: {
                "mean": round(statistics.fmean(q[g] for q in queues) / 1024, 1),
                "max": round(max(q[g] for q in queues) / 1024, 1),
            }
            for g in ("server", "loadgen")
        }
        if queues
        else None,
        # bytes waiting in the subscribers' sockets over the byte rate they receive: an upper bound
        # (rx_queue counts buffer truesize) of the mean time a packet waits for the load generator
        "loadgen_queue_delay_ms_upper": round(
            statistics.fmean(q["loadgen"] for q in queues)
            / (sum(b.sink_bytes) - sum(a.sink_bytes))
            * dt
            * 1e3,
            3,
        )
        if queues and sum(b.sink_bytes) > sum(a.sink_bytes)
        else None,
        "per_subscriber_pps": {
            "min": round(min(per_sub) / dt, 1),
            "median": round(statistics.median(per_sub) / dt, 1),
            "max": round(max(per_sub) / dt, 1),
        }
        if per_sub
        else None,
        "sink_decrypt_errors": b.sink_decrypt_errors - a.sink_decrypt_errors,
        "server_drops": drops,
        "server_rtcp": counters,
        "kernel_udp": snmp,
        "ipi_per_s": ipi,
        "server_ctx_switches_per_s": [
            round((y - x) / dt) for x, y in zip(a.server_ctx, b.server_ctx, strict=True)
        ],
        "loadgen_ctx_switches_per_s": [
            round((y - x) / dt) for x, y in zip(a.loadgen_ctx, b.loadgen_ctx, strict=True)
        ],
        "loadgen_socket_drops": b.loadgen_udp["drops"] - a.loadgen_udp["drops"],
        "loadgen_worker_drops": {
            k: v - a.sub_stats["drops"].get(k, 0)
            for k, v in b.sub_stats["drops"].items()
            if v - a.sub_stats["drops"].get(k, 0)
        },
        "server_socket_drops": b.server_udp["drops"] - a.server_udp["drops"],
        "pacer_late_max_ms": round(b.pacer.late_max_ms, 2),
        "setup": setup,
    }
    return res


def spearman(x: list[float], y: list[float]) -> float | None:
    if len(x) < 3:
        return None

    def ranks(v: list[float]) -> list[float]:
        r = [0.0] * len(v)
        for rank, i in enumerate(sorted(range(len(v)), key=v.__getitem__)):
            r[i] = float(rank)
        return r

    rx, ry = ranks(x), ranks(y)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    num = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    den = (sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry)) ** 0.5
    return round(num / den, 3) if den else None


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


# ------------------------------------------------------------------------------------------ one run


@dataclass
class Ctx:
    session: aiohttp.ClientSession
    server: ServerProcess
    ws_url: str
    subw: Worker


async def add_subscriber(
    ctx: Ctx, i: int, timings: dict[str, float] | None = None, call_timeout: float = 60.0
) -> Sub:
    """join, subscribe, answer over a new WebSocket, then a native client transport that receives."""
    t = time.monotonic()

    def lap(name: str) -> None:
        nonlocal t
        now = time.monotonic()
        if timings is not None:
            timings[name] = round((now - t) * 1e3, 1)
        t = now

    sig = await Signal.connect(ctx.session, ctx.ws_url)
    lap("connect_ms")
    try:
        token = tokens.issue(ctx.server.secret, ROOM, "attendee", f"sub{i}", f"sub{i}")
        await sig.call("join", {"token": token}, timeout=call_timeout)
        lap("join_ms")
        desc = sdp.parse((await sig.call("subscribe", timeout=call_timeout))["sdp"])
        lap("subscribe_ms")
        r = sdpgen.remote_of(desc)
        if not r.abs_ext:
            raise RuntimeError("the server's subscriber offer has no abs-send-time extension")
        u, p = sdpgen.credentials()
        await sig.call(
            "answer",
            {"sdp": sdpgen.subscriber_answer(desc, u, p, ctx.subw.fingerprint)},
            timeout=call_timeout,
        )
        lap("answer_ms")
        tid = ctx.subw.create_client_transport(
            r.ip, r.port, u, r.ufrag, r.pwd, r.fp_alg, r.fingerprint, r.abs_ext
        )
        return Sub(sig, tid)
    except BaseException:
        await sig.close()
        raise


async def probe_late_join(ctx: Ctx, i: int, timeout: float = 60.0) -> tuple[dict[str, Any], Sub | None]:
    """One more subscriber joining while the load runs: how long signaling, DTLS and the first packet take."""
    timings: dict[str, Any] = {}
    t0 = time.monotonic()
    try:
        sub = await asyncio.wait_for(add_subscriber(ctx, i, timings, call_timeout=timeout), timeout)
    except (asyncio.TimeoutError, Exception) as e:
        timings["error"] = repr(e)
        return timings, None
    deadline = time.monotonic() + timeout
    connected = False
    while time.monotonic() < deadline:
        st = ctx.subw.transport_stats(sub.tid)
        if not connected and st["dtls_state"] == "connected":
            connected = True
            timings["dtls_connected_ms"] = round((time.monotonic() - t0) * 1e3, 1)
        if st["sink_packets"] > 0:
            timings["first_packet_ms"] = round((time.monotonic() - t0) * 1e3, 1)
            break
        await asyncio.sleep(0.01)
    else:
        timings["error"] = "no packet within the timeout"
    return timings, sub


async def run_once(n: int, args: argparse.Namespace, clip: media.Clip) -> dict[str, Any]:
    server = ServerProcess(pin=args.pin, gso=args.gso)
    pubw = subw = None
    pacer: media.Pacer | None = None
    subs: list[Sub] = []
    pub_sig: Signal | None = None
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    session = aiohttp.ClientSession(connector=connector)
    setup: dict[str, Any] = {}
    if args.quiet_wait > 0:
        setup["quiet_wait_s"], setup["busy_before"] = await procstat.wait_quiet(args.quiet_wait)
    try:
        server.start()
        await server.wait_ready(session)
        affinity = procstat.affinity_of_threads(server.pid)
        ws_url = server.base.replace("http://", "ws://") + "/ws"
        assert CORE is not None
        pubw, subw = CORE.Worker("127.0.0.1", 0), CORE.Worker("127.0.0.1", 0)
        pubw.start()
        subw.start()
        ctx = Ctx(session, server, ws_url, subw)

        # ---- publisher: publish and connect now, send media once every subscriber is connected
        t0 = time.monotonic()
        pub_sig = await Signal.connect(session, ws_url)
        await pub_sig.call(
            "join", {"token": tokens.issue(server.secret, ROOM, "presenter", "publisher", "publisher")}
        )
        ufrag, pwd = sdpgen.credentials()
        ssrcs = [secrets.randbits(31) | 1 for _ in range(3)]
        offer = sdpgen.publisher_offer(ufrag, pwd, pubw.fingerprint, *ssrcs)
        res = await pub_sig.call("publish", {"sdp": offer})
        if len(res.get("tracks", [])) != 2:
            raise RuntimeError(f"publish accepted {len(res.get('tracks', []))} tracks, expected 2")
        remote = sdpgen.remote_of(sdp.parse(res["sdp"]))
        pub_tid = pubw.create_client_transport(
            remote.ip, remote.port, ufrag, remote.ufrag, remote.pwd, remote.fp_alg, remote.fingerprint, 0
        )
        await wait_connected(pubw, [pub_tid], 15, "publisher")
        setup["publisher_s"] = round(time.monotonic() - t0, 3)

        # ---- subscribers (bounded concurrency), before media flows
        t0 = time.monotonic()
        sem = asyncio.Semaphore(args.concurrency)
        per_sub: list[dict[str, float]] = []

        async def one(i: int) -> Sub:
            async with sem:
                timings: dict[str, float] = {}
                sub = await add_subscriber(ctx, i, timings)
                per_sub.append(timings)
                return sub

        results = await asyncio.wait_for(
            asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True), args.setup_timeout
        )
        subs = [r for r in results if isinstance(r, Sub)]
        errors = [r for r in results if not isinstance(r, Sub)]
        if errors:
            raise RuntimeError(f"{len(errors)} of {n} subscribers failed to set up; first: {errors[0]!r}")
        setup["signaling_s"] = round(time.monotonic() - t0, 3)
        for k in ("join_ms", "subscribe_ms", "answer_ms"):
            vals = [t[k] for t in per_sub if k in t]
            setup[k] = {"median": round(statistics.median(vals), 1), "max": max(vals)} if vals else None
        setup["connect_s"] = round(
            await wait_connected(subw, [s.tid for s in subs], args.setup_timeout, "subscribers"), 3
        )

        # ---- media: real-time pacing from now on (bounded); the clip starts with a keyframe
        vstream = media.RtpStream(
            ssrcs[1], media.VP8_PT, "1", seq0=secrets.randbits(15), ts0=secrets.randbits(31)
        )
        astream = media.RtpStream(
            ssrcs[0], media.OPUS_PT, "0", seq0=secrets.randbits(15), ts0=secrets.randbits(31)
        )
        bound = (
            args.warmup + args.seconds + 2 * media.GOP_FRAMES / media.FPS + 5 + (90 if args.probe else 0) + 30
        )
        pacer = media.Pacer(
            clip,
            lambda pkts: pubw.send_rtp(pub_tid, pkts, abs_ext=media.EXT_ABS_ID),
            vstream,
            astream,
            max_seconds=bound,
        )
        pacer.start()

        # ---- warm-up: every subscriber must be receiving video
        await asyncio.sleep(args.warmup)
        deadline = time.monotonic() + 2 * media.GOP_FRAMES / media.FPS + 5
        while True:
            st = [subw.transport_stats(s.tid) for s in subs]
            # audio packets are ~250 bytes, video ones ~1100: a mean above 500 means video flows
            idle = [s for s in st if s["sink_packets"] == 0 or s["sink_bytes"] / s["sink_packets"] < 500]
            if not idle:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(idle)} subscribers receive no video after the warm-up")
            await asyncio.sleep(0.2)
        if pacer.error is not None or not pacer.is_alive():
            raise RuntimeError(f"the publisher pacer stopped: {pacer.error!r}")

        # ---- measurement window
        groups = {
            "server": procstat.socket_inodes(server.pid),
            "loadgen": procstat.socket_inodes(os.getpid()),
        }
        a = await snapshot(session, server, subw, pubw, subs, pacer)
        queues = []
        end = time.monotonic() + args.seconds
        while (left := end - time.monotonic()) > 0:  # receive-queue depths, 5 per second
            queues.append(procstat.udp_rx_queues(groups))
            await asyncio.sleep(min(0.2, left))
        b = await snapshot(session, server, subw, pubw, subs, pacer)
        if pacer.error is not None or not pacer.is_alive():
            raise RuntimeError(f"the publisher pacer stopped during the window: {pacer.error!r}")
        if server.proc is None or server.proc.poll() is not None:
            raise RuntimeError("the server exited during the window: " + server.log_tail())
        res = summarize(n, a, b, setup, queues)
        res["server_affinity"] = sorted(affinity)
        res["loadgen_affinity"] = sorted(procstat.affinity_of_threads(os.getpid()))

        # ---- after the window: one subscriber joins under load (control-plane responsiveness)
        if args.probe:
            res["late_join"], extra = await probe_late_join(ctx, n)
            if extra is not None:
                subs.append(extra)
        return res
    finally:
        if pacer is not None:
            pacer.stop_event.set()
            pacer.join(5)
        for w in (subw, pubw):  # closes every client transport and its socket
            if w is not None:
                w.close()
        sigs = [s.signal for s in subs] + ([pub_sig] if pub_sig else [])
        if sigs:
            sem = asyncio.Semaphore(64)

            async def close(sg: Signal) -> None:
                async with sem:
                    await sg.close()

            try:
                await asyncio.wait_for(asyncio.gather(*(close(s) for s in sigs), return_exceptions=True), 30)
            except asyncio.TimeoutError:
                pass
        await session.close()
        server.stop()


# ------------------------------------------------------------------------------------------ report

MEDIAN_KEYS = (
    "egress_pps",
    "egress_rtp_delivered_pps",
    "egress_mbit_s",
    "ingress_pps",
    "publisher_pps",
    "server_cpu_us_per_packet",
    "server_cpu_fraction",
    "server_core_pps",
    "server_cpu_fraction_schedstat",
    "core0_busy_fraction",
    "core0_softirq_fraction",
    "loss_pct",
    "latency_p50_us",
    "latency_p90_us",
    "latency_p99_us",
    "latency_p999_us",
    "loadgen_cpu_fraction",
    "core1_busy_fraction",
    "core0_pps",
    "other_cpu_fraction",
)


def combine(samples: list[dict[str, Any]]) -> dict[str, Any]:
    if len(samples) == 1:
        return dict(samples[0], repeats=1)
    out = {"n": samples[0]["n"], "repeats": len(samples), "aggregate": "median"}
    for k in MEDIAN_KEYS:
        vals = [s[k] for s in samples if s.get(k) is not None]
        out[k] = round(statistics.median(vals), 4) if vals else None
    out["samples"] = samples
    return out


def table(runs: list[dict[str, Any]]) -> str:
    hdr = ("N", "egress pps", "srv CPU", "µs/pkt", "pps/core", "loss %", "p50 µs", "p99 µs", "loadgen CPU")
    rows = [hdr]
    for r in runs:

        def f(k: str, fmt: str, r: dict[str, Any] = r) -> str:
            v = r.get(k)
            return "-" if v is None else format(v, fmt)

        rows.append(
            (
                str(r["n"]),
                f("egress_pps", ",.0f"),
                f("server_cpu_fraction", ".1%"),
                f("server_cpu_us_per_packet", ".2f"),
                f("server_core_pps", ",.0f"),
                f("loss_pct", ".3f"),
                f("latency_p50_us", ",.0f"),
                f("latency_p99_us", ",.0f"),
                f("loadgen_cpu_fraction", ".1%"),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(hdr))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows)


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        pass
    return {
        "cpu_model": model or platform.processor(),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def build_info() -> dict[str, Any]:
    """Which server code was measured (others edit the tree concurrently)."""
    import hashlib

    core = CORE
    assert core is not None
    info: dict[str, Any] = {}
    try:
        info["git_head"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "native", "mediaserver", "signaling"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.split("\n")
        info["dirty_server_files"] = sorted(ln[3:] for ln in dirty if ln.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    so = Path(core.__file__)
    info["server_code"] = "private copy taken at start" if NATIVE_DIR else "the tree"
    info["native_core"] = {
        "file": "native/" + so.name,
        "sha256": hashlib.sha256(so.read_bytes()).hexdigest()[:16],
        "mtime": datetime.datetime.fromtimestamp(so.stat().st_mtime, datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
    }
    return info


def write_json(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)


async def main_async(args: argparse.Namespace) -> int:
    clip = media.load_clip(log)
    vpk = sum(len(media.vp8_payloads(f)) for f, _ in clip.video) / clip.seconds
    log(
        f"clip: VP8 {clip.video_bitrate / 1e6:.2f} Mbit/s ({vpk:.0f} packets/s, keyframe every "
        f"{media.GOP_FRAMES / media.FPS:.0f} s) + Opus {clip.audio_bitrate / 1e3:.0f} kbit/s (50 packets/s)"
    )
    doc: dict[str, Any] = {
        "benchmark": "fanout",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "build": build_info(),
        "config": {
            "seconds": args.seconds,
            "warmup_s": args.warmup,
            "repeat": args.repeat,
            "pinned": args.pin,
            "server_udp_gso": args.gso,
            "server_core": SERVER_CORE if args.pin else None,
            "loadgen_core": LOADGEN_CORE if args.pin else None,
            "clip": {
                "video": f"VP8 {media.WIDTH}x{media.HEIGHT}@{media.FPS}",
                "video_mbit_s": round(clip.video_bitrate / 1e6, 3),
                "video_pps": round(vpk, 1),
                "keyframe_interval_s": media.GOP_FRAMES / media.FPS,
                "audio": "Opus 48 kHz stereo, 20 ms",
                "audio_kbit_s": round(clip.audio_bitrate / 1e3, 1),
                "max_rtp_payload": media.MAX_PAYLOAD,
            },
            "egress_pps_note": "server datagrams out (RTP + RTCP + STUN) from /metrics",
        },
        "done_bar": dict(DONE_BAR),
        "runs": [],
    }
    out = Path(args.output)
    for n in args.n:
        samples = []
        for rep in range(args.repeat):
            log(f"N={n}" + (f" (run {rep + 1}/{args.repeat})" if args.repeat > 1 else "") + " ...")
            for attempt in range(1, args.attempts + 1):
                r = await run_once(n, args, clip)
                r["attempt"] = attempt
                if r["other_cpu_fraction"] <= args.max_other or attempt == args.attempts:
                    break
                log(
                    f"  other processes used {r['other_cpu_fraction']:.2f} cores during the window; running "
                    f"again"
                )
            r["contended"] = r["other_cpu_fraction"] > args.max_other
            log(
                f"  egress {r['egress_pps']:,.0f} pps, server CPU {r['server_cpu_fraction']:.1%} "
                f"({r['server_cpu_us_per_packet']} µs/pkt -> {r['server_core_pps']:,.0f} pps/core), "
                f"loss {r['loss_pct']}%, p50 {r['latency_p50_us']} µs, p99 {r['latency_p99_us']} µs, "
                f"loadgen CPU {r['loadgen_cpu_fraction']:.1%}, setup {r['setup']}"
            )
            samples.append(r)
        doc["runs"].append(combine(samples))
        write_json(out, doc)  # after every N, so an interrupted run keeps what it measured
    top = max(doc["runs"], key=lambda r: r["n"])
    ok = (
        (top.get("server_core_pps") or 0) >= DONE_BAR["server_core_pps"]
        and top.get("loss_pct") is not None
        and top["loss_pct"] < DONE_BAR["loss_pct"]
    )
    doc["done_bar"].update({"n": top["n"], "met": ok})
    write_json(out, doc)
    log("")
    log(table(doc["runs"]))
    log(
        f"\ndone bar at N={top['n']} (>= {DONE_BAR['server_core_pps']:,} pps per server core, loss < "
        f"{DONE_BAR['loss_pct']}%): {'MET' if ok else 'NOT MET'}"
    )
    log(f"wrote {out}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--n",
        type=int,
        nargs="+",
        default=list(DEFAULT_NS),
        help="subscriber counts (default 50 100 200 400)",
    )
    ap.add_argument("--seconds", type=float, default=10.0, help="measurement window per run (default 10)")
    ap.add_argument(
        "--warmup", type=float, default=3.0, help="warm-up after all subscribers connected (default 3)"
    )
    ap.add_argument("--repeat", type=int, default=1, help="runs per N; medians are reported (default 1)")
    ap.add_argument("--concurrency", type=int, default=32, help="subscribers signalling at once (default 32)")
    ap.add_argument(
        "--setup-timeout", type=float, default=120.0, help="bound on subscriber setup (default 120 s)"
    )
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before each run wait up to this long for the machine to be idle (default 60 s; 0 = off)",
    )
    ap.add_argument(
        "--no-probe",
        dest="probe",
        action="store_false",
        help="skip the late-join probe (one subscriber joining under load after the window)",
    )
    ap.add_argument(
        "--max-other",
        type=float,
        default=0.15,
        help="a window in which other processes used more CPU (in cores) is run again (default 0.15)",
    )
    ap.add_argument("--attempts", type=int, default=3, help="runs per measurement when contended (default 3)")
    ap.add_argument(
        "--no-snapshot",
        dest="snapshot",
        action="store_false",
        help="run the server code of the tree instead of a private copy taken at start",
    )
    ap.add_argument(
        "--no-gso",
        dest="gso",
        action="store_false",
        help="run the server with MEDIASERVER_UDP_GSO=false (one datagram per sendmmsg entry)",
    )
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "fanout.json"))
    ap.add_argument(
        "--no-pin", dest="pin", action="store_false", help="do not pin server/load generator to cores"
    )
    args = ap.parse_args(argv)
    if any(n < 1 or n > 2000 for n in args.n):
        ap.error("--n must be between 1 and 2000")
    if not 1 <= args.attempts <= 10:
        ap.error("--attempts 1..10")
    if not 1 <= args.seconds <= 600 or not 0 <= args.warmup <= 60 or not 1 <= args.repeat <= 20:
        ap.error("--seconds 1..600, --warmup 0..60, --repeat 1..20")
    return args


def load_native(snapshot: bool) -> None:
    """Import native._core, by default from a private copy of the server code (the mediaserver,
    signaling and built native packages) that the server subprocesses run too: the tree is shared
    with people who edit it and rebuild the extension, which rewrites the .so in place under running
    processes. One benchmark invocation thus measures one consistent build."""
    global CORE, NATIVE_DIR
    if snapshot:
        import shutil

        NATIVE_DIR = Path(tempfile.mkdtemp(prefix="fanout-server-code-"))
        skip = shutil.ignore_patterns("__pycache__", "*.c", "*.pyx", "*.pxd", "core")
        for pkg in ("mediaserver", "signaling", "native"):
            shutil.copytree(ROOT / pkg, NATIVE_DIR / pkg, ignore=skip)
        sys.path.insert(0, str(NATIVE_DIR))
    import importlib

    CORE = importlib.import_module("native._core")
    HIST_BOUNDS[:] = [CORE.latency_bucket_bounds(b) for b in range(128)]


def pin_to_loadgen_core(pin: bool) -> bool:
    """Move this process to the load generator's core (before any thread exists, so all inherit it)."""
    if not pin:
        return False
    cpus = os.sched_getaffinity(0)
    if not {SERVER_CORE, LOADGEN_CORE} <= cpus:
        log(
            f"cores {SERVER_CORE} and {LOADGEN_CORE} are not both available ({sorted(cpus)}); running "
            f"unpinned"
        )
        return False
    os.sched_setaffinity(0, {LOADGEN_CORE})
    return True


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.pin = pin_to_loadgen_core(args.pin)
    try:
        load_native(args.snapshot)
        return asyncio.run(main_async(args))
    except KeyboardInterrupt:
        log("interrupted; everything was torn down")
        return 130
    finally:
        if NATIVE_DIR is not None:
            import shutil

            shutil.rmtree(NATIVE_DIR, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
