"""The C floor (bench/floor): registration, per-receiver rewrite + SRTP, drops, stats, all send modes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

from bench.floor import build, keys, out_ssrc
from tests.native.testbuild import built_module

_srtp = built_module("native._srtp")

SEED = "test-seed"
GCM = _srtp.PROFILE_AEAD_AES_128_GCM


@pytest.fixture(scope="module")
def binary(tmp_path_factory) -> Path:
    """The floor; FLOOR_BINARY=path tests another build of it (e.g. with -fsanitize=address,undefined)."""
    if os.environ.get("FLOOR_BINARY"):
        return Path(os.environ["FLOOR_BINARY"])
    return build(tmp_path_factory.mktemp("floor-bin"))


def session(label: str) -> _srtp.SrtpSession:
    k = keys(SEED, label)
    return _srtp.SrtpSession(GCM, k[:16], k[16:])


def rtp(seq: int, ts: int, ssrc: int, payload: bytes, pt: int = 96, marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, pt | (0x80 if marker else 0), seq & 0xFFFF, ts, ssrc) + payload


class Floor:
    def __init__(self, binary: Path, tmp: Path, mode: str, port: int = 0):
        self.stats_path = tmp / f"stats-{mode}.json"
        self.proc = subprocess.Popen(
            [
                str(binary),
                "--ip",
                "127.0.0.1",
                "--port",
                str(port),
                "--seed",
                SEED,
                "--mode",
                mode,
                "--stats",
                str(self.stats_path),
                "--stats-ms",
                "50",
            ],
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 5
        while not self.stats_path.exists():
            assert self.proc.poll() is None, self.proc.stderr.read()
            assert time.monotonic() < deadline, "no stats file"
            time.sleep(0.01)
        self.port = self.stats()["port"]
        assert port in (0, self.port)
        self.addr = ("127.0.0.1", self.port)

    def stats(self) -> dict:
        return json.loads(self.stats_path.read_text())

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(5)
        self.proc.stderr.close()
        return rc


class Client:
    def __init__(self, floor: Floor, name: str, direction: str):
        self.name = name
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(10)  # generous: CI machines may be busy
        self.floor = floor
        self.tx = session(f"{name}-up")
        self.rx = session(f"{name}-down")
        self.sock.sendto(f"FLOOR {name} {direction}".encode(), floor.addr)

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.floor.addr)

    def recv(self, n: int) -> list[bytes]:
        return [self.rx.unprotect(self.sock.recv(4096)) for _ in range(n)]

    def nothing(self, wait: float = 0.2) -> bool:
        self.sock.settimeout(wait)
        try:
            self.sock.recv(4096)
            return False
        except TimeoutError:
            return True
        finally:
            self.sock.settimeout(10)  # generous: CI machines may be busy

    def close(self) -> None:
        self.sock.close()


def wait_stats(floor: Floor, pred, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            st = floor.stats()
            if pred(st):
                return st
        except (json.JSONDecodeError, FileNotFoundError):
            pass  # never happens with the atomic rename, but keep the loop honest
        assert time.monotonic() < deadline, f"stats never matched: {floor.stats()}"
        time.sleep(0.05)


def burst(floor: Floor, sender: Client, packets: list[bytes]) -> None:
    """Send packets while the floor is stopped, so they land in one receive batch."""
    os.kill(floor.proc.pid, signal.SIGSTOP)
    try:
        for p in packets:
            sender.send(p)
    finally:
        os.kill(floor.proc.pid, signal.SIGCONT)


def test_keys_derivation():
    k = keys(7, "pub1-up")
    assert len(k) == 28
    assert k == hashlib.sha256(b"7:pub1-up").digest()[:28]


@pytest.mark.parametrize("mode", ["sendto", "sendmmsg", "gso"])
def test_forwarding(binary, tmp_path, mode):
    floor = Floor(binary, tmp_path, mode)
    clients: list[Client] = []
    try:
        pub = Client(floor, "pub1", "send")
        pub.send(b"FLOOR pub1 send")  # repeat hello: idempotent
        r1 = Client(floor, "sub1", "recv")
        r2 = Client(floor, "sub2", "sendrecv")
        clients += [pub, r1, r2]
        ssrc = 0x11223344
        payloads = [bytes([i]) * 1100 for i in range(5)] + [b"last" * 50]
        plain = [rtp(65533 + i, 1000 + 3000 * i, ssrc, p, marker=i == 5) for i, p in enumerate(payloads)]
        burst(floor, pub, [pub.tx.protect(p) for p in plain])

        for r in (r1, r2):
            got = r.recv(len(plain))
            want = out_ssrc(SEED, r.name, "pub1", ssrc)
            seqs = []
            for g, p in zip(got, plain, strict=True):
                v, m, seq, ts, s = struct.unpack("!BBHII", g[:12])
                assert s == want, f"{r.name}: ssrc {s:#x} != {want:#x}"
                assert g[1] == p[1] and g[12:] == p[12:]
                seqs.append((seq, ts))
            for (s0, t0), (s1, t1) in zip(seqs, seqs[1:], strict=False):
                assert (s1 - s0) & 0xFFFF == 1  # contiguous across the 16-bit wrap
                assert (t1 - t0) & 0xFFFFFFFF == 3000
        assert out_ssrc(SEED, "sub1", "pub1", ssrc) != out_ssrc(SEED, "sub2", "pub1", ssrc)

        # a sendrecv peer's packets go to the other receivers, not back to itself nor to send-only peers
        r2.send(r2.tx.protect(rtp(1, 1, 0x55, b"from sub2")))
        (g,) = r1.recv(1)
        assert g[12:] == b"from sub2" and struct.unpack("!I", g[8:12])[0] == out_ssrc(
            SEED, "sub1", "sub2", 0x55
        )
        assert r2.nothing() and pub.nothing(0.01)

        # drops: malformed, wrongly keyed, replayed, unknown address, RTP from a receive-only peer
        pub.send(b"\x80\x60\x00")
        pub.send(b"\x00" * 40)
        wrong = _srtp.SrtpSession(GCM, b"\x01" * 16, b"\x02" * 12)
        pub.send(wrong.protect(rtp(7, 7, ssrc, b"x" * 100)))
        replay = pub.tx.protect(rtp(20, 20, ssrc, b"y" * 100))
        pub.send(replay)
        pub.send(replay)
        stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        stranger.sendto(b"\x80\x60" + b"\x00" * 30, floor.addr)
        stranger.sendto(b"FLOOR bad dir", floor.addr)
        r1.send(r1.tx.protect(rtp(1, 1, 0x66, b"z")))
        # SRTCP (a receiver report) is decrypted and counted
        rr = struct.pack("!BBHI", 0x80, 201, 1, 0xABC)
        r1.send(r1.tx.protect_rtcp(rr))
        (g,) = r1.recv(1)  # the one authentic packet (seq 20) reaches both receivers
        assert g[12:] == b"y" * 100
        r2.recv(1)
        st = wait_stats(floor, lambda s: s["rtcp_rx"] == 1 and s["dropped_unknown"] == 2)
        assert st["dropped_malformed"] == 2
        assert st["dropped_auth"] == 1
        assert st["dropped_replay"] == 1
        assert st["dropped_not_sender"] == 1
        assert st["peers"] == 3 and st["registrations"] == 3 and st["hellos"] == 4
        assert st["rx_rtp"] == len(plain) + 2
        assert st["tx_packets"] == 2 * len(plain) + 1 + 2
        assert st["tx_errors"] == 0 and st["protect_errors"] == 0
        assert st["mode"] == mode and st["cpu_us"] >= 0
        if mode == "sendto":
            assert st["tx_syscalls"] == st["tx_packets"]
        elif mode == "sendmmsg":  # the burst: one call for 12 copies
            assert st["tx_syscalls"] <= 1 + 1 + 2 + 1
        else:  # the burst: one GSO send per receiver (5 x 1100 bytes + a shorter last)
            assert st["tx_syscalls"] <= 2 + 1 + 2 + 1
        stranger.close()

        # goodbye: from the peer's own socket, and by name from any socket
        r2.send(b"FLOOR-BYE")
        pub.send(pub.tx.protect(rtp(21, 21, ssrc, b"after bye")))
        assert r1.recv(1)[0][12:] == b"after bye"
        assert r2.nothing()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as ctl:
            ctl.sendto(b"FLOOR-BYE sub1", floor.addr)
        pub.send(pub.tx.protect(rtp(22, 22, ssrc, b"nobody")))
        st = wait_stats(floor, lambda s: s["peers"] == 1 and s["rx_rtp"] == len(plain) + 4)
        assert st["byes"] == 2
        assert r1.nothing(0.05)
    finally:
        rc = floor.stop()
        for c in clients:
            c.close()
    assert rc == 0
    final = floor.stats()
    assert final["peers"] == 1 and final["rx_packets"] >= 20 and final["tx_bytes"] > 10 * 1100


def test_gso_mixed_sizes(binary, tmp_path):
    """Different sizes in one batch: runs of equal size, a shorter last segment, a larger packet restarts."""
    floor = Floor(binary, tmp_path, "gso")
    try:
        pub = Client(floor, "p", "send")
        r = Client(floor, "r", "recv")
        sizes = [500, 500, 300, 800, 800, 800, 100, 1200, 20, 1200]
        plain = [rtp(i, i, 9, bytes([i]) * n) for i, n in enumerate(sizes)]
        burst(floor, pub, [pub.tx.protect(p) for p in plain])
        got = r.recv(len(plain))
        assert [g[12:] for g in got] == [p[12:] for p in plain]
        st = wait_stats(floor, lambda s: s["tx_packets"] == len(plain))
        # runs: [500 500 300] [800 800 800 100] [1200 20] [1200]
        assert st["tx_syscalls"] == 4
        pub.close()
        r.close()
    finally:
        assert floor.stop() == 0


def test_hello_reregisters_and_bad_args(binary, tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    floor = Floor(binary, tmp_path, "sendmmsg", port)
    try:
        a = Client(floor, "a", "recv")
        a.send(b"FLOOR a2 send")  # same address, other name/dir: re-registered
        st = wait_stats(floor, lambda s: s["registrations"] == 2)
        assert st["peers"] == 1 and st["receivers"] == 0
        a.close()
    finally:
        assert floor.stop() == 0
    bad = subprocess.run([str(binary), "--port", "1", "--mode", "nope"], capture_output=True)
    assert bad.returncode == 2
    bad = subprocess.run([str(binary), "--ip", "10.0.0.1", "--port", "1"], capture_output=True)
    assert bad.returncode == 2


class FakeLoadgen:
    """The part of bench.loadgen.Loadgen the floor adapter uses, with Python sockets (no media)."""

    def __init__(self):
        self.peers: dict[int, dict] = {}
        self.sources: list[dict] = []

    def open_peer(self, ufrag: str, pwd: str) -> int:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.settimeout(10)  # generous: CI machines may be busy
        pid = len(self.peers) + 1
        self.peers[pid] = {"sock": s}
        return pid

    def connect_raw(self, p, *, remote_ip, remote_port, tx_key, rx_key, hello):
        assert len(tx_key) == 28 and len(rx_key) == 28
        peer = self.peers[p]
        peer.update(
            remote=(remote_ip, remote_port),
            tx=_srtp.SrtpSession(GCM, tx_key[:16], tx_key[16:]),
            rx=_srtp.SrtpSession(GCM, rx_key[:16], rx_key[16:]),
        )
        peer["sock"].sendto(hello, peer["remote"])

    def add_source(self, p, *, clip, ssrc, pt, stream_id, **kw):
        self.sources.append({"peer": p, "clip": clip, "ssrc": ssrc, "pt": pt, "stream_id": stream_id})
        return len(self.sources)

    def close_peer(self, p):
        self.peers.pop(p)["sock"].close()


async def test_adapter(tmp_path):
    import asyncio

    from bench.adapters.base import Media
    from bench.adapters.floor import FloorAdapter

    ad = FloorAdapter({"audio": 1, "q": 2, "h": 3, "f": 4}, mode="gso", seed="s1")
    assert ad.name == "floor-gso" and ad.simulcast is False
    lg = FakeLoadgen()
    await ad.start(0, tmp_path)
    try:
        assert ad.pids and ad.port
        pub = await ad.publish(lg, "room", "pub 1", Media())
        assert set(pub.ssrcs) == {"audio", "f"}
        assert [(s["clip"], s["pt"]) for s in lg.sources] == [(1, 111), (4, 96)]
        subs = [await ad.subscribe(lg, "room", f"sub{i}", [pub]) for i in range(3)]
        peer = lg.peers[pub.lg_peer]
        for seq in range(10):
            for kind, ssrc in pub.ssrcs.items():
                pt = 111 if kind == "audio" else 96
                peer["sock"].sendto(
                    peer["tx"].protect(rtp(seq, seq * 960, ssrc, b"m" * 200, pt)), peer["remote"]
                )
        for sub in subs:
            s = lg.peers[sub.lg_peer]
            seen = {}
            for _ in range(20):
                pkt = s["rx"].unprotect(s["sock"].recv(2048))
                seen.setdefault(struct.unpack("!I", pkt[8:12])[0], []).append(pkt)
            assert {v for v in sub.extra["expected_ssrcs"].values()} == {("pub 1", "audio"), ("pub 1", "f")}
            assert set(seen) == set(sub.extra["expected_ssrcs"])
        for _ in range(50):
            eg = ad.egress_counters()
            if eg["tx_packets"] == 60:
                break
            await asyncio.sleep(0.05)
        assert eg["tx_packets"] == 60 and eg["peers"] == 4 and eg["cpu_us"] >= 0
        await ad.leave(subs[0])
        await ad.leave(subs[0])  # idempotent
        await ad.leave(pub)
        for _ in range(50):
            if ad.egress_counters()["peers"] == 2:
                break
            await asyncio.sleep(0.05)
        assert ad.egress_counters()["byes"] == 2
    finally:
        await ad.stop()
        await ad.stop()
    assert ad.final_stats["peers"] == 2 and ad.egress_counters()["rx_rtp"] == 20


async def test_adapter_with_loadgen(tmp_path):
    """End to end with the native load generator: 1 publisher (Opus + VP8), 3 subscribers."""
    import asyncio

    lgmod = built_module("bench.loadgen")
    from bench.adapters.base import Media
    from bench.adapters.floor import FloorAdapter

    lg = lgmod.Loadgen(verify_every=1)
    try:
        video = [
            (
                i * 33_333,
                3000,
                i == 0,
                [
                    bytes([0x10 if k == 0 else 0x00, 0x00 if i == 0 else 0x01]) + os.urandom(1098)
                    for k in range(4)
                ],
            )
            for i in range(30)
        ]
        audio = [(i * 20_000, 960, True, [os.urandom(120)]) for i in range(50)]
        clips = {"audio": lg.load_clip(audio, clock_rate=48000), "f": lg.load_clip(video)}
        ad = FloorAdapter(clips, seed=1234)
        await ad.start(0, tmp_path)
        try:
            pub = await ad.publish(lg, "r", "pub0", Media())
            subs = [await ad.subscribe(lg, "r", f"sub{i}", [pub]) for i in range(3)]
            await asyncio.sleep(0.3)  # hellos registered
            lg.start_all()
            await asyncio.sleep(2.5)
            for sub in subs:
                st = lg.peer_stats(sub.lg_peer)
                assert st["rx_packets"] > 150, st
                assert st["decrypt_errors"] == 0 and st["malformed"] == 0, st
                assert st["lost"] <= st["rx_packets"] // 100, (
                    st
                )  # loopback: none unless the machine is starved
                assert set(st["ssrcs"]) == set(sub.extra["expected_ssrcs"]), (st["ssrcs"], sub.extra)
            tot = lg.totals()
            assert sum(tot["latency_hist"]) > 0
            eg = ad.egress_counters()
            assert eg["peers"] == 4 and eg["dropped_auth"] == 0 and eg["dropped_malformed"] == 0
            assert eg["rtcp_rx"] > 0 and eg["tx_packets"] >= 3 * eg["rx_rtp"] - 3 * 10
            for sub in subs:
                await ad.leave(sub)
            await ad.leave(pub)
            for _ in range(100):
                if ad.egress_counters()["peers"] == 0:
                    break
                await asyncio.sleep(0.05)
        finally:
            await ad.stop()
        assert ad.final_stats["peers"] == 0 and ad.final_stats["byes"] == 4
        assert ad.final_stats["dropped_auth"] == 0 and ad.final_stats["dropped_replay"] == 0
    finally:
        lg.close()


@pytest.mark.parametrize("mode", ["sendto", "sendmmsg", "gso"])
def test_leave_inside_a_batch(binary, tmp_path, mode):
    """A receiver and a sender leave between packets of one receive batch: no send to a stale address."""
    floor = Floor(binary, tmp_path, mode)
    try:
        pub, pub2 = Client(floor, "p", "send"), Client(floor, "p2", "send")
        r1, r2 = Client(floor, "r1", "recv"), Client(floor, "r2", "recv")
        os.kill(floor.proc.pid, signal.SIGSTOP)
        try:
            pub.send(pub.tx.protect(rtp(1, 1, 5, b"a" * 300)))
            pub2.send(pub2.tx.protect(rtp(1, 1, 6, b"c" * 300)))
            r2.send(b"FLOOR-BYE")
            pub2.send(b"FLOOR-BYE")
            pub.send(pub.tx.protect(rtp(2, 2, 5, b"b" * 300)))
        finally:
            os.kill(floor.proc.pid, signal.SIGCONT)
        got = [p[12:13] for p in r1.recv(2 if mode == "gso" else 3)]
        assert got[0] == b"a" and got[-1] == b"b"
        assert r1.nothing(0.1)
        st = wait_stats(floor, lambda s: s["byes"] == 2)
        assert st["tx_errors"] == 0 and st["peers"] == 2
        for c in (pub, pub2, r1, r2):
            c.close()
    finally:
        assert floor.stop() == 0


def test_churn(binary, tmp_path):
    """Thousands of peers come and go (the address table rebuilds itself); forwarding still works."""
    floor = Floor(binary, tmp_path, "sendmmsg")
    try:
        for rnd in range(9):
            socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(500)]
            for i, s in enumerate(socks):
                s.sendto(f"FLOOR c{rnd}-{i} {'send' if i % 2 else 'recv'}".encode(), floor.addr)
            for s in socks:
                s.sendto(b"FLOOR-BYE", floor.addr)
                s.close()
            wait_stats(floor, lambda st, r=rnd: st["byes"] == 500 * (r + 1), timeout=10)
        pub, r = Client(floor, "p", "send"), Client(floor, "r", "recv")
        pub.send(pub.tx.protect(rtp(1, 1, 5, b"still here")))
        assert r.recv(1)[0][12:] == b"still here"
        st = wait_stats(floor, lambda s: s["peers"] == 2)
        assert st["registrations"] == 4502 and st["dropped_unknown"] == 0
        pub.close()
        r.close()
    finally:
        assert floor.stop() == 0
