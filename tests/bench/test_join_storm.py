"""The join storm bench (``python -m bench.join_storm``, issue 18 item 3), small enough for CI: 40 subscribers
joining one webinar at 20 a second on a server with two media workers, so that the room spreads over both
(``room_worker_share`` 20) and the second half's keyframe requests reach the publisher through a pipe.

Checked, from the command's JSON: every subscriber got video; the first video packet (a keyframe's start)
came within 1.5 s at p95 (the publisher's own keyframes are 4 s apart: only keyframe requests answered at
once make this, and only a subscriber whose lowest layer starts before any probe proved its rate); and the
keyframe requests the publisher received were at most one a second on each layer, at least 1 s apart, each
answered by a keyframe (the load generator's own count of what it received, per sending source)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.native.testbuild import built_module

built_module("bench.loadgen._loadgen")

ROOT = Path(__file__).resolve().parents[2]


def test_a_storm_of_joins_gets_every_first_frame_with_one_keyframe_request_a_second(tmp_path):
    out = tmp_path / "storm.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.join_storm",
            "--workers",
            "2",
            "--subscribers",
            "40",
            "--rate",
            "20",
            "--duration",
            "2",
            "--out",
            str(out),
        ],  # fmt: skip
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
        timeout=240,
        capture_output=True,
    )
    (run,) = json.loads(out.read_text())["runs"]
    assert run["joined"] == run["receiving"] == run["with_video"] == 40, run["join_errors"]
    assert run["first_video_ms"]["p95"] < 1500, run["first_video_ms"]
    assert len(run["worker_cpu_share"]) == 2
    kreq = {k["layer"]: k for k in run["keyframe_requests"]}
    assert set(kreq) == {"q", "h", "f"}
    assert sum(k["requests"] for k in kreq.values()) >= 1  # joiners asked (the clip alone is too slow)
    for k in kreq.values():
        assert k["max_in_1s"] <= 1, kreq
        assert k["min_gap_ms"] is None or k["min_gap_ms"] >= 1000, kreq
        assert k["keyframes_sent_for_them"] >= k["requests"] - 1, kreq  # the last may be on its way
