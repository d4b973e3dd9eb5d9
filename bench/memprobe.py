"""Native memory per subscriber, isolated from Python and from the load generator.

This process holds one ``native._core.Worker``: a publisher transport (Opus + three rid simulcast VP8
layers) and N subscriber transports, each DTLS-connected with an audio and a video consumer, as in the
webinar fan-out. The load generator (every peer, their DTLS and SRTP) runs in a child process, so the
RSS measured here is the worker's plus a constant interpreter.

    PYTHONPATH=. python -m bench.memprobe --n 100 --n 300 [--media 2]

prints RSS after each step and the growth per subscriber between steps.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import multiprocessing as mp
import os
import time
from typing import Any

PWD = "memprobepassword01234567"
LG_PWD = "lgpassword0123456789abcd"
EXTS = {"mid": 1, "rid": 10, "twcc": 4}
CONS_EXTS = {"mid": 1, "twcc": 4}


def rss_kb() -> int:
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (n, ctypes.c_size_t)
        for n in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def malloc_in_use_kb() -> int:
    """Bytes handed out by glibc malloc in every arena (malloc_info), in KB; -1 when not glibc."""
    try:
        libc = ctypes.CDLL(None)
        buf = ctypes.c_char_p()
        size = ctypes.c_size_t()
        libc.open_memstream.restype = ctypes.c_void_p
        f = libc.open_memstream(ctypes.byref(buf), ctypes.byref(size))
        libc.malloc_info(0, ctypes.c_void_p(f))
        libc.fclose(ctypes.c_void_p(f))
        xml = ctypes.string_at(buf, size.value).decode()
        libc.free(buf)
    except (OSError, AttributeError):
        return -1
    # the last <system type="current"> is the total; in use = total system - free (fast + rest) - mmapped
    import re

    tot = xml[xml.rfind("</heap>") :]
    fast = sum(int(x) for x in re.findall(r'<total type="fast" count="\d+" size="(\d+)"', tot))
    rest = sum(int(x) for x in re.findall(r'<total type="rest" count="\d+" size="(\d+)"', tot))
    current = sum(int(x) for x in re.findall(r'<system type="current" size="(\d+)"', tot))
    mmap = sum(int(x) for x in re.findall(r'<total type="mmap" count="\d+" size="(\d+)"', tot))
    return (current - fast - rest + mmap) // 1024


def _synth_clip(per_frame: int, size: int, fps: int = 30, nframes: int = 30) -> list:
    frames = []
    for i in range(nframes):
        key = i == 0
        pkts = [bytes([0x10, 0x00 if key else 0x01]) + os.urandom(size - 2)]
        pkts += [b"\x00" + os.urandom(size - 1) for _ in range(per_frame - 1)]
        frames.append((i * 1_000_000 // fps, 90000 // fps, key, pkts))
    return frames


def _peer_main(conn: Any) -> None:
    """The load generator's side: a command loop over a pipe."""
    from bench.loadgen import Loadgen

    lg = Loadgen(bind_ip="127.0.0.1", verify_every=8)
    conn.send(lg.fingerprint)
    peers: dict[str, int] = {}
    while True:
        cmd, arg = conn.recv()
        if cmd == "connect":  # arg: (server port, server fingerprint, [ufrags])
            port, fp, ufrags = arg
            for u in ufrags:
                p = lg.open_peer("lg" + u, LG_PWD)
                lg.connect(
                    p,
                    remote_ip="127.0.0.1",
                    remote_port=port,
                    remote_ufrag=u,
                    remote_pwd=PWD,
                    remote_fingerprint="sha-256 " + fp,
                    controlling=True,
                    dtls_role="client",
                    rtx={97: 96},
                    twcc_ext=4,
                )
                peers[u] = p
            conn.send(None)
        elif cmd == "wait":  # arg: ([ufrags], timeout): all ICE+DTLS connected?
            ufrags, timeout = arg
            end = time.monotonic() + timeout
            while True:
                ok = all(lg.state(peers[u])["dtls"] == "connected" for u in ufrags)
                if ok or time.monotonic() > end:
                    break
                time.sleep(0.02)
            conn.send(ok)
        elif cmd == "media":  # arg: the publisher's ufrag: Opus-sized audio + 3 rid layers
            p = peers[arg]
            audio = lg.load_clip(
                [(i * 20000, 960, True, [os.urandom(100)]) for i in range(50)], clock_rate=48000
            )
            lg.add_source(p, clip=audio, ssrc=0x50, stream_id=100, pt=111, mid_ext=1, mid="0")
            for i, rid in enumerate("qhf"):
                clip = lg.load_clip(_synth_clip(per_frame=1 + i, size=300 + 400 * i))
                lg.add_source(
                    p, clip=clip, ssrc=0x100 + i, stream_id=i, pt=96, mid_ext=1, mid="1", rid_ext=10, rid=rid
                )
            lg.start_all()
            conn.send(None)
        elif cmd == "stats":
            conn.send({u: lg.peer_stats(p)["rx_packets"] for u, p in peers.items()})
        elif cmd == "close":
            lg.close()
            conn.send(None)
            return


