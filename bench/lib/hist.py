"""Quantiles of the load generator's bucketed latency histograms (bench.side_by_side, bench.loadtest)."""

from __future__ import annotations


def percentile(hist: list[int], bounds: list[float], q: float) -> float | None:
    """q-quantile of a bucketed histogram (bucket b holds values up to bounds[b]), interpolated."""
    total = sum(hist)
    if total <= 0:
        return None
    target, acc, lo = q * total, 0, 0.0
    for c, hi in zip(hist, bounds, strict=False):
        if c and acc + c >= target:
            return lo + (hi - lo) * (target - acc) / c
        acc += c
        lo = hi
    return float(bounds[-1])
