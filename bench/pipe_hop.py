#!/usr/bin/env python3
"""What a pipe between two media workers costs (issue 18 item 2), measured on the workers' own CPU clocks.

One process: two server workers A and B (native ``Worker``s, their threads pinned to one core, ``--cpu``)
and a client worker (pinned to another core) with a publisher and N subscribers as real transports (ICE,
DTLS-SRTP) over loopback. The publisher sends ``--rate`` VP8 packets a second of ``--size`` bytes for
``--seconds``; each scenario reads the CPU time the server threads used (``cpu_us`` of their stats):

* ``w1``: A alone forwards to all N subscribers: the cost of one subscriber packet with one worker;
* ``w2``: A forwards to N/2, and pipes the stream to B, which forwards to the other N/2: the same cost
  with two workers on the same core (the pipe included); it should not grow;
* ``hop``: no subscribers; A with and without a pipe to B: the pipe's cost per packet on the sending
  worker (the difference) and on the receiving one (all of B's time: its drain and cache).

Each scenario runs ``--repeat`` times, interleaved; medians are printed and written with every run to
bench/results/pipe_hop.json. Compare figures within one run only. Bounded: N <= 200, seconds <= 30.

    python bench/pipe_hop.py                 # N = 40, 2,000 packets/s for 4 s, 3 repeats
"""

from __future__ import annotations

import argparse
import os
import statistics
import struct
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.lib import results  # noqa: E402
from native._core import Worker, pipe_close, pipe_create  # noqa: E402

PWD = "benchpassword0123456789x"
ABS = 3
RESULTS = ROOT / "bench" / "results" / "pipe_hop.json"


def vp8(seq: int, ts: int, key: bool, size: int) -> bytes:
    ext = struct.pack("!HH", 0xBEDE, 1) + bytes([(ABS << 4) | 2, 0, 0, 0])
    desc = bytes([0x10, 0x00 if key else 0x01])
    return struct.pack("!BBHII", 0x90, 96, seq & 0xFFFF, ts & 0xFFFFFFFF, 1234) + ext + desc + bytes(size)


