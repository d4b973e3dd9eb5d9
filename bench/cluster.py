#!/usr/bin/env python3
"""Many nodes (issue 19): one webinar over three `mediaserver serve` nodes, one publisher, subscribers on all.

The bench starts everything it uses on loopback and stops it on exit (also on errors and Ctrl-C): Debian's
``redis-server`` (no persistence), a PostgreSQL cluster of its own (initdb + pg_ctl in a temporary folder, as
the postgres user when run as root) and three nodes, ``node-0`` .. ``node-2`` on 127.0.0.2, .3, .4 (one media
worker each), sharing that Redis and one database. The native load generator (bench/loadgen, through the
building blocks of bench/loadtest.py) then publishes Opus + VP8 simulcast q/h/f (the synthetic clip) on
node-0, which becomes the room's owner; node-1 and node-2 are edges that mirror both tracks over one media
link each. --subscribers N are spread evenly over the three nodes; each node's subscribers are driven by a
load generator of their own (its own I/O thread and latency histogram), all in this one process.

Measured over a window of --duration seconds (cut in --slices equal slices; medians over the slices are
quoted beside the whole window):

* **added latency per hop**: every packet carries the load generator's 16-byte payload trailer with its send
  time (CLOCK_MONOTONIC, stamped just before encryption); the SFU forwards payloads untouched, through the
  link too, and each subscriber's load generator times the packet to the kernel's receive timestamp, on the
  same clock (one process, one machine). So an edge's subscribers see publisher -> owner -> link -> edge ->
  subscriber and the owner's see publisher -> owner -> subscriber, in the same run: the hop is the
  difference of their percentiles (p50 and p99; the histograms have 10 log-spaced buckets a decade,
  interpolated). abs-send-time is not used: the load generator's publishers do not send it (the SFU copies a
  publisher's value through unchanged, over the link too, but at 3.8 us steps and on the publisher's clock);
* **amplification**: the bytes the owner sent over its links (``mediaserver_cluster_link_bytes_total``,
  ``side="owner"``, summed over the edges and tracks) over the bytes the publisher sent (the load generator's
  SRTP bytes; both count SRTP packets with their headers); the same in packets. It should equal the number
  of edges (2): each link carries every simulcast layer once;
* **keyframe requests** (PLI/FIR) that reached the publisher, per layer, over the whole run (joins
  included): at most one a second per layer;
* **loss** at the subscribers (sequence gaps that NACK/RTX did not repair) per node, and the links' own loss
  after repair (``mediaserver_cluster_link_packets_lost``), NACKs and retransmissions;
* **CPU** of each node: the whole process (/proc/PID/stat, every thread) and its media worker's thread
  (``mediaserver_worker_cpu_seconds_total``), as a share of one core; and the machine's busy cores;
* **failover** (after the window): node-2 is killed with SIGKILL; how long the owner keeps relaying to the
  dead edge (its link's byte counter still growing) and when it closes that link (ICE consent, the nodes'
  consent_timeout: 30 s by default), when node-2 drops out of the registry (node_ttl), whether the room's
  edge set still names it, and whether the subscribers on node-0 and node-1 lost anything meanwhile; and
  node-2's subscribers reconnect as the SDK does (signaling/sdk/mediaserver.js): on their WebSocket's close,
  250 ms, then a join at the next node the join named and a new subscribe: timed from the kill to their
  first media and first video packet there.

The bar (issue 19): under 1 ms p99 added per hop on loopback, below half a core on the owner and the edges,
subscriber loss under 0.5 %, amplification equal to the number of edges, at most one keyframe request a
second per layer at the publisher. Everything shares this machine's CPUs (nothing pinned): the figures
include that contention. Results go to bench/results/cluster.json.

    python -m bench.cluster                         # 90 subscribers, a 30 s window, then the failover
    python -m bench.cluster --subscribers 30 --duration 60 --slices 6 --no-failover
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bench import loadtest  # noqa: E402
from bench.lib import procstat, results  # noqa: E402
from bench.lib.hist import percentile  # noqa: E402
from bench.lib.wsclient import Signal  # noqa: E402
from bench.loadgen import clips as clipmod  # noqa: E402
from mediaserver.rtc import tokens  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "cluster.json"
HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
ROOM = "cluster-bench"
LINK = "mediaserver_cluster_link_"
KILLED = 2  # the edge the failover kills
OTHER_LOAD = 0.3  # cores of other load in a slice above which the run is flagged as contended


class Interrupted(Exception):
    """Ctrl-C (or SIGTERM) during the run: everything is stopped, nothing written."""


def log(msg: str) -> None:
    print(msg, flush=True)


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------------ services


class RedisServer:
    """Debian's redis-server on a free loopback port, nothing written to disk."""

    def __init__(self, work: Path) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.path.exists(binary):
            raise SystemExit("redis-server is not installed (apt-get install redis-server)")
        self.port = free_port("127.0.0.1")
        self.url = f"redis://127.0.0.1:{self.port}/0"
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(
            [binary, *args, "--dir", str(work)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C reaches the bench, which stops it in order
        )
        try:
            self._wait()
        except BaseException:  # also Ctrl-C
            self.stop()
            raise

    def _wait(self) -> None:
        end = time.monotonic() + 10
        while True:  # bounded: 10 s
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > end or self.proc.poll() is not None:
                raise SystemExit("redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        procstat.terminate(self.proc, 5)


class PostgresServer:
    """A throwaway PostgreSQL cluster (initdb + pg_ctl from Debian's postgresql) on 127.0.0.1, with one
    database for the nodes; as the postgres user when this runs as root (initdb refuses root)."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            raise SystemExit("PostgreSQL's server programs are not installed (apt-get install postgresql)")
        self.bin = os.path.dirname(found[-1])
        self.dir = tempfile.mkdtemp(prefix="bench-cluster-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port("127.0.0.1")
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            pwd.getpwnam("postgres")
            shutil.chown(self.dir, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        try:
            self._run(
                f"{self.bin}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                "--locale=C", "--no-sync",
            )  # fmt: skip
            opts = (
                f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            self._run(
                f"{self.bin}/pg_ctl", "-D", self.data, "-o", opts, "-l", os.path.join(self.dir, "log"),
                "-w", "-t", "60", "start",
            )  # fmt: skip
            self._run(
                f"{self.bin}/createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "bench"
            )
        except BaseException:
            self.stop()
            raise
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/bench"

    def _run(self, *cmd: str) -> None:
        r = subprocess.run(
            [*self.as_user, *cmd], capture_output=True, text=True, timeout=120, start_new_session=True
        )
        if r.returncode:
            raise SystemExit(f"{os.path.basename(cmd[0])} failed: {r.stderr.strip() or r.stdout.strip()}")

    def stop(self) -> None:
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            subprocess.run(
                [*self.as_user, f"{self.bin}/pg_ctl", "-D", self.data, "-m", "immediate", "stop"],
                capture_output=True,
                timeout=60,
                start_new_session=True,
            )
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Node:
    i: int
    host: str
    base: str
    proc: subprocess.Popen
    log: Path

    @property
    def name(self) -> str:
        return f"node-{self.i}"


def start_node(i: int, tmp: Path, env: dict[str, str]) -> Node:
    host = HOSTS[i]
    port = free_port(host)
    data = tmp / f"node-{i}"
    data.mkdir(parents=True, exist_ok=True)
    full = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MEDIASERVER_HTTP_HOST": host,
        "MEDIASERVER_HTTP_PORT": str(port),
        "MEDIASERVER_RTC_LISTEN_IP": host,
        "MEDIASERVER_RTC_PORT": "0",
        "MEDIASERVER_DATA_DIR": str(data / "data"),
        "MEDIASERVER_LOG_JSON": "false",
        "MEDIASERVER_NODE_ID": f"node-{i}",
        **env,
    }
    log_path = data / "server.log"
    with open(log_path, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mediaserver.cli", "serve"],
            env=full,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Node(i, host, f"http://{host}:{port}", proc, log_path)


def wait_ready(nodes: list[Node], timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    for n in nodes:
        while True:  # bounded: ``timeout`` for all
            try:
                urllib.request.urlopen(n.base + "/healthz", timeout=2).close()
                break
            except OSError:
                if n.proc.poll() is not None or time.monotonic() > end:
                    tail = n.log.read_text(errors="replace")[-2000:]
                    raise SystemExit(f"{n.name} did not start:\n{tail}") from None
                time.sleep(0.2)


@contextlib.contextmanager
def cluster(tmp: Path, args: argparse.Namespace, secret: str) -> Iterator[tuple[RedisServer, list[Node]]]:
    """Redis, PostgreSQL and the three nodes (started together: one migrates the empty database, under a
    lock); everything stopped after, in reverse order."""
    with contextlib.ExitStack() as stack:
        t0 = time.monotonic()
        redis = RedisServer(tmp)
        stack.callback(redis.stop)
        pg = PostgresServer()
        stack.callback(pg.stop)
        env = {
            "MEDIASERVER_CLUSTER_REDIS_URL": redis.url,
            "MEDIASERVER_DATABASE_URL": pg.url,
            "MEDIASERVER_SECRET": secret,
            "MEDIASERVER_API_KEY": secrets.token_urlsafe(24),
            "MEDIASERVER_WORKERS": "1",
            # one key seals the shared database's secrets for every node (a Fernet key)
            "MEDIASERVER_SEALING_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "MEDIASERVER_NODE_TTL": str(args.node_ttl),
            # every join comes from 127.0.0.1, and the cluster counts joins per address in its Redis
            "MEDIASERVER_RATE_LIMIT_JOIN": "100000/minute",
        }
        if args.consent_timeout:
            env["MEDIASERVER_CONSENT_TIMEOUT"] = str(args.consent_timeout)
        nodes: list[Node] = []
        for i in range(3):
            nodes.append(start_node(i, tmp, env))
            stack.callback(procstat.terminate, nodes[-1].proc, 10)
        wait_ready(nodes)
        log(
            f"redis-server :{redis.port}, PostgreSQL :{pg.port}, "
            + ", ".join(f"{n.name} {n.base}" for n in nodes)
            + f" (up in {time.monotonic() - t0:.1f} s)"
        )
        yield redis, nodes


# ------------------------------------------------------------------------------------------ the load


@dataclass
class Part:
    """One node's share of the load: its load generator and loadtest Run (the publisher on node-0)."""

    node: Node
    run: loadtest.Run
    toks: loadtest.Tokens
    probe: Signal | None = None
    nodes_named: list[str] = field(default_factory=list)  # the cluster's nodes, as a join here names them
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    rejoined: loadtest.Run | None = None  # after the kill: this node's subscribers on another node


@dataclass
class Snap:
    t: float
    lt: dict[int, loadtest.Snap]  # node -> the loadtest snapshot (its subscribers, its /metrics parsed)
    cpu_us: dict[int, int]  # node -> process CPU time
    pub_tx: dict[str, int]  # the publisher's peer: tx_packets, tx_bytes
    cores: dict[int, procstat.CoreTimes]
    lg_cpu_s: dict[int, float]


def links(metrics: dict[str, float] | None, side: str) -> dict[str, dict[str, float]]:
    """``peer|track`` -> {packets, bytes, lost, nacks, retransmissions, rtt_seconds} of ``side``'s links."""
    out: dict[str, dict[str, float]] = {}
    for key, v in (metrics or {}).items():
        if not key.startswith(LINK):
            continue
        name, _, rest = key.partition("{")
        labels = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if labels.get("side") != side:
            continue
        what = name[len(LINK) :].removesuffix("_total")
        out.setdefault(f"{labels['peer']}|{labels['track']}", {})[what] = v
    return out


def worker_cpu_s(metrics: dict[str, float] | None) -> float:
    return sum(v for k, v in (metrics or {}).items() if k.startswith("mediaserver_worker_cpu_seconds_total"))


async def snapshot(parts: list[Part], alive: list[int]) -> Snap:
    got = await asyncio.gather(*(loadtest.snapshot(parts[i].run) for i in alive))
    lt = {i: s for i, (s, _) in zip(alive, got, strict=True)}
    cpu = {-1: procstat.proc_cpu_us(os.getpid())}  # -1: this process (the load generators and the bench)
    for i in alive:
        with contextlib.suppress(OSError):
            cpu[i] = procstat.proc_cpu_us(parts[i].node.proc.pid)
    r0 = parts[0].run
    st = r0.lg.peer_stats(r0.pub_peers[0])
    return Snap(
        time.monotonic(),
        lt,
        cpu,
        {"tx_packets": st["tx_packets"], "tx_bytes": st["tx_bytes"]},
        procstat.core_times(),
        {i: parts[i].run.lg.cpu_seconds() for i in alive},
    )


def rx(parts: list[Part], alive: list[int]) -> tuple[int, int, int]:
    """Packets and bytes received and lost by every subscriber so far."""
    pk = by = lost = 0
    for i in alive:
        run = parts[i].run
        for s in run.subs:
            if s.peer >= 0:
                st = run.lg.peer_stats(s.peer)
                pk, by, lost = pk + st["rx_packets"], by + st["rx_bytes"], lost + st["lost"]
    return pk, by, lost


class Ticker:
    """One progress line a second: joined, the receive rate and the loss so far, over every node."""

    def __init__(self, parts: list[Part], stop: asyncio.Event) -> None:
        self.parts, self.stop, self.t0 = parts, stop, time.monotonic()
        self.last = (time.monotonic(), 0, 0)

    def reset(self, alive: list[int]) -> None:
        """The next rate counts from here, over ``alive`` (after a node is killed)."""
        pk, by, _ = rx(self.parts, alive)
        self.last = (time.monotonic(), pk, by)

    def tick(self, phase: str, alive: list[int]) -> float:
        now = time.monotonic()
        pk, by, lost = rx(self.parts, alive)
        t0, pk0, by0 = self.last
        dt = max(1e-3, now - t0)
        pps = (pk - pk0) / dt
        self.last = (now, pk, by)
        joined = [sum(1 for s in self.parts[i].run.subs if s.joined_ms is not None) for i in alive]
        log(
            f"[{now - self.t0:5.1f} s] {phase:<9} joined {'+'.join(map(str, joined))}  rate {pps:,.0f} pkt/s "
            f"{(by - by0) * 8 / dt / 1e6:.2f} Mbit/s  loss {100 * lost / max(1, pk + lost):.3f}%"
        )
        return pps

    async def sleep(self, seconds: float, phase: str, alive: list[int]) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0 and not self.stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stop.wait(), min(1.0, left))
            self.tick(phase, alive)


async def metrics_text(session: aiohttp.ClientSession, base: str) -> str | None:
    try:
        async with session.get(base + "/metrics", timeout=aiohttp.ClientTimeout(total=3)) as r:
            return await r.text() if r.status == 200 else None
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
        return None


async def wait_for_links(part: Part, tracks: int, timeout: float) -> float:
    """An attendee (no media) joins the edge, which opens the room there and mirrors the owner's tracks;
    returns how long until the edge's /metrics shows ``tracks`` links carrying packets. The subscribers join
    after: an edge offers only the tracks it mirrors at the time of a subscribe."""
    run = part.run
    t0 = time.monotonic()
    part.probe = await Signal.connect(run.session, run.ws_url, timeout=run.args.request_timeout)
    tok = tokens.issue(run.args.secret, ROOM, "attendee", "probe", f"probe-{part.node.name}")
    joined = await part.probe.call("join", {"token": tok, "stay": True}, timeout=run.args.request_timeout)
    part.nodes_named = [str(u) for u in (joined.get("cluster") or {}).get("nodes") or []]
    while time.monotonic() - t0 < timeout:  # bounded
        text = await metrics_text(run.session, run.base)
        got = links(procstat.parse_prometheus(text) if text else None, "edge")
        if sum(1 for v in got.values() if v.get("packets", 0) > 0) >= tracks:
            return time.monotonic() - t0
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{part.node.name}: the owner's {tracks} tracks not mirrored within {timeout:.0f} s")


# ------------------------------------------------------------------------------------------ figures


def lat_ms(hist: list[int], bounds: list[float], q: float) -> float | None:
    v = percentile(hist, bounds, q)
    return None if v is None else round(v / 1e3, 4)


def interval(a: Snap, b: Snap, parts: list[Part], nodes: list[int]) -> dict[str, Any]:
    """The figures of one interval between two snapshots."""
    dt = b.t - a.t
    per_node: dict[str, Any] = {}
    for i in nodes:
        x, y = a.lt[i], b.lt[i]
        hist = [q - p for p, q in zip(x.totals["latency_hist"], y.totals["latency_hist"], strict=True)]
        bounds = y.totals["bounds_us"]
        pk = sum(y.peers[p]["rx_packets"] - x.peers[p]["rx_packets"] for p in y.peers if p in x.peers)
        by = sum(y.peers[p]["rx_bytes"] - x.peers[p]["rx_bytes"] for p in y.peers if p in x.peers)
        lost = sum(y.peers[p]["lost"] - x.peers[p]["lost"] for p in y.peers if p in x.peers)
        per_node[parts[i].node.name] = {
            "role": "owner" if i == 0 else "edge",
            "subscribers": len(y.peers),
            "received_packets_per_s": round(pk / dt, 1),
            "received_mbit_s": round(by * 8 / dt / 1e6, 3),
            "lost": lost,
            "loss_pct": round(100 * lost / max(1, pk + lost), 4),
            "latency_ms": {
                "p50": lat_ms(hist, bounds, 0.5),
                "p90": lat_ms(hist, bounds, 0.9),
                "p99": lat_ms(hist, bounds, 0.99),
                "samples": sum(hist),
            },
            "process_cpu": round((b.cpu_us[i] - a.cpu_us[i]) / 1e6 / dt, 3)
            if i in a.cpu_us and i in b.cpu_us
            else None,
            "worker_cpu": round((worker_cpu_s(y.server) - worker_cpu_s(x.server)) / dt, 3),
            "loadgen_thread_cpu": round((b.lg_cpu_s[i] - a.lg_cpu_s[i]) / dt, 3),
        }
    owner = per_node["node-0"]["latency_ms"]
    hops = {}
    for i in nodes:
        if i == 0:
            continue
        e = per_node[parts[i].node.name]["latency_ms"]
        hops[parts[i].node.name] = {
            q: None if e[q] is None or owner[q] is None else round(e[q] - owner[q], 4) for q in ("p50", "p99")
        }
    # what the owner relayed against what the publisher sent
    la, lb = links(a.lt[0].server, "owner"), links(b.lt[0].server, "owner")
    relayed = {"packets": 0.0, "bytes": 0.0}
    by_edge: dict[str, float] = {}
    for key, v in lb.items():
        w = la.get(key, {})
        for k in relayed:
            relayed[k] += v.get(k, 0) - w.get(k, 0)
        peer = key.split("|")[0]
        by_edge[peer] = by_edge.get(peer, 0) + v.get("bytes", 0) - w.get("bytes", 0)
    pub_pk = b.pub_tx["tx_packets"] - a.pub_tx["tx_packets"]
    pub_by = b.pub_tx["tx_bytes"] - a.pub_tx["tx_bytes"]
    busy = sum(b.cores[c].busy - a.cores[c].busy for c in b.cores if c in a.cores)
    total = sum(b.cores[c].total - a.cores[c].total for c in b.cores if c in a.cores)
    machine = busy / total * len(b.cores) if total else None
    ours = sum(b.cpu_us[k] - a.cpu_us[k] for k in b.cpu_us if k in a.cpu_us) / 1e6 / dt
    return {
        "seconds": round(dt, 2),
        "nodes": per_node,
        "added_per_hop_ms": hops,
        "amplification": {
            "published_bytes": pub_by,
            "published_packets": pub_pk,
            "relayed_bytes": int(relayed["bytes"]),
            "relayed_packets": int(relayed["packets"]),
            "bytes_ratio": round(relayed["bytes"] / pub_by, 4) if pub_by else None,
            "packets_ratio": round(relayed["packets"] / pub_pk, 4) if pub_pk else None,
            "bytes_ratio_per_edge": {p: round(v / pub_by, 4) for p, v in sorted(by_edge.items())}
            if pub_by
            else {},
        },
        "machine_busy_cores": None if machine is None else round(machine, 3),
        "load_and_nodes_cores": round(ours, 3),  # this process and the three nodes
        # the rest of the machine (Redis, PostgreSQL, the kernel's softirq time, and anything else running:
        # another job here shows as contention in the latencies)
        "other_cores": None if machine is None else round(max(0.0, machine - ours), 3),
    }


def link_health(a: Snap, b: Snap, parts: list[Part]) -> dict[str, Any]:
    """Each link over the window: on the edge what it received and lost after repair and the NACKs it sent;
    on the owner the retransmissions it sent and the round trip."""
    out: dict[str, Any] = {}
    for i in (1, 2):
        ea, eb = links(a.lt[i].server, "edge"), links(b.lt[i].server, "edge")
        oa, ob = links(a.lt[0].server, "owner"), links(b.lt[0].server, "owner")
        name = parts[i].node.name
        row: dict[str, Any] = {"packets": 0, "lost_after_repair": 0, "nacks_sent": 0, "retransmissions": 0}
        for key, v in eb.items():
            w = ea.get(key, {})
            row["packets"] += int(v.get("packets", 0) - w.get("packets", 0))
            row["lost_after_repair"] += int(v.get("packets_lost", 0) - w.get("packets_lost", 0))
            row["nacks_sent"] += int(v.get("nacks", 0) - w.get("nacks", 0))
        rtts = []
        for key, v in ob.items():
            if key.startswith(name + "|"):
                row["retransmissions"] += int(
                    v.get("retransmissions", 0) - oa.get(key, {}).get("retransmissions", 0)
                )
                if "rtt_seconds" in v:
                    rtts.append(v["rtt_seconds"] * 1e3)
        row["loss_pct"] = round(100 * row["lost_after_repair"] / max(1, row["packets"]), 4)
        row["rtt_ms"] = round(max(rtts), 3) if rtts else None
        row["tracks"] = len(eb)
        out[name] = row
    return out


def med(values: list[float | None]) -> float | None:
    v = [x for x in values if x is not None]
    return round(statistics.median(v), 4) if v else None


def medians(slices: list[dict[str, Any]]) -> dict[str, Any]:
    """The slices' medians of the headline figures."""
    out: dict[str, Any] = {"added_per_hop_ms": {}, "nodes": {}}
    for edge in slices[0]["added_per_hop_ms"]:
        out["added_per_hop_ms"][edge] = {
            q: med([s["added_per_hop_ms"][edge][q] for s in slices]) for q in ("p50", "p99")
        }
    for name in slices[0]["nodes"]:
        rows = [s["nodes"][name] for s in slices]
        out["nodes"][name] = {
            "latency_p50_ms": med([r["latency_ms"]["p50"] for r in rows]),
            "latency_p99_ms": med([r["latency_ms"]["p99"] for r in rows]),
            "loss_pct": med([r["loss_pct"] for r in rows]),
            "process_cpu": med([r["process_cpu"] for r in rows]),
            "worker_cpu": med([r["worker_cpu"] for r in rows]),
        }
    out["amplification_bytes_ratio"] = med([s["amplification"]["bytes_ratio"] for s in slices])
    out["amplification_packets_ratio"] = med([s["amplification"]["packets_ratio"] for s in slices])
    return out


# ------------------------------------------------------------------------------------------ failover

SDK_FIRST_ROUND_DELAY = 0.25  # signaling/sdk/mediaserver.js: the first round over the cluster's nodes


async def reconnect(
    part: Part, t_kill: float, args: argparse.Namespace, names: dict[str, str]
) -> dict[str, Any]:
    """What the SDK does when its node dies (signaling/sdk/mediaserver.js, _reconnectLoop), for each of the
    dead node's subscribers: on its WebSocket's close, wait the first round's 250 ms, join the next node of
    the list the join named, subscribe again. Timed from the kill to the first media and the first video
    packet on the new node (each subscriber's load generator peer is new; its old one stays silent)."""
    old = part.run
    nodes = part.nodes_named
    at = nodes.index(part.node.base) if part.node.base in nodes else -1
    if len(nodes) < 2:
        return {"error": f"the join named {len(nodes)} nodes: nowhere to go"}
    target = nodes[(at + 1) % len(nodes)]
    base, ws_url, host = loadtest.endpoints(target)
    largs = loadtest.parse_args(
        [
            "--url", base, "--room", ROOM, f"--secret={old.args.secret}", "--clip", "synthetic",
            "--publishers", "0", "--subscribers", str(len(old.subs)),
            "--join-timeout", str(args.join_timeout),
        ]
    )  # fmt: skip
    run = loadtest.Run(largs, old.lg, old.session, base, ws_url, host, "127.0.0.1", {})
    run.subs = [loadtest.Sub(s.i) for s in old.subs]
    part.rejoined = run
    closed_at: dict[int, float] = {}

    async def one(before: loadtest.Sub, sub: loadtest.Sub, token: str) -> None:
        try:
            end = time.monotonic() + 10
            while before.signal is not None and not before.signal.ws.closed:  # bounded: 10 s
                if time.monotonic() > end:
                    raise RuntimeError("its WebSocket did not close within 10 s of the kill")
                await asyncio.sleep(0.005)
            closed_at[sub.i] = time.monotonic() - t_kill
            await asyncio.sleep(SDK_FIRST_ROUND_DELAY)
            await asyncio.wait_for(loadtest.subscribe(run, sub, token), args.join_timeout)
        except Exception as e:  # noqa: BLE001 - one failed rejoin is counted, the others go on
            sub.error = f"{type(e).__name__}: {e}"[:300]

    watch = asyncio.create_task(loadtest.watch_first_packets(run))
    try:
        await asyncio.gather(
            *(one(b, s, t) for b, s, t in zip(old.subs, run.subs, part.toks.attendee, strict=True))
        )
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(watch), args.join_timeout)
    finally:
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)

    def since_kill(sub: loadtest.Sub, ms: float | None) -> float | None:
        return None if ms is None else round((sub.t_open - t_kill) * 1e3 + ms, 1)

    media = [v for s in run.subs if (v := since_kill(s, s.first_ms)) is not None]
    video = [v for s in run.subs if (v := since_kill(s, s.first_video_ms)) is not None]
    return {
        "to": names.get(target, target),
        "subscribers": len(run.subs),
        "with_media": len(media),
        "with_video": len(video),
        "errors": [s.error for s in run.subs if s.error][:5],
        "websocket_closed_ms": loadtest.percentiles([v * 1e3 for v in closed_at.values()]),
        "first_media_ms": loadtest.percentiles(media),
        "first_video_ms": loadtest.percentiles(video),
        "how": "as the SDK: on the WebSocket's close, 250 ms, then a join at the next node the join named, "
        "a subscribe, ICE and DTLS; timed from the kill",
    }


