#!/usr/bin/env python3
"""Interaction at scale (issue 16): N attendees in one webinar, chat and reactions, delivery time to everyone.

A fresh server (``python -m mediaserver.cli serve``, pinned to core 0 with ``--pin``) hosts one webinar room
(capacity N, made through POST /api/v1/rooms with the API key); join tokens are minted with the server's
secret (mediaserver.rtc.tokens.issue: the benchmark starts the server itself, so it knows the secret; the
per-address join rate limit of POST .../join is not in the way). The clients are ``bench/wsload/wsload.c``,
one native epoll process (on core 1 with ``--pin``): N WebSocket clients that join at once (the join storm),
then for ``--seconds`` 40 of them send 20 chat messages a second in all and 100 others 100 reactions a
second (each sender inside the per-person budgets of mediaserver/interaction: chat burst 5, 1/s; reactions
burst 4, 2/s).
Every chat text carries its send time (CLOCK_MONOTONIC of the one client process), so every client measures
the delivery time of every message; each counts the messages it got (lost = accepted - received, for the
connected clients).

Per run: joins/s and p50/p99 time to joined; delivery p50/p99/max; lost; the server's CPU (cores, from
/proc/PID/stat) over the join storm and the steady phase; its RSS before and after the joins (growth per
attendee); bytes per attendee per second (WebSocket bytes a client received, steady phase); the harness's
own CPU: a run where it is over ``HARNESS_SATURATED`` of a core in the steady phase is marked invalid (the
harness, not the server, would be the limit). With ``--nonreading F`` the last F of the clients read their
join reply and then never read again (SO_RCVBUF 4 KB): the server must cut them off (bounded memory) and
the others must see no extra delay.

The machine has 2 cores and other people use it: every run is bounded (join timeout, steady seconds, drain)
and the server is stopped at the end whatever happens.

    python bench/interaction.py                             # 1000, 2000, 5000, 5000 with 5% not reading
    python bench/interaction.py --sizes 50 --seconds 3 --no-nonreading --out /tmp/x.json   # a smoke run
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bench.lib import procstat  # noqa: E402
from mediaserver.rtc import tokens  # noqa: E402

SERVER_CORE, LOADGEN_CORE = 0, 1
WSLOAD_SRC = ROOT / "bench" / "wsload" / "wsload.c"
HARNESS_SATURATED = 0.8  # of one core: above it the harness may be the bottleneck, the run is invalid
BAR = {"delivery_p99_ms": 500.0, "lost": 0, "server_cpu_cores": 1.0, "rss_growth_kb_per_attendee": 30.0}
CONTENDED = 0.1  # a run where the server or the clients waited for a core more than this share of the time
PAGE = os.sysconf("SC_PAGE_SIZE")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def wsload_binary() -> Path:
    """The native client: built by setup.py (MEDIASERVER_BUILD_TESTING=1) next to its source, or compiled
    here with the system C compiler when missing or older than its source."""
    exe = WSLOAD_SRC.with_name("wsload")
    if not exe.exists() or exe.stat().st_mtime < WSLOAD_SRC.stat().st_mtime:
        cc = os.environ.get("CC", "cc")
        tmp = exe.with_name(f".wsload-{os.getpid()}")
        subprocess.run([cc, "-O2", "-Wall", "-o", str(tmp), str(WSLOAD_SRC)], check=True, timeout=120)
        tmp.replace(exe)
    return exe


def raise_nofile(n: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(max(n, soft), hard) if hard != resource.RLIM_INFINITY else max(n, soft)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def run_wait_ns(pid: int) -> int:
    """Nanoseconds pid's threads spent runnable but waiting for a core (/proc/PID/task/*/schedstat, second
    field): other people's processes on the shared machine delay the server by this much."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            pass
    return total


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE // 1024