def wait(pred: Any, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return bool(pred())


class Setup:
    """Server workers A and B on core ``server_cpu``, the client worker on ``client_cpu``."""

    def __init__(self, n: int, server_cpu: int, client_cpu: int) -> None:
        os.sched_setaffinity(0, {server_cpu})  # this thread: the workers' threads inherit it
        self.a, self.b = Worker(), Worker()
        self.a.start()
        self.b.start()
        os.sched_setaffinity(0, {client_cpu})
        self.cli = Worker()
        self.cli.start()
        cfp = bytes.fromhex(self.cli.fingerprint.replace(":", ""))
        self.n = n
        self.pub, self.cpub = self._peer(self.a, "pub", cfp, sink=False)
        self.subs = {
            w: [self._peer(w, f"{tag}{i}", cfp, sink=True) for i in range(n)]
            for w, tag in ((self.a, "a"), (self.b, "b"))
        }
        every = [self.cpub] + [c for peers in self.subs.values() for _, c in peers]
        if not wait(lambda: all(self.cli.transport_stats(t)["dtls_state"] == "connected" for t in every), 60):
            raise SystemExit("the bench's transports did not connect")
        self.producer = self.a.create_producer(
            self.pub, "video", 1234, 0, {96: "VP8"}, {}, 90000, {"abs_send_time": ABS}, "0"
        )
        self.seq = 0

    def _peer(self, srv: Worker, name: str, cfp: bytes, sink: bool) -> tuple[int, int]:
        sfp = bytes.fromhex(srv.fingerprint.replace(":", ""))
        st = srv.create_transport(name, PWD, False, "sha-256", cfp)
        extra = {"sink_abs_ext": ABS} if sink else {}
        ct = self.cli.create_client_transport(
            "127.0.0.1", srv.port, "c" + name, name, PWD, "sha-256", sfp, **extra
        )
        return st, ct

    def consumers(self, w: Worker, pid: int, count: int) -> list[int]:
        return [
            w.create_consumer(st, pid, 5000 + i, 0, {96: 100}, {}, {"abs_send_time": ABS}, "0")
            for i, (st, _) in enumerate(self.subs[w][:count])
        ]

    def send(self, rate: int, seconds: float, size: int, key: bool = False) -> int:
        """``rate`` packets a second for ``seconds`` (batches every 10 ms); with ``key`` the first is a
        keyframe (new consumers start on one)."""
        per = max(1, rate // 100)
        sent, start = 0, time.monotonic()
        while time.monotonic() - start < seconds:
            batch = [vp8(self.seq + i, (self.seq + i) * 300, key and sent + i == 0, size) for i in range(per)]
            self.cli.send_rtp(self.cpub, batch, abs_ext=ABS)
            self.seq += per
            sent += per
            due = start + sent / rate
            if due > time.monotonic():
                time.sleep(due - time.monotonic())
        return sent

    def cpu(self) -> tuple[int, int]:
        return self.a.stats()["cpu_us"], self.b.stats()["cpu_us"]

    def close(self) -> None:
        self.cli.close()
        self.b.close()
        self.a.close()


def scenario(s: Setup, name: str, rate: int, seconds: float, size: int) -> dict[str, Any]:
    n = s.n
    pipe = None
    cons: list[tuple[Worker, int]] = []
    if name == "w1":
        cons = [(s.a, c) for c in s.consumers(s.a, s.producer, n)]
    elif name == "w2":
        pipe = pipe_create(s.a, s.producer, s.b)
        cons = [(s.a, c) for c in s.consumers(s.a, s.producer, n // 2)]
        cons += [(s.b, c) for c in s.consumers(s.b, pipe, n - n // 2)]
    elif name == "hop":
        pipe = pipe_create(s.a, s.producer, s.b)
    # a keyframe first so that every consumer starts, and a moment to settle
    s.send(rate, 0.3, size, key=True)
    time.sleep(0.2)
    rx0 = s.a.stats()["rtp_rx"]
    tx0 = s.a.stats()["rtp_tx"] + s.b.stats()["rtp_tx"]
    (a0, b0) = s.cpu()
    wakes0 = s.b.stats()["pipe_wakes"]
    sent = s.send(rate, seconds, size)
    wait(lambda: s.a.stats()["rtp_rx"] - rx0 >= sent, 5)
    time.sleep(0.1)
    (a1, b1) = s.cpu()
    wakes = s.b.stats()["pipe_wakes"] - wakes0
    out = s.a.stats()["rtp_tx"] + s.b.stats()["rtp_tx"] - tx0
    for w, c in cons:
        w.close_consumer(c)
    if pipe is not None:
        pipe_close(s.a, s.b, pipe)
    return {
        "packets": sent,
        "subscriber_packets": out,
        "cpu_a_us": a1 - a0,
        "cpu_b_us": b1 - b0,
        "us_per_subscriber_packet": (a1 - a0 + b1 - b0) / out if out else None,
        "us_per_packet_a": (a1 - a0) / sent,
        "us_per_packet_b": (b1 - b0) / sent,
        "packets_per_wake": sent / wakes if wakes else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=40, help="subscribers (at most 200)")
    ap.add_argument("--rate", type=int, default=2000, help="packets a second from the publisher")
    ap.add_argument("--size", type=int, default=1000, help="payload bytes a packet")
    ap.add_argument("--seconds", type=float, default=4.0, help="a window (at most 30)")
    ap.add_argument("--repeat", type=int, default=3)
    cpus = sorted(os.sched_getaffinity(0))
    ap.add_argument("--cpu", type=int, default=cpus[0], help="the server workers' core")
    ap.add_argument("--client-cpu", type=int, default=cpus[-1], help="the client worker's core")
    args = ap.parse_args()
    if not 2 <= args.n <= 200 or not 0 < args.seconds <= 30:
        raise SystemExit("--n must be 2..200 and --seconds at most 30")
    s = Setup(args.n, args.cpu, args.client_cpu)
    runs: dict[str, list[dict[str, Any]]] = {"w1": [], "w2": [], "hop": [], "none": []}
    try:
        for r in range(args.repeat):
            for name in ("w1", "w2", "hop", "none"):
                got = scenario(s, name, args.rate, args.seconds, args.size)
                runs[name].append(got)
                print(
                    f"run {r + 1} {name:4}: A {got['us_per_packet_a']:.3f} µs/pkt, "
                    f"B {got['us_per_packet_b']:.3f} µs/pkt, {got['subscriber_packets']} subscriber packets",
                    flush=True,
                )
    finally:
        s.close()

    def med(name: str, key: str) -> float:
        return statistics.median(x[key] for x in runs[name] if x[key] is not None)

    per_w1, per_w2 = med("w1", "us_per_subscriber_packet"), med("w2", "us_per_subscriber_packet")
    # B's own clock ticks with nothing to do (its 10 ms timers): what it uses in "none" is not the pipe's
    hop_send = med("hop", "us_per_packet_a") - med("none", "us_per_packet_a")
    hop_recv = med("hop", "us_per_packet_b") - med("none", "us_per_packet_b")
    # in place: what w2 costs beyond w1, per packet the publisher sent (the hop, paid once per packet)
    in_place = (per_w2 - per_w1) * med("w2", "subscriber_packets") / med("w2", "packets")
    summary = {
        "us_per_subscriber_packet_w1": round(per_w1, 4),
        "us_per_subscriber_packet_w2": round(per_w2, 4),
        "w2_over_w1": round(per_w2 / per_w1, 3),
        "hop_in_place_us": round(in_place, 4),
        "hop_in_place_over_subscriber_packet": round(in_place / per_w1, 3),
        "hop_send_us_idle_receiver": round(hop_send, 4),
        "hop_receive_us_idle_receiver": round(hop_recv, 4),
        "packets_per_wake_idle_receiver": round(med("hop", "packets_per_wake"), 1),
        "packets_per_wake_busy_receiver": round(med("w2", "packets_per_wake"), 1),
    }
    print()
    print(f"one subscriber packet, 1 worker : {per_w1:.3f} µs")
    print(f"one subscriber packet, 2 workers: {per_w2:.3f} µs  ({summary['w2_over_w1']:.3f}x)")
    print(
        f"the hop in place (w2 - w1, per published packet): {in_place:.3f} µs = "
        f"{summary['hop_in_place_over_subscriber_packet']:.1%} of a subscriber packet; "
        f"{summary['packets_per_wake_busy_receiver']} packets a wake-up"
    )
    print(
        f"the hop to an idle receiver: {hop_send:.3f} µs sending + {hop_recv:.3f} µs receiving, "
        f"{summary['packets_per_wake_idle_receiver']} packets a wake-up (its eventfd and epoll_wait)"
    )
    results.write(RESULTS, args, summary=summary, runs=runs)
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