async def failover(
    parts: list[Part], redis_url: str, args: argparse.Namespace, ticker: Ticker, stop: asyncio.Event
) -> dict[str, Any]:
    """SIGKILL node-2; poll the owner's /metrics and the Redis every 100 ms (at most --failover-timeout)."""
    import redis.asyncio as aioredis

    from mediaserver.cluster import keys

    victim = parts[KILLED].node
    owner = parts[0]
    session = owner.run.session
    r = aioredis.Redis.from_url(redis_url)
    survivors = [i for i in range(3) if i != KILLED]
    rejoin: asyncio.Task[dict[str, Any]] | None = None
    try:
        text = await metrics_text(session, owner.node.base)
        before = links(procstat.parse_prometheus(text or ""), "owner")
        at_kill = sum(v.get("bytes", 0) for k, v in before.items() if k.startswith(victim.name + "|"))
        rx0 = rx(parts, survivors)
        ticker.reset(survivors)
        victim.proc.send_signal(signal.SIGKILL)
        t0 = time.monotonic()
        names = {p.node.base: p.node.name for p in parts}
        rejoin = asyncio.create_task(reconnect(parts[KILLED], t0, args, names))
        victim.proc.wait(5)
        log(f"failover: {victim.name} killed (SIGKILL); watching {owner.node.name}'s link to it")
        last_bytes, last_growth, gone_at, registry_gone_at = at_kill, None, None, None
        edge_set_gone_at = None
        next_tick = t0 + 1
        while (now := time.monotonic()) - t0 < args.failover_timeout and not stop.is_set():  # bounded
            text = await metrics_text(session, owner.node.base)
            if text is not None and gone_at is None:
                rows = [
                    v
                    for k, v in links(procstat.parse_prometheus(text), "owner").items()
                    if k.startswith(victim.name + "|")
                ]
                if not rows:
                    gone_at = now - t0
                else:
                    b = sum(v.get("bytes", 0) for v in rows)
                    if b > last_bytes:
                        last_bytes, last_growth = b, now - t0
            if registry_gone_at is None and not await r.exists(keys.node(victim.name)):
                registry_gone_at = now - t0
            if edge_set_gone_at is None and not await r.sismember(keys.room_edges(ROOM), victim.name):
                edge_set_gone_at = now - t0
            # done 2 s after both (the other edge's link must outlive the dead one's)
            if gone_at is not None and registry_gone_at is not None and now - t0 > gone_at + 2:
                break
            if now >= next_tick:
                next_tick += 1
                ticker.tick("failover", survivors)
            await asyncio.sleep(0.1)
        rx1 = rx(parts, survivors)
        waited = time.monotonic() - t0
        try:
            rejoined = await asyncio.wait_for(asyncio.shield(rejoin), 5 if not stop.is_set() else 0.1)
        except asyncio.TimeoutError:
            rejoined = {"error": "the rejoins did not finish within the watch"}
        pk, lost = rx1[0] - rx0[0], rx1[2] - rx0[2]
        text = await metrics_text(session, owner.node.base)
        after = links(procstat.parse_prometheus(text or ""), "owner")
        others = {k: v for k, v in after.items() if not k.startswith(victim.name + "|")}
        return {
            "killed": victim.name,
            "watched_s": round(waited, 1),
            "owner_relayed_until_s": None if last_growth is None else round(last_growth, 2),
            "owner_link_closed_after_s": None if gone_at is None else round(gone_at, 2),
            "bytes_relayed_to_the_dead_edge": int(last_bytes - at_kill),
            "registry_dropped_it_after_s": None if registry_gone_at is None else round(registry_gone_at, 2),
            "room_edge_set_dropped_it_after_s": None
            if edge_set_gone_at is None
            else round(edge_set_gone_at, 2),
            "other_links_at_the_end": {
                "count": len(others),
                "relaying": all(
                    v.get("bytes", 0) > before.get(k, {}).get("bytes", 0) for k, v in others.items()
                ),
            },
            "survivors_received_packets": pk,
            "survivors_lost": lost,
            "survivors_loss_pct": round(100 * lost / max(1, pk + lost), 4),
            "consent_timeout_s": args.consent_timeout or 30,
            "node_ttl_s": args.node_ttl,
            "reconnection": rejoined,  # the dead node's subscribers, as the SDK moves them
        }
    finally:
        if rejoin is not None and not rejoin.done():
            rejoin.cancel()
            await asyncio.gather(rejoin, return_exceptions=True)
        await r.aclose()