class Server:
    """`python -m mediaserver.cli serve` on a free loopback port with a known secret and API key."""

    def __init__(self, pin: bool, tick: float) -> None:
        from bench.fanout import free_tcp_port

        self.port = free_tcp_port()
        self.secret = secrets.token_urlsafe(24)
        self.api_key = secrets.token_urlsafe(24)
        self.pin = pin
        self.tick = tick
        self.data_dir = tempfile.mkdtemp(prefix="interaction-server-")
        self.log_path = Path(self.data_dir) / "server.log"
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = dict(
            os.environ,
            MEDIASERVER_HTTP_PORT=str(self.port),
            MEDIASERVER_HTTP_HOST="127.0.0.1",
            MEDIASERVER_RTC_PORT="0",
            MEDIASERVER_RTC_LISTEN_IP="127.0.0.1",
            MEDIASERVER_ANNOUNCED_IP="127.0.0.1",
            MEDIASERVER_SECRET=self.secret,
            MEDIASERVER_API_KEY=self.api_key,
            MEDIASERVER_LOG_LEVEL="WARNING",
            MEDIASERVER_DATA_DIR=self.data_dir,
            MEDIASERVER_INTERACTION_TICK=str(self.tick),
            PYTHONPATH=str(ROOT),
        )
        env.pop("MEDIASERVER_CONFIG", None)
        pin = self.pin

        def preexec() -> None:
            os.setpgid(0, 0)
            if pin:
                os.sched_setaffinity(0, {SERVER_CORE})

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mediaserver.cli", "serve"],
            cwd=ROOT,
            env=env,
            stdout=self.log_path.open("w"),
            stderr=subprocess.STDOUT,
            preexec_fn=preexec,
        )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    async def ready(self, http: aiohttp.ClientSession, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log_tail()}")
            try:
                async with http.get(self.base + "/healthz") as r:
                    if r.status == 200:
                        return
            except (aiohttp.ClientError, OSError):
                pass
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the server did not start within {timeout} s: {self.log_tail()}")

    def stop(self) -> None:
        procstat.terminate(self.proc)
        self.proc = None
        shutil.rmtree(self.data_dir, ignore_errors=True)


