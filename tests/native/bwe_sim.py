"""A small network simulator for the bandwidth estimator (native._bwe), reusable by tests and benchmarks.

One bottleneck link (capacity, drop-tail queue in bytes, one-way propagation delay, random loss after the
queue), a paced sender that sends at the estimate (during a probe cluster: at the probe rate, every packet
marked with the cluster id, as libwebrtc's pacer does), and a receiver running the real transport-cc
receiver (``TwccRx``) whose feedback comes back over an uncongested reverse path every 50-100 ms. The
receiver clock is offset from the sender's, and transport-wide sequence numbers start near the wrap.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Link:
    """Bottleneck with a drop-tail queue: a packet that does not fit in ``queue_bytes`` is dropped."""

    capacity_bps: float
    queue_bytes: int = 40_000
    delay_us: int = 25_000
    loss: float = 0.0
    jitter_us: int = 0  # extra random delay after the queue
    reorder: bool = False  # jitter may reorder packets (otherwise it keeps them in order)
    busy_until: float = 0.0
    last_arrival: float = 0.0

    def send(self, t_us: float, size: int, rng: random.Random) -> float | None:
        backlog = max(0.0, self.busy_until - t_us) * self.capacity_bps / 8e6
        if backlog + size > self.queue_bytes:
            return None
        self.busy_until = max(t_us, self.busy_until) + size * 8e6 / self.capacity_bps
        if self.loss and rng.random() < self.loss:
            return None
        arrival = self.busy_until + self.delay_us + (rng.randint(0, self.jitter_us) if self.jitter_us else 0)
        if not self.reorder:
            arrival = max(arrival, self.last_arrival)
        self.last_arrival = max(arrival, self.last_arrival)
        return arrival

    def queue_delay_us(self, t_us: float) -> float:
        return max(0.0, self.busy_until - t_us)


@dataclass
class Sample:
    t_us: int
    estimate: int
    acked: int
    sent_bps: float
    queue_ms: float


@dataclass
class Sim:
    bwe: object  # native._bwe.Bwe
    link: Link
    seed: int = 1
    packet_bytes: int = 1200
    wanted_bps: int = 5_000_000  # what the allocator would like to send (probing goal)
    probing: bool = True
    feedback_us: tuple[int, int] = (50_000, 100_000)
    feedback_loss: float = 0.0
    rx_clock_offset_us: int = 7_777_777_777
    seq0: int = 65_000
    sample_us: int = 100_000
    t_us: int = 0
    samples: list[Sample] = field(default_factory=list)

    def __post_init__(self) -> None:
        from native._bwe import TwccRx

        self.rng = random.Random(self.seed)
        self.rx = TwccRx()
        self.seq = self.seq0
        self.events: list[tuple[float, int, int, object]] = []  # (time, order, kind, payload)
        self.order = 0
        self.next_send = 0.0
        self.next_fb = self.rng.randint(*self.feedback_us)
        self.next_sample = 0
        self.probe: list | None = None  # [cluster id, rate, start, packets]
        self.sent_bytes_window: list[tuple[float, int]] = []
        self.probes_started = 0

    def _push(self, t: float, kind: int, payload: object) -> None:
        self.order += 1
        heapq.heappush(self.events, (t, self.order, kind, payload))

    def _send(self, ts: float, cluster: int) -> None:
        seq = self.seq & 0xFFFF
        self.seq += 1
        self.bwe.on_sent(seq, self.packet_bytes, int(ts), cluster)
        self.sent_bytes_window.append((ts, self.packet_bytes))
        arrival = self.link.send(ts, self.packet_bytes, self.rng)
        if arrival is not None:
            self._push(arrival, 0, seq)

    def run(self, until_us: int, on_tick: Callable[[Sim], None] | None = None, tick_us: int = 1000) -> None:
        bwe = self.bwe
        while self.t_us < until_us:
            t = self.t_us
            end = t + tick_us
            if on_tick is not None:
                on_tick(self)
            if self.probing and self.probe is None:
                target = bwe.should_probe(self.wanted_bps, t)
                if target > 0:
                    self.probe = [bwe.probe_start(target, t), target, t, 0]
                    self.probes_started += 1
            if self.next_send < t - tick_us:
                self.next_send = t
            while self.next_send < end:
                ts = self.next_send
                if self.probe is not None:
                    cid, rate, start, count = self.probe
                    self._send(ts, cid)
                    self.probe[3] += 1
                    if ts - start >= 15_000 and count + 1 >= 5:
                        self.probe = None
                else:
                    rate = bwe.estimate
                    self._send(ts, -1)
                self.next_send = ts + self.packet_bytes * 8e6 / max(rate, 1)
            while self.events and self.events[0][0] < end:
                at, _, kind, payload = heapq.heappop(self.events)
                if kind == 0:
                    self.rx.on_packet(payload, int(at) + self.rx_clock_offset_us)
                else:
                    bwe.on_rtt(2 * self.link.delay_us)
                    bwe.on_feedback_packet(payload, int(at))
            if t >= self.next_fb:
                for pkt in self.rx.build_all():
                    if not (self.feedback_loss and self.rng.random() < self.feedback_loss):
                        self._push(t + self.link.delay_us, 1, pkt)
                self.next_fb = t + self.rng.randint(*self.feedback_us)
            if t >= self.next_sample:
                cutoff = t - 500_000
                self.sent_bytes_window = [x for x in self.sent_bytes_window if x[0] >= cutoff]
                sent = sum(x[1] for x in self.sent_bytes_window) * 8 / 0.5
                self.samples.append(
                    Sample(t, bwe.estimate, bwe.acked_bps, sent, self.link.queue_delay_us(t) / 1000)
                )
                self.next_sample = t + self.sample_us
            self.t_us = end

    def window(self, start_us: int, end_us: int | None = None) -> list[Sample]:
        return [s for s in self.samples if s.t_us >= start_us and (end_us is None or s.t_us < end_us)]

    def first_time(self, pred: Callable[[Sample], bool], after_us: int = 0) -> int | None:
        for s in self.samples:
            if s.t_us >= after_us and pred(s):
                return s.t_us
        return None