# ------------------------------------------------------------------------------------------ the run


def spread(n: int) -> list[int]:
    return [n // 3 + (1 if i < n % 3 else 0) for i in range(3)]


async def bench(args: argparse.Namespace, redis_url: str, nodes: list[Node], secret: str) -> dict[str, Any]:
    from bench.loadgen import Loadgen

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def interrupt() -> None:
        if stop.is_set():  # a second one: no more waiting (the cleanup still runs)
            raise KeyboardInterrupt
        log("\nstopping (Ctrl-C or SIGTERM): cleaning up")
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupt)
    encoded = loadtest.synthetic_clips()
    top_pps = clipmod.packets_per_second(encoded["f"]) + clipmod.packets_per_second(encoded["audio"])
    counts = spread(args.subscribers)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    parts: list[Part] = []
    try:
        for n, count in zip(nodes, counts, strict=True):
            largs = loadtest.parse_args(
                [
                    "--url", n.base, "--room", ROOM, f"--secret={secret}", "--clip", "synthetic",
                    "--publishers", "1" if n.i == 0 else "0", "--subscribers", str(count),
                    "--join-timeout", str(args.join_timeout), "--concurrency", "8",
                ]
            )  # fmt: skip
            base, ws_url, host = loadtest.endpoints(n.base)
            lg = Loadgen(bind_ip="127.0.0.1", verify_every=1)
            clip_ids = (
                {
                    name: lg.load_clip(clipmod.frames_of(enc), clock_rate=48000 if name == "audio" else 90000)
                    for name, enc in encoded.items()
                }
                if n.i == 0
                else {}
            )
            run = loadtest.Run(largs, lg, session, base, ws_url, n.host, "127.0.0.1", clip_ids)
            run.subs = [loadtest.Sub(k) for k in range(count)]
            run.top_pps = top_pps
            parts.append(Part(n, run, await loadtest.get_tokens(session, base, largs)))
        return await measure(args, parts, redis_url, stop)
    finally:
        for p in parts:
            for t in p.tasks:
                t.cancel()
            await asyncio.gather(*p.tasks, return_exceptions=True)
            if p.probe is not None:
                await p.probe.close()
        for p in parts:
            sigs = [s.signal for s in p.run.subs if s.signal is not None] + p.run.pub_signals
            if p.rejoined is not None:
                sigs += [s.signal for s in p.rejoined.subs if s.signal is not None]
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(s.close() for s in sigs), return_exceptions=True), 20)
            p.run.lg.close()
        await session.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def measure(
    args: argparse.Namespace, parts: list[Part], redis_url: str, stop: asyncio.Event
) -> dict[str, Any]:
    every = [0, 1, 2]
    ticker = Ticker(parts, stop)
    owner = parts[0]
    await asyncio.wait_for(loadtest.publish(owner.run, 0, owner.toks.publisher[0]), args.join_timeout)
    log(f"publisher on {owner.node.name} (the room's owner): Opus + VP8 q/h/f, synthetic clip")
    mirrored = {}
    for p in parts[1:]:
        mirrored[p.node.name] = round(await wait_for_links(p, 2, args.join_timeout), 2)
    log("edges mirror both tracks after " + ", ".join(f"{k} {v} s" for k, v in mirrored.items()))
    for p in parts:
        p.tasks = [
            asyncio.create_task(loadtest.watch_first_packets(p.run)),
            asyncio.create_task(loadtest.join_all(p.run, p.toks)),
        ]
    deadline = time.monotonic() + args.join_timeout
    while not stop.is_set() and time.monotonic() < deadline:  # bounded: --join-timeout
        if all(
            p.tasks[1].done() and all(s.first_ms is not None or s.error for s in p.run.subs) for p in parts
        ):
            break
        await ticker.sleep(1.0, "joining", every)
    errors = [f"{p.node.name} #{s.i}: {s.error}" for p in parts for s in p.run.subs if s.error]
    waiting = sum(1 for p in parts for s in p.run.subs if s.first_ms is None)
    if errors or waiting:
        raise RuntimeError(f"{waiting} subscribers got no media; errors: {errors[:5]}")
    # warm-up: at least --warmup s, then until every subscriber receives the top layer for 2 s
    full = args.subscribers * top_pps(parts)
    t0, full_for = time.monotonic(), 0
    while not stop.is_set():  # bounded: --warmup + --steady-timeout
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        pps = ticker.tick("warm-up", every)
        full_for = full_for + 1 if pps >= 0.95 * full else 0
        waited = time.monotonic() - t0
        if waited >= args.warmup and full_for >= 2:
            break
        if waited >= args.warmup + args.steady_timeout:
            log(
                f"the subscribers receive {pps:,.0f} packets/s, not the {full:,.0f} of the top layer: "
                "measuring what they get"
            )
            break
    warmed = round(time.monotonic() - t0, 1)
    if stop.is_set():
        raise Interrupted
    snaps = [await snapshot(parts, every)]
    for _ in range(args.slices):
        await ticker.sleep(args.duration / args.slices, "measure", every)
        if stop.is_set():
            raise Interrupted
        snaps.append(await snapshot(parts, every))
    whole = interval(snaps[0], snaps[-1], parts, every)
    slices = [interval(a, b, parts, every) for a, b in zip(snaps, snaps[1:], strict=False)]
    health = link_health(snaps[0], snaps[-1], parts)
    kreq = loadtest.keyframe_requests(owner.run)
    fo = None
    if not args.no_failover:
        fo = await failover(parts, redis_url, args, ticker, stop)
    if stop.is_set():
        raise Interrupted
    return {
        "subscribers_per_node": {p.node.name: len(p.run.subs) for p in parts},
        "edges_mirrored_after_s": mirrored,
        "join_ms": {
            p.node.name: loadtest.percentiles([s.first_ms for s in p.run.subs if s.first_ms]) for p in parts
        },
        "warmed_up_s": warmed,
        "window": whole,
        "slices": slices,
        "medians_of_slices": medians(slices),
        "links": health,
        "keyframe_requests": kreq,
        "failover": fo,
    }