async def run_once(n: int, nonreading: float, args: argparse.Namespace, exe: Path) -> dict[str, Any]:
    server = Server(args.pin, args.tick)
    server.start()
    tokfile = Path(server.data_dir) / "tokens.txt"
    try:
        async with aiohttp.ClientSession() as http:
            await server.ready(http)
            async with http.post(
                server.base + "/api/v1/rooms",
                json={"type": "webinar", "name": "bench interaction", "capacity": n},
                headers={"Authorization": f"Bearer {server.api_key}"},
            ) as r:
                room = await r.json()
                if r.status != 201:
                    raise RuntimeError(f"room not created: {r.status} {room}")
        secret, rid = server.secret, room["id"]
        tokfile.write_text(
            "".join(
                tokens.issue(secret, rid, "attendee", f"a{i}", f"a{i}", 7200, adhoc=False) + "\n"
                for i in range(n)
            )
        )
        await asyncio.sleep(0.5)  # let the server settle after its start
        pid = server.pid
        rss0, cpu0, wall0 = rss_kb(pid), procstat.proc_cpu_us(pid), time.monotonic()
        cmd = [
            str(exe),
            "--port", str(server.port),
            "--tokens", str(tokfile),
            "--seconds", str(args.seconds),
            "--chat-rate", str(args.chat_rate),
            "--react-rate", str(args.react_rate),
            "--chat-senders", str(args.chat_senders),
            "--react-senders", str(args.react_senders),
            "--nonreading", str(nonreading),
            "--inflight", str(args.inflight),
            "--join-timeout", str(args.join_timeout),
        ]  # fmt: skip
        pin = args.pin

        def preexec() -> None:
            if pin:
                os.sched_setaffinity(0, {LOADGEN_CORE})

        spy = None
        if args.profile:  # py-spy on the server for the whole run, collapsed stacks (flamegraph.pl input)
            args.profile.mkdir(parents=True, exist_ok=True)
            spy = subprocess.Popen(
                ["py-spy", "record", "-p", str(pid), "-r", "50", "--nonblocking", "--format", "raw"]
                + ["-o", str(args.profile / f"server-{n}-{nonreading:g}.txt")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            await asyncio.sleep(1.0)
        client = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=preexec
        )
        # the phases, seen from here: the client prints "joined" on stderr when the storm is over
        assert client.stderr is not None
        line = await asyncio.to_thread(client.stderr.readline)
        cpu1, wall1 = procstat.proc_cpu_us(pid), time.monotonic()
        await asyncio.sleep(1.0)  # the client's settle second
        rss2, cpu2, wall2 = rss_kb(pid), procstat.proc_cpu_us(pid), time.monotonic()
        wait2, load2, hwait2 = run_wait_ns(pid), os.getloadavg()[0], run_wait_ns(client.pid)
        rss_peak = rss2
        while client.poll() is None and time.monotonic() - wall2 < args.seconds:
            await asyncio.sleep(0.5)
            rss_peak = max(rss_peak, rss_kb(pid))
        rss3, cpu3, wall3 = rss_kb(pid), procstat.proc_cpu_us(pid), time.monotonic()
        wait3 = run_wait_ns(pid)
        hwait3 = run_wait_ns(client.pid) if client.poll() is None else hwait2
        try:
            out, err = await asyncio.to_thread(client.communicate, timeout=args.join_timeout + 60)
        except subprocess.TimeoutExpired:
            client.kill()
            raise RuntimeError("the client did not finish") from None
        if client.returncode != 0 or not out.strip():
            raise RuntimeError(f"wsload failed ({client.returncode}): {line}{err[-2000:]}")
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            await asyncio.to_thread(spy.wait, 30)
        res: dict[str, Any] = json.loads(out)
        # the leave storm: the client has exited, so the kernel closed all its connections at once
        leave = await leave_storm(server, pid)
        alive = server.proc is not None and server.proc.poll() is None
    finally:
        server.stop()
    joined = res["joined"]
    steady_cores = (cpu3 - cpu2) / 1e6 / (wall3 - wall2)
    run: dict[str, Any] = {
        "attendees": n,
        "nonreading_fraction": nonreading,
        **res,
        "server": {
            "alive_at_end": alive,
            "cpu_cores_join": round((cpu1 - cpu0) / 1e6 / (wall1 - wall0), 3),
            "cpu_cores_steady": round(steady_cores, 3),
            "cpu_s_join": round((cpu1 - cpu0) / 1e6, 2),
            # runnable but not running (another process had the core): the shared machine's noise
            "run_queue_wait_fraction_steady": round((wait3 - wait2) / 1e9 / (wall3 - wall2), 3),
            "loadavg_1m_steady_start": round(load2, 2),
            "rss_mb_before": round(rss0 / 1024, 1),
            "rss_mb_joined": round(rss2 / 1024, 1),
            "rss_mb_end": round(rss3 / 1024, 1),
            "rss_mb_peak_steady": round(rss_peak / 1024, 1),
            "rss_growth_kb_per_attendee": round((rss2 - rss0) / max(joined, 1), 1),
            "rss_growth_kb_per_attendee_end": round((rss3 - rss0) / max(joined, 1), 1),
        },
    }
    run["leave_storm"] = leave
    run["harness_run_queue_wait_fraction_steady"] = round((hwait3 - hwait2) / 1e9 / (wall3 - wall2), 3)
    # other people's work on the shared 2 cores: the server or the clients waited for a core this much
    waits = (run["server"]["run_queue_wait_fraction_steady"], run["harness_run_queue_wait_fraction_steady"])
    run["contended"] = max(waits) > CONTENDED
    hsat = res["harness_cpu_fraction_steady"] > HARNESS_SATURATED
    run["valid"] = not hsat and res["join_failed"] == 0 and alive
    run["invalid_because"] = [
        *(["harness saturated"] if hsat else []),
        *([f"{res['join_failed']} joins failed: {res['last_error']}"] if res["join_failed"] else []),
        *(["the server died"] if not alive else []),
    ]
    s = run["server"]
    run["meets_bar"] = (
        res["delivery_ms"]["p99"] < BAR["delivery_p99_ms"]
        and res["lost"] == 0
        and s["cpu_cores_steady"] < BAR["server_cpu_cores"]
        and s["rss_growth_kb_per_attendee"] < BAR["rss_growth_kb_per_attendee"]
    )
    return run


async def leave_storm(server: Server, pid: int, timeout: float = 60.0) -> dict[str, Any]:
    """Every client gone at once (the load generator exited): how long until the server's rooms are empty
    (its ``mediaserver_participants`` gauge, polled every 20 ms), the server's CPU seconds for it, and the
    slowest answer of /metrics meanwhile (its event loop's responsiveness during the storm)."""
    cpu0, t0 = procstat.proc_cpu_us(pid), time.monotonic()
    slowest, left, polls = 0.0, -1.0, 0
    async with aiohttp.ClientSession() as http:
        while time.monotonic() - t0 < timeout:
            asked = time.monotonic()
            async with http.get(server.base + "/metrics") as r:
                text = await r.text()
            slowest = max(slowest, time.monotonic() - asked)
            polls += 1
            m = re.search(r"^mediaserver_participants ([0-9.e+]+)$", text, re.M)
            if m is not None and float(m.group(1)) == 0:
                left = time.monotonic() - t0
                break
            await asyncio.sleep(0.02)
    return {
        "seconds_to_empty": round(left, 3) if left >= 0 else None,
        "cpu_s": round((procstat.proc_cpu_us(pid) - cpu0) / 1e6, 3),
        "slowest_metrics_answer_ms": round(slowest * 1000, 1),
        "polls": polls,
    }


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        pass
    load = os.getloadavg()
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_at_start": [round(x, 2) for x in load],
    }