class Probe:
    """A worker in this process, its peers in a child process."""

    def __init__(self) -> None:
        from native._core import Worker

        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_peer_main, args=(child,), daemon=True)
        self.proc.start()
        self.lg_fp = bytes.fromhex(self.conn.recv().replace(":", ""))
        self.worker = Worker()
        self.worker.start()
        self.subs: list[tuple[int, int, int]] = []  # (transport, audio consumer, video consumer)
        self.audio = self.video = 0
        self.ssrc = 1000

    def _call(self, cmd: str, arg: Any = None) -> Any:
        self.conn.send((cmd, arg))
        return self.conn.recv()

    def publish(self) -> None:
        tid = self.worker.create_transport("pub", PWD, False, "sha-256", self.lg_fp)
        self._call("connect", (self.worker.port, self.worker.fingerprint, ["pub"]))
        if not self._call("wait", (["pub"], 20)):
            raise RuntimeError("the publisher did not connect")
        self.audio = self.worker.create_producer(
            tid, "audio", 0x50, 0, {111: "opus"}, {}, 48000, {"mid": 1}, "0"
        )
        self.video = self.worker.create_producer(
            tid, "video", 0, 0, {96: "VP8"}, {97: 96}, 90000, EXTS, "1", layers=[{"rid": r} for r in "qhf"]
        )

    def add_subscribers(self, n: int, batch: int = 50) -> None:
        w = self.worker
        while n > 0:
            k = min(batch, n)
            n -= k
            names = [f"s{len(self.subs) + i}" for i in range(k)]
            tids = [w.create_transport(u, PWD, False, "sha-256", self.lg_fp) for u in names]
            self._call("connect", (w.port, w.fingerprint, names))
            if not self._call("wait", (names, 60)):
                raise RuntimeError("subscribers did not connect")
            for tid in tids:
                self.ssrc += 3
                a = w.create_consumer(tid, self.audio, self.ssrc, 0, {111: 111}, {}, {"mid": 1}, "0")
                v = w.create_consumer(
                    tid, self.video, self.ssrc + 1, self.ssrc + 2, {96: 96}, {96: 97}, CONS_EXTS, "1"
                )
                self.subs.append((tid, a, v))

    def start_media(self) -> None:
        self._call("media", "pub")

    def received(self) -> dict[str, int]:
        return self._call("stats")

    def close(self) -> None:
        try:
            self._call("close")
        finally:
            self.proc.join(5)
            self.worker.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, action="append", help="subscriber counts to measure at (ascending)")
    ap.add_argument("--media", type=float, default=2.0, help="seconds of media before each measurement")
    args = ap.parse_args()
    steps = sorted(args.n or [100, 300])
    probe = Probe()
    out: list[dict[str, int]] = []
    try:
        probe.publish()
        base = rss_kb()
        print(f"publisher connected: RSS {base} KB")
        if args.media:
            probe.start_media()
        for n in steps:
            probe.add_subscribers(n - len(probe.subs))
            connected = rss_kb()
            time.sleep(args.media)
            r = rss_kb()
            out.append({"n": n, "rss_connected_kb": connected, "rss_kb": r, "malloc_kb": malloc_in_use_kb()})
            print(
                f"n={n}: connected {connected} KB, after {args.media:.0f} s of media {r} KB "
                f"({(r - base) / n:.1f} KB/subscriber over the publisher-only RSS)"
            )
        if args.media:
            rx = probe.received()
            print(f"subscribers receiving media: {sum(1 for u, v in rx.items() if u != 'pub' and v > 0)}")
        for a, b in zip(out, out[1:], strict=False):
            print(
                f"{a['n']}->{b['n']}: {(b['rss_kb'] - a['rss_kb']) / (b['n'] - a['n']):.2f} KB/subscriber "
                f"(connected only: "
                f"{(b['rss_connected_kb'] - a['rss_connected_kb']) / (b['n'] - a['n']):.2f}; "
                f"malloc in use: {(b['malloc_kb'] - a['malloc_kb']) / (b['n'] - a['n']):.2f})"
            )
    finally:
        probe.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