def top_pps(parts: list[Part]) -> float:
    return parts[0].run.top_pps


# ------------------------------------------------------------------------------------------ output


METHOD = {
    "latency": "each packet's payload ends with the load generator's trailer (send time, CLOCK_MONOTONIC, "
    "stamped before encryption); the SFU forwards payloads untouched, over the link too; each node's "
    "subscribers have a load generator of their own in this process, timing packets to the kernel's receive "
    "timestamp on the same clock. Added per hop = an edge's subscribers' percentile minus the owner's, same "
    "window (histograms of 10 log-spaced buckets a decade, interpolated). abs-send-time is not used (the "
    "load generator's publishers do not send it; the SFU copies a publisher's value through unchanged)",
    "amplification": "owner's mediaserver_cluster_link_bytes_total{side=owner} (SRTP packets sent over its "
    "links, every track and layer) over the publisher's SRTP bytes sent, same window; packets likewise",
    "cpu": "process_cpu: /proc/PID/stat utime+stime of the node (every thread) over the window, in cores; "
    "worker_cpu: mediaserver_worker_cpu_seconds_total (the media worker's thread)",
    "loss": "subscribers: RTP sequence gaps that NACK/RTX did not repair; links: "
    "mediaserver_cluster_link_packets_lost on the edge (after repair)",
    "keyframe_requests": "PLI/FIR reaching the publisher's layer sources over the whole run (joins "
    "included), counted by the load generator",
    "failover": "SIGKILL of node-2 after the window; the owner's /metrics and the Redis polled every 100 ms; "
    "node-2's subscribers rejoin as the SDK does (on the WebSocket's close, 250 ms, the next node the join "
    "named, join and subscribe), timed from the kill to their first media and first video packet",
}


