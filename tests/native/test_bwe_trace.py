"""The estimator (native/core/bwe.c) on a recorded trace (issue 5): what the server really sent to a headless
Chromium subscriber while its downlink was capped at 700 kbit/s and then freed, with each packet's arrival
(or drop) at the 300 ms drop-tail queue, recorded at the relay by `python bench/bwe.py --only cap700
--subscribers chromium --record tests/native/data/twcc_cap700.json`.

The replay runs the real transport-cc receiver on the recorded arrivals (feedback every 50 ms, 5 ms back)
and feeds the feedback to a fresh estimator, open loop: the sender's behaviour is the recorded one.
"""

from __future__ import annotations

import heapq
import json
from pathlib import Path

from tests.native.testbuild import built_module

bwe = built_module("native._bwe")
TRACE = Path(__file__).parent / "data" / "twcc_cap700.json"
RECEIVER_CLOCK = 987_654_321  # the receiver's clock is not the sender's
FEEDBACK_US, BACK_US = 50_000, 5_000


def replay(trace: dict) -> list[tuple[int, int]]:
    """(time, estimate) every 100 ms of the recording."""
    est, rx = bwe.Bwe(1_000_000, 50_000, 50_000_000), bwe.TwccRx()
    events: list[tuple[int, int, tuple]] = []
    for seq, size, sent, arrived in trace["packets"]:
        heapq.heappush(events, (sent, 0, ("sent", seq & 0xFFFF, size + 28)))
        if arrived >= 0:
            heapq.heappush(events, (arrived, 1, ("arrived", seq & 0xFFFF)))
    end = max(p[2] for p in trace["packets"]) + 1_000_000
    for t in range(FEEDBACK_US, end, FEEDBACK_US):
        heapq.heappush(events, (t, 2, ("feedback",)))
    for t in range(0, end, 100_000):
        heapq.heappush(events, (t, 3, ("sample",)))
    samples, pending = [], []
    while events:
        t, _, ev = heapq.heappop(events)
        while pending and pending[0][0] <= t:
            at, pkt = heapq.heappop(pending)
            est.on_feedback_packet(pkt, at)
        if ev[0] == "sent":
            est.on_sent(ev[1], ev[2], t)
        elif ev[0] == "arrived":
            rx.on_packet(ev[1], t + RECEIVER_CLOCK)
        elif ev[0] == "feedback":
            for pkt in rx.build_all():
                heapq.heappush(pending, (t + BACK_US, pkt))
        else:
            samples.append((t, est.estimate))
    return samples


def test_recorded_cap_is_found_within_two_seconds_and_not_overshot():
    assert TRACE.exists(), "the recorded trace is part of the repository (see the module docstring)"
    trace = json.loads(TRACE.read_text())
    cap, lift, capacity = trace["cap_at_us"], trace["lift_at_us"], trace["capacity_kbps"] * 1000
    samples = replay(trace)
    before = [e for t, e in samples if cap - 1_000_000 <= t < cap]
    assert before and min(before) > capacity, before  # it was sending (and estimating) above the cap
    found = next((t - cap for t, e in samples if t >= cap and e <= capacity * 1.1), None)
    assert found is not None and found <= 2_000_000, found
    capped = [e for t, e in samples if cap + 2_000_000 <= t < lift]
    assert max(capped) <= capacity * 1.1, max(capped)  # and stays at or under it while capped
    print(
        f"cap found after {found / 1e6:.2f} s; while capped {min(capped) / 1e3:.0f}-{max(capped) / 1e3:.0f} "
        f"kbit/s"
    )
