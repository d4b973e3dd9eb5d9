"""The ideal one-core forwarder model that bounds scenario A's latency (bench/lib/fanout_model.py)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.lib import fanout_model as fm
from tests.native.testbuild import built_module

built_module("bench.loadgen._loadgen")  # the package imports it

from bench.loadgen import clips  # noqa: E402


def test_evenly_spaced_packets_with_room_to_spare_wait_only_for_their_place_in_the_fan_out():
    arr = np.arange(0, 12_000_000, 4000.0)  # a packet every 4 ms; a fan-out takes 2 ms
    out = fm.fanout_latency_ms(arr, n=500, cost_us=4.0)
    assert out["p50_ms"] == pytest.approx(1.0, abs=0.05)
    assert out["p99_ms"] == pytest.approx(1.98, abs=0.05)


def test_packets_closer_than_a_fan_out_queue_up():
    # bursts of 5 packets 1 ms apart every 40 ms, a fan-out of 2 ms: the 5th waits 4 ms before its own
    arr = np.array([b * 40_000.0 + k * 1000.0 for b in range(300) for k in range(5)])
    out = fm.fanout_latency_ms(arr, n=1000, cost_us=2.0)
    assert out["p999_ms"] == pytest.approx(4.0 + 2.0, abs=0.1)
    assert out["p50_ms"] == pytest.approx(2.0 + 1.0, abs=0.1)  # the 3rd of 5 waits 2 ms, plus its place


@pytest.fixture(scope="module")
def layers():
    return clips.load(log=lambda s: None)


def test_the_clip_arrives_at_its_packet_rate_with_frames_paced(layers):
    arr = fm.arrivals_us(layers)
    f, a = layers["f"], layers["audio"]
    assert len(arr) == pytest.approx(
        (clips.packets_per_second(f) + clips.packets_per_second(a)) * clips.SECONDS
    )
    gaps = np.diff(arr)
    assert np.all(gaps >= 0)
    # a 1.1 kB packet at 2.5x 1.6 Mbit/s: about 2.3 ms after the one before it in its frame
    assert 2000 < np.median(gaps[gaps > 500]) < 3000


def test_the_bound_grows_with_utilisation_not_with_speed(layers):
    p99 = [fm.bound_at_utilisation(layers, u)["p99_ms"] for u in (0.3, 0.5, 0.7, 0.8)]
    assert p99 == sorted(p99)
    fast = fm.bound_at_utilisation(layers, 0.8, n=1600)
    slow = fm.bound_at_utilisation(layers, 0.8, n=400)
    assert fast["p99_ms"] == pytest.approx(slow["p99_ms"], rel=0.02)
    # the bar (p99 under 5 ms at 80% of the maximum) is out of reach of any one-core forwarder
    assert p99[-1] > 5.0