def git_head() -> dict[str, Any]:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "mediaserver", "signaling", "bench/wsload"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"git_head": head, "dirty_files": sorted(ln[3:] for ln in dirty if ln.strip())}


def row(r: dict[str, Any]) -> str:
    s, d = r["server"], r["delivery_ms"]
    return (
        f"{r['attendees']:>6} {r['nonreading']:>5} {r['joins_per_s']:>8.0f} {r['join_ms']['p50']:>7.0f} "
        f"{r['join_ms']['p99']:>7.0f} {d['p50']:>6.0f} {d['p99']:>6.0f} {d['max']:>6.0f} {r['lost']:>5} "
        f"{s['cpu_cores_join']:>6.2f} {s['cpu_cores_steady']:>6.2f} {s['rss_growth_kb_per_attendee']:>6.1f} "
        f"{r['bytes_per_attendee_per_s']:>7.0f} {r['harness_cpu_fraction_steady']:>6.2f} "
        f"{'yes' if r['valid'] else 'NO':>5} {'yes' if r['meets_bar'] else 'no':>4} "
        f"{s['run_queue_wait_fraction_steady']:>5.2f} {r['harness_run_queue_wait_fraction_steady']:>5.2f} "
        f"{_leave(r):>7}"
    )


def _leave(r: dict[str, Any]) -> str:
    took = (r.get("leave_storm") or {}).get("seconds_to_empty")
    return "-" if took is None else f"{took:.2f}"


HEADER = (
    "     N  !read  joins/s join50ms join99ms  d50ms  d99ms  dmax  lost cpuJn cpuSt KB/att  B/att/s harness "
    "valid  bar  sWait hWait leave_s"
)