def verdict(doc: dict[str, Any]) -> dict[str, Any]:
    w, m = doc["window"], doc["medians_of_slices"]
    hop_p99 = [v["p99"] for v in m["added_per_hop_ms"].values() if v["p99"] is not None]
    cpus = [n["process_cpu"] for n in m["nodes"].values() if n["process_cpu"] is not None]
    loss = max(n["loss_pct"] for n in w["nodes"].values())
    amp = w["amplification"]["bytes_ratio"]
    kmax = max((k["max_in_1s"] for k in doc["keyframe_requests"]), default=0)
    return {
        "added_p99_per_hop_under_1ms": bool(hop_p99) and max(hop_p99) < 1.0,
        "nodes_under_half_a_core": bool(cpus) and max(cpus) < 0.5,
        "subscriber_loss_under_0.5pct": loss < 0.5,
        "amplification_equals_edges": amp is not None and abs(amp - 2) < 0.1,
        "at_most_one_keyframe_request_a_second_per_layer": kmax <= 1,
    }


def table(doc: dict[str, Any]) -> str:
    w, m = doc["window"], doc["medians_of_slices"]
    lines = [
        f"window {w['seconds']} s in {len(doc['slices'])} slices: medians of the slices (the whole window)",
        "node    role   subs  pkt/s     loss %   latency p50 / p99 ms        process CPU  worker CPU",
    ]
    for name, n in w["nodes"].items():
        mm = m["nodes"][name]
        lines.append(
            f"{name:<7} {n['role']:<6} {n['subscribers']:>4}  {n['received_packets_per_s']:>8,.0f}  "
            f"{n['loss_pct']:>6.3f}   {mm['latency_p50_ms']:.3f} / {mm['latency_p99_ms']:.3f} "
            f"({n['latency_ms']['p50']:.3f} / {n['latency_ms']['p99']:.3f})   "
            f"{mm['process_cpu']:.3f}        {mm['worker_cpu']:.3f}"
        )
    for edge, h in m["added_per_hop_ms"].items():
        wh = w["added_per_hop_ms"][edge]
        lines.append(
            f"added by the hop to {edge}: p50 {h['p50']:+.3f} ms, p99 {h['p99']:+.3f} ms "
            f"(whole window {wh['p50']:+.3f} / {wh['p99']:+.3f})"
        )
    a = w["amplification"]
    lines.append(
        f"inter-node / published: bytes {a['bytes_ratio']} (per edge {a['bytes_ratio_per_edge']}), "
        f"packets {a['packets_ratio']}; machine busy {w['machine_busy_cores']} cores of {os.cpu_count()} "
        f"(this bench's load generators and nodes {w['load_and_nodes_cores']}, the rest {w['other_cores']})"
    )
    for name, h in doc["links"].items():
        lines.append(
            f"link node-0 -> {name}: {h['packets']:,} packets, lost after repair {h['lost_after_repair']}, "
            f"NACKs {h['nacks_sent']}, retransmissions {h['retransmissions']}, rtt {h['rtt_ms']} ms"
        )
    for k in doc["keyframe_requests"]:
        gap = "-" if k["min_gap_ms"] is None else f"{k['min_gap_ms']:,.0f} ms"
        lines.append(
            f"keyframe requests at the publisher, layer {k['layer']}: {k['requests']} ({k['per_s']}/s), "
            f"at most {k['max_in_1s']} within a second, shortest gap {gap}"
        )
    fo = doc["failover"]
    if fo:
        lines.append(
            f"failover: {fo['killed']} killed; the owner relayed to it for {fo['owner_relayed_until_s']} s "
            f"({fo['bytes_relayed_to_the_dead_edge']:,} bytes), closed the link after "
            f"{fo['owner_link_closed_after_s']} s (consent_timeout {fo['consent_timeout_s']} s); the "
            f"registry dropped it after {fo['registry_dropped_it_after_s']} s; the room's edge set "
            + (
                "still named it"
                if fo["room_edge_set_dropped_it_after_s"] is None
                else f"dropped it after {fo['room_edge_set_dropped_it_after_s']} s"
            )
            + f"; the owner's other links: {fo['other_links_at_the_end']['count']}, "
            + ("still relaying" if fo["other_links_at_the_end"]["relaying"] else "NOT all relaying")
            + f"; the other subscribers lost {fo['survivors_lost']} of {fo['survivors_received_packets']:,}"
        )
        rc = fo["reconnection"]
        if "error" in rc:
            lines.append(f"reconnection: {rc['error']}")
        else:
            fm, fv = rc["first_media_ms"], rc["first_video_ms"]
            lines.append(
                f"reconnection (as the SDK) of {rc['subscribers']} subscribers to {rc['to']}: "
                f"{rc['with_media']} got media again; kill -> first media p50 {fm['p50']} / p95 {fm['p95']} "
                "ms, "
                f"first video p50 {fv['p50']} / p95 {fv['p95']} ms ({rc['with_video']} with video)"
                + (f"; errors: {rc['errors']}" if rc["errors"] else "")
            )
    lines.append("bar: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in doc["bar"].items()))
    busy = [x["other_cores"] for x in doc["slices"] if x["other_cores"] is not None]
    if busy and max(busy) > OTHER_LOAD:
        lines.append(
            f"warning: up to {max(busy):.2f} cores of other load on the machine during the window (not this "
            "bench's nodes or load generators): the latencies include that contention; run again on a quiet "
            "machine"
        )
    return "\n".join(lines)


def log_warnings(nodes: list[Node]) -> dict[str, list[str]]:
    out = {}
    for n in nodes:
        try:
            lines = n.log.read_text(errors="replace").splitlines()
        except OSError:
            continue
        bad = [ln[:300] for ln in lines if re.search(r"\b(WARNING|ERROR|CRITICAL|Traceback)\b", ln)]
        out[n.name] = bad[:20]
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.cluster", description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument(
        "--subscribers", type=int, default=90, help="subscribers in all, spread evenly over the 3 nodes (90)"
    )
    ap.add_argument("--duration", type=float, default=30.0, help="the measured window, seconds (default 30)")
    ap.add_argument("--slices", type=int, default=3, help="equal slices of the window, for medians (3)")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds before the window at least (3)")
    ap.add_argument(
        "--steady-timeout",
        type=float,
        default=20.0,
        help="at most this long after --warmup waiting for every subscriber to get the top layer (20 s)",
    )
    ap.add_argument("--join-timeout", type=float, default=30.0, help="bound on the joins (30 s)")
    ap.add_argument(
        "--consent-timeout",
        type=int,
        default=0,
        help="the nodes' consent_timeout, seconds (0: the server's default, 30): how long a link to a dead "
        "edge lives",
    )
    ap.add_argument("--node-ttl", type=float, default=6.0, help="the nodes' node_ttl, seconds (default 6)")
    ap.add_argument(
        "--failover-timeout",
        type=float,
        default=0.0,
        help="how long to watch after the kill at most (0: consent timeout + 15 s)",
    )
    ap.add_argument("--no-failover", action="store_true", help="leave out the kill of node-2")
    ap.add_argument(
        "--out", type=Path, default=RESULTS, help=f"the JSON (default {RESULTS.relative_to(ROOT)})"
    )
    args = ap.parse_args(argv)
    if not 3 <= args.subscribers <= 300:
        ap.error("--subscribers 3..300 (one machine runs the three nodes and the load)")
    if not 1 <= args.duration <= 600 or not 1 <= args.slices <= 20 or args.duration / args.slices < 0.5:
        ap.error("--duration 1..600, --slices 1..20, at least 0.5 s a slice")
    if not 0 <= args.warmup <= 60 or not 0 <= args.steady_timeout <= 120 or not 1 <= args.join_timeout <= 300:
        ap.error("--warmup 0..60, --steady-timeout 0..120, --join-timeout 1..300")
    if not 0 <= args.consent_timeout <= 120 or not 1 <= args.node_ttl <= 60:
        ap.error("--consent-timeout 0..120, --node-ttl 1..60")
    if not args.failover_timeout:
        args.failover_timeout = (args.consent_timeout or 30) + 15.0
    if not 1 <= args.failover_timeout <= 300:
        ap.error("--failover-timeout 1..300")
    return args


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Ctrl-C and SIGTERM while the services start (or stop) end the run with its cleanup, also where SIGINT
    # came ignored (a background job of a script); during the run the event loop takes both over
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    loadtest.raise_nofile(argparse.Namespace(subscribers=args.subscribers + 8, publishers=1))
    secret = secrets.token_urlsafe(32)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as t:
        tmp = Path(t)
        try:
            with cluster(tmp, args, secret) as (redis, nodes):
                try:
                    doc = asyncio.run(bench(args, redis.url, nodes, secret))
                finally:
                    warnings = log_warnings(nodes)
        except (KeyboardInterrupt, Interrupted):
            log("interrupted: everything stopped, no results written")
            return 130
    doc["log_warnings"] = warnings
    doc["method"] = METHOD
    doc["bar"] = verdict(doc)
    doc["contended"] = any((x["other_cores"] or 0) > OTHER_LOAD for x in doc["slices"])
    doc["run_seconds"] = round(time.monotonic() - t0, 1)
    log("")
    log(table(doc))
    out = args.out
    with contextlib.suppress(ValueError):  # recorded relative to the checkout when under it
        args.out = out.resolve().relative_to(ROOT)
    results.write(out, args, **doc)
    log(f"written to {out} ({doc['run_seconds']} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
