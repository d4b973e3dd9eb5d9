"""The latency an ideal one-core forwarder adds to the bench's own clip: a lower bound for scenario A.

A forwarder on one core sends every incoming packet to N subscribers one after the other, at ``cost_us``
of CPU per egress packet, and the next incoming packet waits for the previous fan-out (first come,
first served). It does nothing else: no feedback to read, no kernel delivery beyond the cost. The
arrival times are the load generator's: the clip's frames every 33.3 ms, each frame's packets paced at
2.5x the stream's bitrate (as Chrome's pacer does), Opus every 20 ms. A subscriber's latency is the time
from a packet's arrival to its own copy leaving; the server rotates where each fan-out starts, so every
position in the fan-out is equally likely.

At a given utilisation, ``n * cost_us`` is fixed (utilisation / packet rate), so the bound does not depend
on how fast the forwarder is, only on how busy it is and how bursty the clip is.
"""

from __future__ import annotations

import numpy as np

from bench.loadgen import clips

PACE = 2.5
UDP_OVERHEAD = 60  # what the load generator adds to a payload for its pacing (headers, tag)


def arrivals_us(layers: dict[str, clips.Encoded], video: str = "f", pace: float = PACE) -> np.ndarray:
    """Arrival times (µs, one clip loop) of the packets a scenario-A subscriber is sent: one video layer
    and the audio, each source paced on its own as the load generator paces it."""
    out: list[float] = []
    for name in (video, "audio"):
        enc = layers[name]
        pace_bps = pace * enc.bitrate
        t_free = 0.0
        for start, _step, _key, payloads in clips.frames_of(enc):
            t = max(float(start), t_free)
            for p in payloads:
                out.append(t)
                size = len(p) + clips.TRAILER + UDP_OVERHEAD
                t += size * 8 / pace_bps * 1e6 if name != "audio" else 0.0
            t_free = t
    return np.sort(np.asarray(out))


def fanout_latency_ms(
    arr_us: np.ndarray, n: int, cost_us: float, loops: int = 3, positions: int = 64
) -> dict[str, float]:
    """p50/p99/p99.9 (ms) of the latency an ideal FIFO forwarder adds, over ``positions`` fan-out slots."""
    period = float(clips.SECONDS * 1_000_000)
    arr = np.concatenate([arr_us + k * period for k in range(loops)])
    span = n * cost_us
    starts = np.empty_like(arr)
    busy = -1e18
    for i, a in enumerate(arr):  # a few thousand packets: plain Python is fine here
        s = a if a > busy else busy
        starts[i] = s
        busy = s + span
    slots = (np.arange(positions) + 0.5) / positions * span  # a copy's place in its fan-out
    lat = ((starts - arr)[len(arr) // loops :, None] + slots[None, :]).ravel() / 1000.0  # skip the first loop
    return {
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "p999_ms": float(np.percentile(lat, 99.9)),
    }


def bound_at(layers: dict[str, clips.Encoded], n: int, cost_us: float, video: str = "f") -> dict[str, float]:
    """The ideal forwarder's latency with n subscribers at cost_us per egress packet, and its utilisation."""
    arr = arrivals_us(layers, video)
    rate = len(arr) / clips.SECONDS
    out = fanout_latency_ms(arr, n, cost_us)
    out["utilisation"] = n * cost_us * rate / 1e6
    return out


def bound_at_utilisation(
    layers: dict[str, clips.Encoded], utilisation: float, n: int = 640, video: str = "f"
) -> dict[str, float]:
    """The same bound for a forwarder that is ``utilisation`` busy (its cost chosen to match)."""
    arr = arrivals_us(layers, video)
    rate = len(arr) / clips.SECONDS
    cost = utilisation / rate * 1e6 / n
    out = fanout_latency_ms(arr, n, cost)
    out["utilisation"] = utilisation
    out["cost_us"] = cost
    return out
