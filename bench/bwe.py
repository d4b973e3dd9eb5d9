#!/usr/bin/env python3
"""Bandwidth-estimation benchmark (issue 5): replays the network scenarios of tests/e2e/test_bandwidth.py
with real peers and writes convergence times, overshoot and freezes to bench/results/bwe.json.

A headless Chromium publishes simulcast (q/h/f from its fake 1280x720 camera at 30 fps) over WHIP; the
subscriber is a headless Chromium over WHEP (transport-cc, the server's own send-side estimate), or aiortc
over WHEP (REMB only) as the baseline. Its downlink goes through the impaired relay of
tests/e2e/lossy_path.py (rate cap with a 300 ms drop-tail queue, loss, delay; no netem in this kernel).

Scenarios, each from a settled start (3 s in a row on the top layer, or the budget's layer):
  cap700   cap the downlink at 700 kbit/s for 15 s, then lift it: seconds to a lower layer, the highest
           received rate over any 2 s window as a share of the cap, freezes (count, seconds) and the
           longest stall while capped; seconds back to the top layer after the lift;
  loss3    3% loss and 100 ms RTT from the start: decoded frame rate per 2 s window and the layer;
  cap300   300 kbit/s: video frames decoded (should be none once settled), audio concealment;
  sd       an SD room (R-MEDIA-4): the highest received rate over any 2 s window against 512 + 1000.

    python bench/bwe.py                  # every scenario once, Chromium and aiortc subscribers
    python bench/bwe.py --repeat 3       # medians of three runs
    python bench/bwe.py --only cap700 --subscribers chromium
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.bwe_scenarios import Scenario, below_top, top  # noqa: E402

SETTLE_TIMEOUT = 45.0
RECORD: Path | None = None  # --record: where cap700 writes the relay's packet trace


async def settle(sc: Scenario, pred=top, hold: float = 3.0) -> float | None:
    return await sc.until(lambda s: sc.trace.held(pred, hold), SETTLE_TIMEOUT)


async def start(sc: Scenario, loss: float = 0.0, delay: float = 0.0) -> float | None:
    await sc.publish()
    sc.relay.loss, sc.relay.delay = loss, delay
    if sc.subscriber == "aiortc":
        await sc.view_aiortc()
    else:
        await sc.view()
    return await settle(sc)


async def cap700(sc: Scenario) -> dict[str, Any]:
    settled = await start(sc)
    if RECORD and sc.subscriber == "chromium":
        sc.relay.trace = []
        await sc.run_for(3)
    t0 = sc.now()
    cap_at = int(asyncio.get_running_loop().time() * 1e6)
    sc.relay.set_rate(700)
    down = await sc.until(below_top, 10)
    await sc.run_for(max(0.0, 15 - (sc.now() - t0)))
    capped = {
        "settled_s": settled,
        "to_lower_layer_s": down,
        "max_rate_2s_kbps": round(sc.trace.max_rate_kbps(t0), 1) if sc.subscriber == "chromium" else None,
        "overshoot_ratio": round(sc.trace.max_rate_kbps(t0) / 700, 3)
        if sc.subscriber == "chromium"
        else None,
        "freezes": _delta(sc, t0, "freezes"),
        "freeze_s": round(sc.trace.freeze_time(t0), 3),
        "longest_stall_s": round(sc.trace.longest_stall(t0), 3),
        "fps_capped": round(sc.trace.fps(t0 + 5), 1),
        "queue_drops": sc.relay.queue_drops,
    }
    lift_at = int(asyncio.get_running_loop().time() * 1e6)
    sc.relay.set_rate(0)
    up = await sc.until(top, 20)
    capped["to_top_after_lift_s"] = up
    if RECORD and sc.subscriber == "chromium" and sc.relay.trace:
        await sc.run_for(3)
        base = sc.relay.trace[0][2]
        RECORD.write_text(
            json.dumps(
                {
                    "what": "a Chromium subscriber's downlink through a 700 kbit/s cap and its lift, "
                    "recorded at the relay: "
                    "[transport-wide seq, bytes, sent_us, arrived_us or -1 (dropped)], times from the first "
                    "packet",
                    "cap_at_us": cap_at - base,
                    "lift_at_us": lift_at - base,
                    "capacity_kbps": 700,
                    "packets": [
                        [q, n, a - base, b - base if b >= 0 else -1] for q, n, a, b in sc.relay.trace
                    ],
                },
                separators=(",", ":"),
            )
            + "\n"
        )
        print("trace written to", RECORD)
    return capped


async def loss3(sc: Scenario) -> dict[str, Any]:
    settled = await start(sc, loss=0.03, delay=0.100)
    t0 = sc.now()
    await sc.run_for(10)
    fps = [round(sc.trace.fps(t0 + k, t0 + k + 2), 1) for k in range(0, 8, 2)]
    window = sc.trace.window(t0)
    return {
        "settled_s": settled,
        "fps_2s_windows": fps,
        "fps_min": min(fps),
        "fps_mean": round(sc.trace.fps(t0), 1),
        "top_layer_share": round(sum(top(s) for s in window) / max(1, len(window)), 3),
        "relay_dropped": sc.relay.dropped,
        "nacks_rx": sc.media.stats()["nacks_rx"],
    }


async def cap300(sc: Scenario) -> dict[str, Any]:
    settled = await start(sc)
    sc.relay.set_rate(300)
    await sc.run_for(8)
    t0 = sc.now()
    await sc.run_for(10)
    ws = [s for s in sc.trace.window(t0) if s.video]
    return {
        "settled_s": settled,
        "video_frames_in_10s": ws[-1].video["frames"] - ws[0].video["frames"] if ws else None,
        "audio_concealed_share": round(sc.trace.audio_gap(t0), 4) if sc.subscriber == "chromium" else None,
        "max_rate_2s_kbps": round(sc.trace.max_rate_kbps(t0), 1) if sc.subscriber == "chromium" else None,
    }


async def sd(sc: Scenario) -> dict[str, Any]:
    await sc.publish()
    await sc.view()
    await sc.run_for(12)
    t0 = sc.now()
    await sc.run_for(10)
    return {
        "max_rate_2s_kbps": round(sc.trace.max_rate_kbps(t0), 1),
        "budget_kbps": 1512,
        "top_layer_share": round(
            sum(top(s) for s in sc.trace.window(t0)) / max(1, len(sc.trace.window(t0))), 3
        ),
        "fps_mean": round(sc.trace.fps(t0), 1),
    }


def _delta(sc: Scenario, since: float, key: str) -> int:
    ws = [s for s in sc.trace.window(since) if s.video]
    return int(ws[-1].video[key] - ws[0].video[key]) if len(ws) > 1 else 0


SCENARIOS = {"cap700": (cap700, {}), "loss3": (loss3, {}), "cap300": (cap300, {}), "sd": (sd, {"hd": False})}
AIORTC_SCENARIOS = ("cap700", "loss3")  # REMB-only peers: what applies to them


async def run_one(name: str, subscriber: str) -> dict[str, Any]:
    fn, kw = SCENARIOS[name]
    sc = Scenario(subscriber=subscriber, **kw)
    async with sc.running():
        result = await fn(sc)
        result["server"] = sc.server_view()
        result["server_stats"] = {
            k: sc.media.stats()[k]
            for k in ("twcc_rx", "twcc_tx", "remb_rx", "probes_tx", "rtx_tx", "rtx_skipped")
        }
    return result


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in runs[0].items():
        values = [r.get(key) for r in runs]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            out[key] = statistics.median(values)
            if len(values) > 1:
                out[key + "_spread"] = [min(values), max(values)]
        else:
            out[key] = value
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*", choices=list(SCENARIOS), default=list(SCENARIOS))
    ap.add_argument(
        "--subscribers", nargs="*", choices=["chromium", "aiortc"], default=["chromium", "aiortc"]
    )
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "bwe.json"))
    ap.add_argument(
        "--record",
        help="write the cap700 Chromium run's packet trace here (JSON), e.g. "
        "tests/native/data/twcc_cap700.json for the estimator's replay test",
    )
    args = ap.parse_args()
    global RECORD
    RECORD = Path(args.record) if args.record else None
    results: dict[str, Any] = {}
    for name in args.only:
        for sub in args.subscribers:
            if sub == "aiortc" and name not in AIORTC_SCENARIOS:
                continue
            runs = []
            for i in range(args.repeat):
                print(f"{name} / {sub} run {i + 1}/{args.repeat} ...", flush=True)
                r = await run_one(name, sub)
                print("   ", json.dumps(r), flush=True)
                runs.append(r)
            results.setdefault(name, {})[sub] = median_of(runs) if args.repeat > 1 else runs[0]
    doc = {
        "benchmark": "bwe",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "repeat": args.repeat,
        "results": results,
        "criteria": {
            "cap700": "lower layer <= 5 s, no freeze over 1 s, <= 110% of the cap in any 2 s, "
            "top layer <= 15 s after the lift",
            "loss3": "above 20 fps on the top layer",
            "cap300": "audio without gaps, no video",
            "sd": "at most 512 + 1000 kbit/s (R-MEDIA-3)",
        },
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    print("\n" + table(results))
    print(f"\nwritten to {args.out}")


def table(results: dict[str, Any]) -> str:
    rows = []
    for name, by_sub in results.items():
        for sub, r in by_sub.items():
            keys = [k for k in r if k not in ("server", "server_stats") and not k.endswith("_spread")]
            rows.append(f"{name:7} {sub:9} " + "  ".join(f"{k}={r[k]}" for k in keys))
    return "\n".join(rows)


if __name__ == "__main__":
    asyncio.run(main())