async def main_async(args: argparse.Namespace) -> int:
    exe = wsload_binary()
    biggest = max(args.sizes)
    nofile = raise_nofile(biggest * 2 + 1024)
    if nofile < biggest + 256:
        log(f"RLIMIT_NOFILE is {nofile}: too low for {biggest} clients")
        return 2
    plan = [(n, 0.0) for n in args.sizes]
    if args.nonreading > 0:
        plan.append((biggest, args.nonreading))
    runs: list[dict[str, Any]] = []
    for n, nr in plan:
        for rep in range(args.repeat):
            log(f"--- {n} attendees, {nr:.0%} not reading (run {rep + 1}/{args.repeat})")
            r = await run_once(n, nr, args, exe)
            runs.append(r)
            log(HEADER)
            log(row(r))
    doc = {
        "benchmark": "interaction",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "build": git_head(),
        "bar": BAR,
        "config": {
            "seconds": args.seconds,
            "chat_per_s": args.chat_rate,
            "reactions_per_s": args.react_rate,
            "chat_senders": args.chat_senders,
            "reaction_senders": args.react_senders,
            "join_inflight": args.inflight,
            "interaction_tick_s": args.tick,
            "pinned": {"server_core": SERVER_CORE, "client_core": LOADGEN_CORE} if args.pin else None,
            "tokens": "minted with the server's secret (mediaserver.rtc.tokens.issue); no rate_limit_join "
            "change needed",
            "harness_saturated_above": HARNESS_SATURATED,
            "contended_above": CONTENDED,
            "repeat": args.repeat,
        },
        "runs": runs,
        "summary": summarize(runs),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    log(HEADER)
    for r in runs:
        log(row(r))
    log(f"wrote {args.out}")
    return 0


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The median of the repeats of each (attendees, non-reading) configuration."""
    out = []
    keys = sorted({(r["attendees"], r["nonreading_fraction"]) for r in runs})
    for n, nr in keys:
        rs = [r for r in runs if r["attendees"] == n and r["nonreading_fraction"] == nr]

        def med(f: Any, rs: list[dict[str, Any]] = rs) -> float:
            return round(statistics.median(f(r) for r in rs), 3)

        out.append(
            {
                "attendees": n,
                "nonreading_fraction": nr,
                "runs": len(rs),
                "all_valid": all(r["valid"] for r in rs),
                "joins_per_s": med(lambda r: r["joins_per_s"]),
                "join_ms_p50": med(lambda r: r["join_ms"]["p50"]),
                "join_ms_p99": med(lambda r: r["join_ms"]["p99"]),
                "delivery_ms_p50": med(lambda r: r["delivery_ms"]["p50"]),
                "delivery_ms_p99": med(lambda r: r["delivery_ms"]["p99"]),
                "delivery_ms_max": med(lambda r: r["delivery_ms"]["max"]),
                "lost": max(r["lost"] for r in rs),
                "server_cpu_cores_join": med(lambda r: r["server"]["cpu_cores_join"]),
                "server_cpu_cores_steady": med(lambda r: r["server"]["cpu_cores_steady"]),
                "rss_growth_kb_per_attendee": med(lambda r: r["server"]["rss_growth_kb_per_attendee"]),
                "bytes_per_attendee_per_s": med(lambda r: r["bytes_per_attendee_per_s"]),
                "harness_cpu_fraction_steady": med(lambda r: r["harness_cpu_fraction_steady"]),
                "meets_bar": all(r["meets_bar"] for r in rs),
                "contended_runs": sum(r["contended"] for r in rs),
                "server_run_queue_wait_fraction": med(
                    lambda r: r["server"]["run_queue_wait_fraction_steady"]
                ),
            }
        )
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 5000])
    p.add_argument("--nonreading", type=float, default=0.05, help="a run at the largest size with this share")
    p.add_argument("--no-nonreading", dest="nonreading", action="store_const", const=0.0)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--chat-rate", type=float, default=20.0)
    p.add_argument("--react-rate", type=float, default=100.0)
    p.add_argument("--chat-senders", type=int, default=40)
    p.add_argument("--react-senders", type=int, default=100)
    p.add_argument("--inflight", type=int, default=256, help="connections handshaking at once")
    p.add_argument("--join-timeout", type=float, default=180.0)
    p.add_argument("--tick", type=float, default=0.1, help="the server's interaction_tick")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument(
        "--pin",
        action="store_true",
        help="the server on core 0, the clients on core 1 (on a shared machine the scheduler does better)",
    )
    p.add_argument("--profile", type=Path, help="record the server with py-spy into this folder")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "interaction.json")
    args = p.parse_args(argv)
    if args.pin and not {SERVER_CORE, LOADGEN_CORE} <= os.sched_getaffinity(0):
        args.pin = False
    return args


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
