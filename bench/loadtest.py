#!/usr/bin/env python3
"""Load-test a running server (issue 18 item 4): P publishers and N subscribers in one room, from here.

    python -m bench.loadtest --url http://media.example.com:8080 --room 123456789 --api-key KEY \\
        --publishers 1 --subscribers 50 --duration 30 --json loadtest.json
    mediaserver loadtest ...      # the same, from a source checkout (see docs/benchmarks.md)

The server is any deployment, started separately, on this host or another: the peers signal over its
WebSocket (``/ws`` under --url), the media goes where the server's SDP candidates say, and this host's
address towards the server is where the peers bind (--bind to choose it). All peers are driven by the
native load generator (bench/loadgen: one C I/O thread, no Python per packet). Each publisher sends Opus
and three VP8 simulcast layers (q, h, f at 150, 400 and 1,700 kbit/s, as a browser does); every packet
carries the loadgen's send-time trailer, so the subscribers, in this same process and clock, time each
packet's trip through the server.

Join tokens: --token (publishers) and --attendee-token (subscribers), e.g. from ``mediaserver token`` or
the event API (its start gives hostToken, the public join an attendee token); or --api-key, the server's
API key, to mint them through ``POST /api/v1/tokens``; or --secret, the server's secret, to sign them here.

Once a second a progress line: subscribers joined and receiving, the receive rate and the loss so far.
The measured window starts when every subscriber receives (or --join-timeout passed), --warmup more
seconds went by and the subscribers receive every publisher's top layer (their bandwidth estimates start
low; at most --steady-timeout more), and lasts --duration seconds (Ctrl-C ends it early; the summary
still comes). Then a summary table and, with --json, the same figures in a file:

* per subscriber: received packets/s and bit/s, loss (sequence gaps never repaired), join time (from the
  WebSocket open to its first media packet);
* join time p50/p95/p99; latency p50/p95/p99 (send time stamped by the publisher's loadgen before
  encryption, receive time from the kernel's socket timestamp: the network both ways plus the server);
* the server's own counter of RTP packets sent to subscribers (``mediaserver_rtp_packets_sent_total`` of
  ``/metrics``, read at the window's start and end; --metrics-token for a server on another host) against
  what the subscribers received in the same window. The counter is the whole server's: on a server with
  other rooms in use, the difference includes their traffic.

Every wait is bounded (--join-timeout, --duration, per-request timeouts); every peer and socket is closed
on exit, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import ipaddress
import json
import os
import resource
import secrets
import signal
import socket
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from bench.adapters.base import Media  # noqa: E402
from bench.adapters.ours import EXT_MID, EXT_RID, EXT_TWCC, OPUS_PT, VP8_PT, publisher_offer  # noqa: E402
from bench.lib import procstat  # noqa: E402
from bench.lib.hist import percentile  # noqa: E402
from bench.lib.sdpgen import subscriber_answer  # noqa: E402
from bench.lib.wsclient import Signal  # noqa: E402
from bench.loadgen import clips as clipmod  # noqa: E402
from mediaserver.rtc import sdp, tokens  # noqa: E402

RTP_SENT = "mediaserver_rtp_packets_sent_total"
LAYERS = ("q", "h", "f")
PACING = 2.5  # sources pace at 2.5x their bitrate, as libwebrtc's pacer does (bench/side_by_side.py)
SYNTH_FPS, SYNTH_SECONDS, SYNTH_KEY_S = 30, 12, 4


def log(msg: str) -> None:
    print(msg, flush=True)


# ------------------------------------------------------------------------------------------ clips


def synthetic_clips() -> dict[str, clipmod.Encoded]:
    """Clips of random bytes with the layers' bitrates and a VP8 payload descriptor and frame tag (a keyframe
    every 4 s, four times a delta frame's size): nothing to encode. The SFU does not decode VP8, so it
    forwards these as it forwards real frames."""
    out: dict[str, clipmod.Encoded] = {}
    n = SYNTH_FPS * SYNTH_SECONDS
    for name, (_w, _h, br) in clipmod.LAYERS.items():
        per = br / 8 / SYNTH_FPS  # bytes per frame on average
        keys = SYNTH_SECONDS // SYNTH_KEY_S
        delta = per * n / (n - keys + 4 * keys)
        frames = []
        for i in range(n):
            key = i % (SYNTH_FPS * SYNTH_KEY_S) == 0
            size = max(8, int(delta * (4 if key else 1)))
            frames.append((bytes([0x00 if key else 0x01]) + os.urandom(size - 1), key))
        out[name] = clipmod.Encoded(name, frames, 1_000_000 // SYNTH_FPS, 90000 // SYNTH_FPS)
    audio = [(os.urandom(clipmod.AUDIO_BITRATE // 8 // 50), True) for _ in range(50 * SYNTH_SECONDS)]
    out["audio"] = clipmod.Encoded("audio", audio, 20_000, clipmod.AUDIO_FRAME)
    return out


# ------------------------------------------------------------------------------------------ addresses


def endpoints(url: str) -> tuple[str, str, str]:
    """(HTTP base, WebSocket URL, host) of --url (http(s)://host[:port][/prefix])."""
    u = urllib.parse.urlsplit(url.rstrip("/"))
    if u.scheme not in ("http", "https") or not u.hostname:
        raise SystemExit(f"--url must be http(s)://host[:port], not {url!r}")
    base = f"{u.scheme}://{u.netloc}{u.path}"
    ws = ("wss" if u.scheme == "https" else "ws") + f"://{u.netloc}{u.path}/ws"
    return base, ws, u.hostname


def local_ip_towards(host: str) -> str:
    """This host's address on the route to ``host`` (a UDP connect sends nothing)."""
    try:
        info = socket.getaddrinfo(host, 9, socket.AF_INET, socket.SOCK_DGRAM)
    except socket.gaierror as e:
        raise SystemExit(f"cannot resolve {host!r}: {e}") from None
    ip = info[0][4][0]
    if ipaddress.ip_address(ip).is_loopback:
        return "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((ip, 9))
        return str(s.getsockname()[0])


def udp_candidate(desc: sdp.SessionDescription, prefer: str) -> tuple[str, int]:
    """The server's UDP host candidate (IPv4; the one on --url's host when there are several)."""
    cands = []
    for c in desc.candidates:
        f = c.split()
        if len(f) >= 8 and f[2].lower() == "udp" and ":" not in f[4]:
            cands.append((f[4], int(f[5])))
    if not cands:
        raise RuntimeError("the server's SDP has no IPv4 UDP candidate")
    return next((c for c in cands if c[0] == prefer), cands[0])


def localise(offer: str, ip: str) -> str:
    """bench.adapters.ours.publisher_offer writes 127.0.0.1: our address instead (the server is ICE-lite and
    learns our address from our checks anyway, but the SDP should not lie)."""
    return offer.replace("IN IP4 127.0.0.1", f"IN IP4 {ip}").replace(" 127.0.0.1 ", f" {ip} ")


# ------------------------------------------------------------------------------------------ tokens


@dataclass
class Tokens:
    how: str
    publisher: list[str]
    attendee: list[str]


async def get_tokens(session: aiohttp.ClientSession, base: str, args: argparse.Namespace) -> Tokens:
    p, n = args.publishers, args.subscribers
    tag = secrets.token_hex(3)
    if args.event:
        return await event_tokens(session, base, args)
    if args.token or args.attendee_token:
        if p and not args.token:
            raise SystemExit("--publishers needs --token (a host or presenter token)")
        if n and not args.attendee_token:
            raise SystemExit("--subscribers needs --attendee-token")
        for t in (args.token, args.attendee_token):
            if t and t.count(".") != 2:
                raise SystemExit("a join token looks like xxx.yyy.zzz (a signed JWT)")
        return Tokens("given", [args.token] * p, [args.attendee_token] * n)
    if args.secret:
        return Tokens(
            "signed here with --secret",
            [
                tokens.issue(args.secret, args.room, "presenter", f"lt-pub{i}", f"lt-{tag}-pub{i}")
                for i in range(p)
            ],
            [
                tokens.issue(args.secret, args.room, "attendee", f"lt-sub{i}", f"lt-{tag}-sub{i}")
                for i in range(n)
            ],
        )
    if args.api_key:
        head = {"Authorization": f"Bearer {args.api_key}"}

        async def mint(role: str, name: str) -> str:
            body = {"room": args.room, "role": role, "name": name, "identity": f"lt-{tag}-{name}"}
            async with session.post(
                base + "/api/v1/tokens", json=body, headers=head, timeout=aiohttp.ClientTimeout(total=15)
            ) as r:
                data = await r.json(content_type=None)
                if r.status != 201:
                    raise SystemExit(f"POST /api/v1/tokens answered {r.status}: {data}")
                return str(data["token"])

        # one attendee token serves every subscriber (a token may be used by several connections): the
        # API is asked twice, not N times
        pub = [await mint("presenter", f"lt-pub{i}") for i in range(p)]
        att = await mint("attendee", "lt-sub") if n else ""
        return Tokens("minted with --api-key (POST /api/v1/tokens)", pub, [att] * n)
    raise SystemExit(
        "join tokens: give --token and --attendee-token, or --api-key (with --room or --event), or --secret"
    )


async def api(
    session: aiohttp.ClientSession, method: str, url: str, ok: int, body: Any = None, key: str = ""
) -> dict[str, Any]:
    head = {"Authorization": f"Bearer {key}"} if key else {}
    async with session.request(
        method, url, json=body, headers=head, timeout=aiohttp.ClientTimeout(total=15)
    ) as r:
        data = await r.json(content_type=None)
        if r.status != ok:
            path = urllib.parse.urlsplit(url).path
            raise SystemExit(f"{method} {path} answered {r.status}: {data}")
        return dict(data)


async def event_tokens(session: aiohttp.ClientSession, base: str, args: argparse.Namespace) -> Tokens:
    """--event with the organiser's API key: the event's room; the host's token from its start (when it is
    not live yet: the load test starts it) or, when it is live, from the public join with its host key; the
    attendees' from the public join, as the room page gets them (one token serves every subscriber)."""
    if not args.api_key:
        raise SystemExit("--event needs --api-key (the organiser's key, msk_...)")
    key = args.api_key
    ev = await api(session, "GET", f"{base}/api/v1/events/{args.event}", 200, key=key)
    room = str(ev["roomId"])
    if args.room and args.room != room:
        raise SystemExit(f"event {args.event} has room {room}, not --room {args.room}")
    args.room = room
    join = f"{base}/api/v1/public/events/{room}/join"
    pub: list[str] = []
    if args.publishers and ev["status"] == "live":
        host_key = urllib.parse.parse_qs(urllib.parse.urlsplit(ev["hostUrl"]).query).get("host", [""])[0]
        body = {
            "name": "lt-pub",
            "email": f"loadtest-{secrets.token_hex(4)}@example.com",
            "hostKey": host_key,
        }
        got = await api(session, "POST", join, 200, body)
        pub = [str(got["token"])]
        how = f"event {args.event} (live): host token from its host key"
    elif args.publishers or ev["status"] != "live":
        started = await api(session, "POST", f"{base}/api/v1/events/{args.event}/start", 200, key=key)
        pub = [str(started["hostToken"])]
        how = f"event {args.event}: started by the load test (end it with POST /api/v1/events/{{id}}/end)"
    else:
        how = f"event {args.event} (live)"
    person: dict[str, Any] = {"name": "lt-sub", "email": f"loadtest-{secrets.token_hex(4)}@example.com"}
    if args.event_password:
        person["password"] = args.event_password
    att = (
        await api(session, "POST", join, 200, person)
        if args.subscribers
        else {"token": "", "role": "attendee"}
    )
    if args.subscribers and (not att.get("token") or att.get("role") != "attendee"):
        raise SystemExit(f"the public join of room {room} gave no attendee token: {att}")
    return Tokens(how, pub * args.publishers, [str(att["token"])] * args.subscribers)


# ------------------------------------------------------------------------------------------ peers


@dataclass
class Sub:
    i: int
    t_open: float = 0.0  # just before the WebSocket connect
    signal: Signal | None = None
    peer: int = -1
    joined_ms: float | None = None  # signaling done (join, subscribe, answer)
    first_ms: float | None = None  # first media packet
    video_ssrcs: frozenset[int] = (
        frozenset()
    )  # the offer's video SSRCs (a video consumer starts on a keyframe)
    first_video_ms: float | None = None  # first video packet: the start of a keyframe
    error: str | None = None


@dataclass
class Run:
    args: argparse.Namespace
    lg: Any
    session: aiohttp.ClientSession
    base: str
    ws_url: str
    server_host: str
    local_ip: str
    clip_ids: dict[str, int]
    pub_signals: list[Signal] = field(default_factory=list)
    pub_peers: list[int] = field(default_factory=list)
    pub_layers: list[dict[str, int]] = field(default_factory=list)  # per publisher: video layer -> source id
    subs: list[Sub] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    t_start: float = field(default_factory=time.monotonic)
    warmed_up_s: float | None = None
    top_pps: float = 0.0  # what one subscriber receives of one publisher at the top layer (video + audio)


def connected(lg: Any, p: int) -> bool:
    st = lg.state(p)
    return bool(st["ice"] == "connected" and st["dtls"] == "connected")


async def publish(run: Run, i: int, token: str) -> None:
    lg, args = run.lg, run.args
    sig = await Signal.connect(run.session, run.ws_url, timeout=args.request_timeout)
    run.pub_signals.append(sig)
    await sig.call("join", {"token": token}, timeout=args.request_timeout)
    ufrag, pwd = secrets.token_hex(4), secrets.token_hex(12)
    p = lg.open_peer(ufrag, pwd)
    run.pub_peers.append(p)
    media = Media(audio=True, video_layers=LAYERS)
    ssrcs = {k: secrets.randbits(31) | 1 for k in ("audio", *LAYERS)}
    offer = localise(publisher_offer(ufrag, pwd, lg.fingerprint, lg.port(p), media, ssrcs), run.local_ip)
    res = await sig.call("publish", {"sdp": offer}, timeout=args.request_timeout)
    ans = sdp.parse(res["sdp"])
    ip, port = udp_candidate(ans, run.server_host)
    lg.connect(
        p,
        remote_ip=ip,
        remote_port=port,
        remote_ufrag=ans.ice_ufrag,
        remote_pwd=ans.ice_pwd,
        remote_fingerprint=f"{ans.fingerprint_algorithm} {ans.fingerprint.hex(':').upper()}",
        controlling=True,
        dtls_role="client" if ans.setup in ("passive", None) else "server",
        twcc_ext=EXT_TWCC,
    )
    sources = [
        lg.add_source(
            p,
            clip=run.clip_ids["audio"],
            ssrc=ssrcs["audio"],
            pt=OPUS_PT,
            stream_id=(i << 8),
            mid_ext=EXT_MID,
            mid=b"0",
        )
    ]
    for k, layer in enumerate(LAYERS):
        sources.append(
            lg.add_source(
                p,
                clip=run.clip_ids[layer],
                ssrc=ssrcs[layer],
                pt=VP8_PT,
                stream_id=(i << 8) | (k + 1),
                mid_ext=EXT_MID,
                mid=b"1",
                rid_ext=EXT_RID,
                rid=layer.encode(),
                pace_kbps=int(PACING * clipmod.LAYERS[layer][2] / 1e3),
            )
        )
    deadline = time.monotonic() + args.join_timeout
    while not connected(lg, p):
        if time.monotonic() > deadline or run.stop.is_set():
            raise RuntimeError(
                f"publisher {i}: not connected within {args.join_timeout:.0f} s: {lg.state(p)}"
            )
        await asyncio.sleep(0.02)
    run.pub_layers.append(dict(zip(LAYERS, sources[1:], strict=True)))
    for s in sources:
        lg.start(s, stagger=True)


async def subscribe(run: Run, sub: Sub, token: str) -> None:
    lg, args = run.lg, run.args
    sub.t_open = time.monotonic()
    sub.signal = await Signal.connect(run.session, run.ws_url, timeout=args.request_timeout)
    # stay: the subscribers load the node the tester is pointed at, even once a cluster's placement by load
    # would send new attendees elsewhere (docs/signaling.md)
    res = await sub.signal.call("join", {"token": token, "stay": True}, timeout=args.request_timeout)
    status = res.get("participant", {}).get("status", "joined")
    if status != "joined":
        raise RuntimeError(f"the room put the attendee in the {status} (start the event, or let them in)")
    offer = sdp.parse((await sub.signal.call("subscribe", timeout=args.request_timeout))["sdp"])
    sub.video_ssrcs = frozenset(
        x for m in offer.media if m.kind == "video" and not m.rejected for x in m.ssrcs
    )
    ufrag, pwd = secrets.token_hex(4), secrets.token_hex(12)
    p = lg.open_peer(ufrag, pwd)
    sub.peer = p
    await sub.signal.call(
        "answer", {"sdp": subscriber_answer(offer, ufrag, pwd, lg.fingerprint)}, timeout=args.request_timeout
    )
    ip, port = udp_candidate(offer, run.server_host)
    rtx = {c.rtx_payload_type: c.payload_type for m in offer.media for c in m.codecs if c.rtx_payload_type}
    twcc = next((m.extensions.get(sdp.EXT_TRANSPORT_CC, 0) for m in offer.media if not m.rejected), 0)
    lg.connect(
        p,
        remote_ip=ip,
        remote_port=port,
        remote_ufrag=offer.ice_ufrag,
        remote_pwd=offer.ice_pwd,
        remote_fingerprint=f"{offer.fingerprint_algorithm} {offer.fingerprint.hex(':').upper()}",
        controlling=True,
        dtls_role="client",
        rtx=rtx,
        twcc_ext=twcc,
    )
    sub.joined_ms = (time.monotonic() - sub.t_open) * 1e3


async def join_all(run: Run, toks: Tokens) -> None:
    """Subscribers join --concurrency at a time, at most --join-rate per second."""
    args = run.args
    sem = asyncio.Semaphore(args.concurrency)
    gap = 1.0 / args.join_rate if args.join_rate else 0.0

    async def one(sub: Sub, token: str) -> None:
        async with sem:
            if run.stop.is_set():
                sub.error = "interrupted before joining"
                return
            try:
                await asyncio.wait_for(subscribe(run, sub, token), args.join_timeout)
            except Exception as e:  # noqa: BLE001 - one failed join is counted, the others go on
                sub.error = f"{type(e).__name__}: {e}"[:300]

    tasks = []
    for sub, token in zip(run.subs, toks.attendee, strict=True):
        tasks.append(asyncio.create_task(one(sub, token)))
        if gap:
            await asyncio.sleep(gap)
    await asyncio.gather(*tasks)


async def watch_first_packets(run: Run) -> None:
    """Every 10 ms, the subscribers without media yet: the first that has some records its join time (every
    50 ms while over 200 wait, so the polls do not keep the loadgen's lock from its I/O thread)."""
    while not run.stop.is_set():
        now = time.monotonic()
        waiting = 0
        for s in run.subs:
            if s.peer >= 0 and (s.first_ms is None or (s.first_video_ms is None and s.video_ssrcs)):
                st = run.lg.peer_stats(s.peer)
                if s.first_ms is None and st["rx_packets"] > 0:
                    s.first_ms = (now - s.t_open) * 1e3
                if s.first_video_ms is None and any(st["ssrcs"].get(x) for x in s.video_ssrcs):
                    s.first_video_ms = (now - s.t_open) * 1e3
                if s.first_ms is None or (s.first_video_ms is None and s.video_ssrcs):
                    waiting += 1
        if all(
            (s.first_ms is not None and (s.first_video_ms is not None or not s.video_ssrcs)) or s.error
            for s in run.subs
        ):
            return
        await asyncio.sleep(0.01 if waiting <= 200 else 0.05)


# ------------------------------------------------------------------------------------------ figures


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    v = sorted(values)

    def q(x: float) -> float:
        k = (len(v) - 1) * x
        lo = int(k)
        hi = min(lo + 1, len(v) - 1)
        return round(v[lo] + (v[hi] - v[lo]) * (k - lo), 1)

    return {"p50": q(0.5), "p95": q(0.95), "p99": q(0.99)}


@dataclass
class Snap:
    t: float
    totals: dict[str, Any]
    peers: dict[int, dict[str, Any]]
    server: dict[str, float] | None  # /metrics, None when it could not be read
    server_rtp_sent: float | None
    lg_rx_at_metrics: float  # the subscribers' received packets when /metrics was read (interpolated)
    lg_cpu_s: float  # CPU time of the loadgen's I/O thread


async def read_metrics(run: Run) -> tuple[dict[str, float] | None, str | None]:
    head = {"Authorization": f"Bearer {run.args.metrics_token}"} if run.args.metrics_token else {}
    try:
        async with run.session.get(
            run.base + "/metrics", headers=head, timeout=aiohttp.ClientTimeout(total=10)
        ) as r:
            if r.status != 200:
                hint = " (a server on another host needs --metrics-token)" if r.status in (401, 403) else ""
                return None, f"/metrics answered {r.status}{hint}"
            return procstat.parse_prometheus(await r.text()), None
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
        return None, f"/metrics failed: {e!r}"


def sub_rx(run: Run) -> int:
    return sum(run.lg.peer_stats(s.peer)["rx_packets"] for s in run.subs if s.peer >= 0)


async def snapshot(run: Run) -> tuple[Snap, str | None]:
    """The loadgen's counters and the server's, at (nearly) one instant: the subscribers' received packets
    are read just before and just after /metrics and averaged, so neither side is ahead by the request."""
    rx0 = sub_rx(run)
    metrics, why = await read_metrics(run)
    rx1 = sub_rx(run)
    peers = {s.peer: run.lg.peer_stats(s.peer) for s in run.subs if s.peer >= 0}
    rtp = None if metrics is None else metrics.get(RTP_SENT)
    if metrics is not None and rtp is None:
        why = f"the server's /metrics has no {RTP_SENT} (an older server)"
    snap = Snap(time.monotonic(), run.lg.totals(), peers, metrics, rtp, (rx0 + rx1) / 2, run.lg.cpu_seconds())
    return snap, why


def keyframe_requests(run: Run) -> list[dict[str, Any]]:
    """What reached each publisher's video layers over the whole run (joins included): keyframe requests
    (PLI/FIR), their rate, the most within any one second and the shortest gap between two."""
    out = []
    elapsed = max(1e-3, time.monotonic() - run.t_start)
    for i, layers in enumerate(run.pub_layers):
        for layer, src in layers.items():
            st = run.lg.source_stats(src)
            out.append(
                {
                    "publisher": i,
                    "layer": layer,
                    "requests": st["keyframe_requests"],
                    "keyframes_sent_for_them": st["keyframes_requested"],
                    "per_s": round(st["keyframe_requests"] / elapsed, 3),
                    "max_in_1s": st["max_requests_1s"],
                    "min_gap_ms": None
                    if st["min_request_gap_ms"] is None
                    else round(st["min_request_gap_ms"], 1),
                }
            )
    return out


def summarize(run: Run, a: Snap | None, b: Snap | None, why_no_server: str | None) -> dict[str, Any]:
    args = run.args
    joined = [s for s in run.subs if s.joined_ms is not None]
    receiving = [s for s in run.subs if s.first_ms is not None]
    out: dict[str, Any] = {
        "tool": "bench.loadtest",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "config": {
            "url": args.url,
            "room": args.room,
            "publishers": args.publishers,
            "subscribers": args.subscribers,
            "duration_s": args.duration,
            "warmup_min_s": args.warmup,
            "clip": args.clip,
            "layers_kbit_s": {k: v[2] // 1000 for k, v in clipmod.LAYERS.items()},
            "local_ip": run.local_ip,
            "verify_every": args.verify_every,
        },
        "interrupted": run.stop.is_set(),
        "warmed_up_s": run.warmed_up_s,
        "publishers_connected": sum(1 for p in run.pub_peers if connected(run.lg, p)),
        "subscribers_joined": len(joined),
        "subscribers_receiving": len(receiving),
        "join_errors": [{"subscriber": s.i, "error": s.error} for s in run.subs if s.error][:50],
        "join_ms": percentiles([s.first_ms for s in receiving if s.first_ms is not None]),
        "subscribers_with_video": sum(1 for s in run.subs if s.first_video_ms is not None),
        "first_video_ms": percentiles([s.first_video_ms for s in run.subs if s.first_video_ms is not None]),
        "keyframe_requests": keyframe_requests(run),
        "signaling_ms": percentiles([s.joined_ms for s in joined if s.joined_ms is not None]),
        "window": None,
    }
    if a is None or b is None:
        return out
    dt = b.t - a.t
    per_sub = []
    for s in run.subs:
        if s.peer < 0:
            continue
        x, y = a.peers.get(s.peer), b.peers.get(s.peer)
        if x is None or y is None:
            continue
        pk, by, lost = (y[k] - x[k] for k in ("rx_packets", "rx_bytes", "lost"))
        per_sub.append(
            {
                "subscriber": s.i,
                "packets": pk,
                "packets_per_s": round(pk / dt, 1),
                "kbit_s": round(by * 8 / dt / 1e3, 1),
                "lost": lost,
                "loss_pct": round(100 * lost / max(1, pk + lost), 3),
                "join_ms": None if s.first_ms is None else round(s.first_ms, 1),
                "first_video_ms": None if s.first_video_ms is None else round(s.first_video_ms, 1),
            }
        )
    ta, tb = a.totals, b.totals
    d = {k: tb[k] - ta[k] for k in ("rx_packets", "rx_bytes", "lost", "rx_rtx", "nacks_tx", "tx_packets")}
    d["decrypt_errors"] = tb["decrypt_errors"] - ta["decrypt_errors"]
    hist = [y - x for x, y in zip(ta["latency_hist"], tb["latency_hist"], strict=True)]
    bounds = tb["bounds_us"]

    def lat(q: float) -> float | None:
        v = percentile(hist, bounds, q)
        return None if v is None else round(v / 1e3, 3)

    received = sum(x["packets"] for x in per_sub)
    lost = sum(x["lost"] for x in per_sub)
    out["window"] = {
        "seconds": round(dt, 2),
        "received_packets": received,
        "received_packets_per_s": round(received / dt, 1),
        "received_mbit_s": round(sum(x["kbit_s"] for x in per_sub) / 1e3, 3),
        "lost": lost,
        "loss_pct": round(100 * lost / max(1, received + lost), 3),
        "retransmissions_received": d["rx_rtx"],
        "nacks_sent": d["nacks_tx"],
        "decrypt_errors": d["decrypt_errors"],
        "published_packets_per_s": round(d["tx_packets"] / dt, 1),
        "latency_ms": {"p50": lat(0.5), "p95": lat(0.95), "p99": lat(0.99), "samples": sum(hist)},
        # one thread drives every peer: near 1.0 the tester, not the server, is the limit
        "loadgen_thread_cpu": round((b.lg_cpu_s - a.lg_cpu_s) / dt, 3),
        "per_subscriber": per_sub,
    }
    server: dict[str, Any] = {"available": False, "why": why_no_server}
    if a.server_rtp_sent is not None and b.server_rtp_sent is not None:
        sent = b.server_rtp_sent - a.server_rtp_sent
        got = b.lg_rx_at_metrics - a.lg_rx_at_metrics
        server = {
            "available": True,
            "counter": RTP_SENT,
            "rtp_packets_sent": int(sent),
            "subscribers_received": round(got),
            "difference_pct": round(100 * (got - sent) / sent, 3) if sent else None,
            "note": "the server's counter covers all its rooms: other traffic on it shows as a difference",
        }
    out["server"] = server
    return out


def table(doc: dict[str, Any]) -> str:
    w = doc["window"]
    lines = [
        f"publishers connected {doc['publishers_connected']}/{doc['config']['publishers']}, subscribers "
        f"joined {doc['subscribers_joined']}/{doc['config']['subscribers']}, receiving "
        f"{doc['subscribers_receiving']}" + ("  (interrupted)" if doc["interrupted"] else "")
    ]
    j = doc["join_ms"]
    if j["p50"] is not None:
        lines.append(
            f"join (WebSocket open -> first media packet) ms: p50 {j['p50']}  p95 {j['p95']}  p99 {j['p99']}"
        )
    v = doc["first_video_ms"]
    if v["p50"] is not None:
        lines.append(
            f"first video (a keyframe's first packet) for {doc['subscribers_with_video']}: ms "
            f"p50 {v['p50']}  p95 {v['p95']}  p99 {v['p99']}"
        )
    for k in doc["keyframe_requests"]:
        gap = "-" if k["min_gap_ms"] is None else f"{k['min_gap_ms']:,.0f} ms"
        lines.append(
            f"keyframe requests at publisher {k['publisher']} layer {k['layer']}: {k['requests']} "
            f"({k['per_s']}/s), at most {k['max_in_1s']} within a second, shortest gap {gap}"
        )
    for e in doc["join_errors"][:5]:
        lines.append(f"  subscriber {e['subscriber']} failed: {e['error']}")
    if w is None:
        lines.append("no measured window (stopped before every subscriber was set up)")
        return "\n".join(lines)
    rows = [("subscriber", "packets/s", "kbit/s", "lost", "loss %", "join ms")]
    subs = w["per_subscriber"]
    shown = subs if len(subs) <= 20 else subs[:10] + subs[-5:]
    for x in shown:
        rows.append(
            (
                str(x["subscriber"]),
                f"{x['packets_per_s']:,.1f}",
                f"{x['kbit_s']:,.1f}",
                str(x["lost"]),
                f"{x['loss_pct']:.3f}",
                "-" if x["join_ms"] is None else f"{x['join_ms']:.0f}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines += ["  ".join(c.rjust(wd) for c, wd in zip(r, widths, strict=True)) for r in rows]
    if len(subs) > len(shown):
        lines.append(f"({len(subs) - len(shown)} more subscribers in the JSON)")
    lat = w["latency_ms"]
    lines += [
        f"window {w['seconds']} s: received {w['received_packets_per_s']:,.1f} packets/s, "
        f"{w['received_mbit_s']:.2f} Mbit/s, loss {w['loss_pct']:.3f}% ({w['lost']} packets), "
        f"{w['retransmissions_received']} retransmissions",
        f"latency (publisher send -> subscriber receive) ms: p50 {lat['p50']}  p95 {lat['p95']}  "
        f"p99 {lat['p99']}  ({lat['samples']:,} packets)",
        f"load generator: its I/O thread used {w['loadgen_thread_cpu']:.0%} of a core",
    ]
    if w["loadgen_thread_cpu"] > 0.9:
        lines.append(
            f"warning: the load generator's I/O thread was busy {w['loadgen_thread_cpu']:.0%} of the window: "
            "the tester may be the limit here, not the server (run several testers, on several hosts)"
        )
    s = doc["server"]
    if s["available"]:
        lines.append(
            f"server's /metrics: {s['rtp_packets_sent']:,} RTP packets sent to subscribers, received "
            f"{s['subscribers_received']:,}: difference {s['difference_pct']}%"
        )
    else:
        lines.append(f"server's /metrics: not compared ({s['why']})")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ the run


class Progress:
    """One line a second: joined, receiving (got packets in the last second), rate and loss."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.tty = sys.stdout.isatty()
        self.last: tuple[float, int, int, dict[int, int]] = (time.monotonic(), 0, 0, {})

    def tick(self, phase: str) -> float:
        """Prints the line; returns the receive rate (packets/s) since the previous one."""
        run = self.run
        now = time.monotonic()
        stats = {s.peer: run.lg.peer_stats(s.peer) for s in run.subs if s.peer >= 0}
        rx = sum(v["rx_packets"] for v in stats.values())
        by = sum(v["rx_bytes"] for v in stats.values())
        lost = sum(v["lost"] for v in stats.values())
        per = {p: v["rx_packets"] for p, v in stats.items()}
        t0, rx0, by0, per0 = self.last
        dt = max(1e-3, now - t0)
        pps, mbit = (rx - rx0) / dt, (by - by0) * 8 / dt / 1e6
        recv = sum(1 for p, v in per.items() if v > per0.get(p, 0))
        self.last = (now, rx, by, per)
        joined = sum(1 for s in run.subs if s.joined_ms is not None)
        failed = sum(1 for s in run.subs if s.error)
        line = (
            f"[{now - run.t_start:5.1f} s] {phase:<8} joined {joined}/{len(run.subs)}  receiving {recv}  "
            f"rate {pps:,.0f} pkt/s {mbit:.2f} Mbit/s  loss {100 * lost / max(1, rx + lost):.2f}%"
            + (f"  failed {failed}" if failed else "")
        )
        if self.tty:
            sys.stdout.write("\r" + line + "\x1b[K")
            sys.stdout.flush()
        else:
            log(line)
        return pps

    def done(self) -> None:
        if self.tty:
            sys.stdout.write("\n")


async def wait_or_stop(run: Run, seconds: float, progress: Progress, phase: str) -> None:
    """Sleep ``seconds`` (printing progress each second) unless Ctrl-C stops the run first."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0 and not run.stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(run.stop.wait(), min(1.0, left))
        progress.tick(phase)


async def warm_up(run: Run, progress: Progress) -> float:
    """At least --warmup seconds, then on until the subscribers receive at the rate of every publisher's top
    layer and audio for two seconds in a row (their bandwidth estimates start low and raise the layer step by
    step), at most --steady-timeout seconds more. Returns how long it took."""
    joined = sum(1 for s in run.subs if s.joined_ms is not None)
    full = joined * run.args.publishers * run.top_pps
    t0, full_for = time.monotonic(), 0
    while not run.stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(run.stop.wait(), 1.0)
        pps = progress.tick("warm-up")
        waited = time.monotonic() - t0
        full_for = full_for + 1 if pps >= 0.95 * full else 0  # a keyframe's second alone is not enough
        if waited >= run.args.warmup and full_for >= 2:
            break
        if waited >= run.args.warmup + run.args.steady_timeout:
            log(
                f"the subscribers receive {pps:,.0f} packets/s, not the {full:,.0f} of every top layer, "
                f"after {waited:.0f} s: measuring what they get"
            )
            break
    return time.monotonic() - t0


async def main_async(args: argparse.Namespace) -> int:
    from bench.loadgen import Loadgen

    base, ws_url, host = endpoints(args.url)
    local_ip = args.bind or local_ip_towards(host)
    server_ip = socket.getaddrinfo(host, 9, socket.AF_INET)[0][4][0]
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    try:
        toks = await get_tokens(session, base, args)
    except BaseException:
        await session.close()
        raise
    encoded = clipmod.load(log) if args.clip == "encoded" else synthetic_clips()
    lg = Loadgen(bind_ip=local_ip, verify_every=args.verify_every)
    clip_ids = {
        name: lg.load_clip(clipmod.frames_of(enc), clock_rate=48000 if name == "audio" else 90000)
        for name, enc in encoded.items()
    }
    run = Run(args, lg, session, base, ws_url, server_ip, local_ip, clip_ids)
    run.subs = [Sub(i) for i in range(args.subscribers)]
    run.top_pps = clipmod.packets_per_second(encoded[LAYERS[-1]]) + clipmod.packets_per_second(
        encoded["audio"]
    )
    loop = asyncio.get_running_loop()

    def interrupt() -> None:
        if run.stop.is_set():  # a second Ctrl-C: no more waiting
            raise KeyboardInterrupt
        log("\nstopping (Ctrl-C): the summary follows")
        run.stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupt)
    progress = Progress(run)
    a = b = None
    why: str | None = None
    code = 0
    tasks: list[asyncio.Task[None]] = []
    try:
        log(
            f"load test of {base} room {args.room}: {args.publishers} publishers, {args.subscribers} "
            f"subscribers, window {args.duration:.0f} s; tokens {toks.how}; media from {local_ip} to the "
            f"server's candidates"
        )
        for i, t in enumerate(toks.publisher):
            await asyncio.wait_for(publish(run, i, t), args.join_timeout)
        tasks = [asyncio.create_task(watch_first_packets(run)), asyncio.create_task(join_all(run, toks))]
        deadline = time.monotonic() + args.join_timeout
        while not run.stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if tasks[1].done() and all(s.first_ms is not None or s.error for s in run.subs):
                break
            await wait_or_stop(run, min(1.0, left), progress, "joining")
        for s in run.subs:
            if s.joined_ms is None and s.error is None:
                s.error = "not joined within --join-timeout" if not run.stop.is_set() else "interrupted"
            elif s.first_ms is None and s.error is None:
                s.error = "joined, but no media within --join-timeout"
        if not run.stop.is_set():
            run.warmed_up_s = round(await warm_up(run, progress), 1)
        if not run.stop.is_set():
            a, why = await snapshot(run)
            await wait_or_stop(run, args.duration, progress, "measure")
            b, why_b = await snapshot(run)
            why = why or why_b
        code = 130 if run.stop.is_set() else 0
    except Exception as e:  # noqa: BLE001 - an error ends the run with what it measured
        log(f"error: {type(e).__name__}: {e}")
        code = 1
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        progress.done()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    try:
        doc = summarize(run, a, b, why)
        log("")
        log(table(doc))
        if args.json:
            out = Path(args.json)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(doc, indent=2) + "\n")
            log(f"wrote {out}")
    finally:
        await teardown(run)
    return code


async def teardown(run: Run) -> None:
    """Leave (closing each WebSocket leaves the room), then close every loadgen peer and the loadgen."""
    sigs = [s.signal for s in run.subs if s.signal is not None] + run.pub_signals
    sem = asyncio.Semaphore(64)

    async def close(sg: Signal) -> None:
        async with sem:
            await sg.close()

    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(close(s) for s in sigs), return_exceptions=True), 20)
    await run.session.close()
    run.lg.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m bench.loadtest", description=(__doc__ or "").split("\n\n")[0]
    )
    ap.add_argument(
        "--url", required=True, help="the server's address, http(s)://host[:port] (as users open it)"
    )
    ap.add_argument(
        "--room", help="the room id (an event's 9-digit room, or an ad-hoc name; --event: its room)"
    )
    ap.add_argument(
        "--publishers", type=int, default=1, help="publishers (Opus + VP8 simulcast q/h/f; default 1)"
    )
    ap.add_argument(
        "--subscribers", type=int, default=10, help="subscribers receiving every track (default 10)"
    )
    ap.add_argument(
        "--duration", type=float, default=30.0, help="the measured window in seconds (default 30)"
    )
    ap.add_argument(
        "--warmup",
        type=float,
        default=3.0,
        help="seconds between the joins and the window at least; then on until the subscribers receive the "
        "top layer (their bandwidth estimates climb; default 3)",
    )
    ap.add_argument(
        "--steady-timeout",
        type=float,
        default=20.0,
        help="at most this long after --warmup waiting for the top layer (default 20 s; 0: not at all)",
    )
    tok = ap.add_argument_group("join tokens (one of)")
    tok.add_argument("--token", help="the publishers' join token (role host or presenter)")
    tok.add_argument("--attendee-token", help="the subscribers' join token (role attendee; one serves all)")
    tok.add_argument(
        "--api-key",
        help="the server's API key: tokens minted by POST /api/v1/tokens; with --event, the organiser's key "
        "(msk_...)",
    )
    tok.add_argument(
        "--event",
        help="an event's id: its room, the host's token from its start (or its host key when live), the "
        "attendees' from its public join (needs --api-key)",
    )
    tok.add_argument("--event-password", help="the event's password, for its public join")
    tok.add_argument("--secret", help="the server's secret: tokens signed here (as `mediaserver token`)")
    ap.add_argument("--metrics-token", help="the server's metrics_token (its /metrics from another host)")
    ap.add_argument("--bind", help="this host's address for the media (default: the route to --url's host)")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--concurrency", type=int, default=16, help="subscribers signalling at once (default 16)")
    ap.add_argument(
        "--join-rate", type=float, default=0.0, help="subscribers joining per second (0: no limit)"
    )
    ap.add_argument(
        "--join-timeout", type=float, default=30.0, help="bound on the joins, and on each one (default 30 s)"
    )
    ap.add_argument(
        "--request-timeout", type=float, default=15.0, help="each signaling request (default 15 s)"
    )
    ap.add_argument(
        "--clip",
        choices=("encoded", "synthetic"),
        default="encoded",
        help="encoded: real VP8 (encoded once, ~30 s, cached in bench/.cache); synthetic: random bytes at "
        "the same bitrates (nothing to encode)",
    )
    ap.add_argument(
        "--verify-every",
        type=int,
        default=1,
        help="decrypt every Nth received packet for latency (default 1)",
    )
    args = ap.parse_args(argv)
    if not args.room and not args.event:
        ap.error("--room (or --event) is required")
    if not 0 <= args.publishers <= 16 or not 0 <= args.subscribers <= 5000:
        ap.error("--publishers 0..16, --subscribers 0..5000")
    if not 1 <= args.duration <= 3600 or not 0 <= args.warmup <= 60 or not 0 <= args.steady_timeout <= 120:
        ap.error("--duration 1..3600, --warmup 0..60, --steady-timeout 0..120")
    if not 1 <= args.join_timeout <= 600 or not 1 <= args.request_timeout <= 120:
        ap.error("--join-timeout 1..600, --request-timeout 1..120")
    if (
        not 1 <= args.concurrency <= 1000
        or not 0 <= args.join_rate <= 10000
        or not 1 <= args.verify_every <= 1000
    ):
        ap.error("--concurrency 1..1000, --join-rate 0..10000, --verify-every 1..1000")
    return args


def raise_nofile(args: argparse.Namespace) -> None:
    """Each peer has a UDP socket and each participant a WebSocket: 2 files per subscriber and publisher."""
    need = 2 * (args.subscribers + args.publishers) + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        want = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        if want < need:
            log(f"warning: {want} open files at most (ulimit -Hn), {need} needed: some joins will fail")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_nofile(args)
    try:
        return asyncio.run(main_async(args))
    except KeyboardInterrupt:
        log("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
