"""``python -m bench.side_by_side`` end to end, small: every server it knows, scenarios A-D, one run each.

The command runs as a user runs it (a subprocess, pinned cores, real servers, the native load
generator); the test checks what it wrote: every step delivered media without loss, latency was
sampled, the summary and the issue's checks are computed, and the plot exists."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.native.testbuild import built_module

built_module("bench.loadgen._loadgen")

ROOT = Path(__file__).resolve().parents[2]
SERVERS = ["ours", "janus", "floor-gso", "aiortc-passthrough"]


def run_side_by_side(args: list[str], out: Path, timeout: int) -> tuple[subprocess.CompletedProcess, dict]:
    """``python -m bench.side_by_side ARGS --out OUT`` as a user runs it, short; its output and what it
    wrote."""
    cmd = [
        sys.executable,
        "-m",
        "bench.side_by_side",
        "--seconds",
        "2",
        "--warmup",
        "1",
        "--steady-timeout",
        "4",
        "--quiet-wait",
        "0",
        "--attempts",
        "1",
        *args,  # after the short defaults: a test's own values win
        "--out",
        str(out),
    ]
    r = subprocess.run(
        cmd,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r, json.loads(out.read_text())


@pytest.mark.timeout(600)
def test_side_by_side_small(tmp_path):
    if shutil.which("janus") is None:
        pytest.fail("janus is not installed (apt-get install janus): the harness compares against it")
    out, png = tmp_path / "sbs.json", tmp_path / "sbs.png"
    r, doc = run_side_by_side(
        [
            "--servers",
            ",".join(SERVERS),
            "--scenarios",
            "ABCD",
            "--ladder",
            "3",
            "--meeting",
            "3",
            "--churn-n",
            "3",
            "--churn-rate",
            "4",
            "--runs",
            "1",
            "--plot",
            str(png),
        ],
        out,
        560,
    )
    assert set(doc["results"]) == set(SERVERS)
    for server, scenarios in doc["results"].items():
        assert set(scenarios) == {"A", "B", "C", "D"}, server
        for name, steps in scenarios.items():
            for step in steps:
                assert "error" not in step, (server, name, step.get("error"))
                run = step["runs"][0]
                assert run["egress_pps"] > 0, (server, name)
                assert run["latency_samples"] > 0, (server, name)
                assert run["decrypt_errors"] == 0, (server, name)
                assert run["loss_pct"] < 0.5, (server, name, run["loss_pct"])
                assert run["server_cpu"] > 0 and run["rss_kb"] > 0, (server, name)
    # B: everyone hears everyone else; C: 10 speakers; D: churn joined and left subscribers
    b = doc["results"]["ours"]["B"][0]["runs"][0]
    assert b["publishers"] == 3 and b["subscribers"] == 3
    assert doc["results"]["ours"]["C"][0]["runs"][0]["publishers"] == 10
    churn = doc["results"]["ours"]["D"][0]["runs"][0]["churn"]
    assert churn["joins"] > 0 and churn["errors"] == 0
    assert doc["summary"]["ours"]["pps_per_core"] > 0
    assert "vs_floor" in doc["done"] and "memory_per_subscriber" in doc["done"]
    # next to each A step, the ideal one-core forwarder's p99 for the same N and CPU per packet
    assert all(s["ideal_p99_ms"] > 0 for s in doc["results"]["ours"]["A"])
    assert doc["done"]["p99_at_80pct"]["ideal_at_80pct_busy_ms"] > 5.0
    assert png.stat().st_size > 10_000
    assert "| ours | A | 3 |" in r.stdout


def test_ours_before_needs_a_checkout():
    from bench.side_by_side import make_adapter

    assert make_adapter("ours-before", {}, "/somewhere/else").root == Path("/somewhere/else")
    assert make_adapter("ours", {}, "/somewhere/else").root == ROOT
    with pytest.raises(SystemExit, match="--ours-before"):
        make_adapter("ours-before", {})
    w3 = make_adapter("ours-w3", {}, n=7)  # issue 18: three media workers, a webinar of 7 over them
    assert (w3.workers, w3.subscribers, w3.name) == (3, 7, "ours-w3")
    with pytest.raises(SystemExit, match="unknown server"):
        make_adapter("ours-w0", {})


@pytest.mark.timeout(450)
def test_two_builds_of_ours_interleaved(tmp_path):
    """--ours-before runs a second 'ours' from another checkout (here this one) in the same run, the runs of
    each rung taken in turn (--interleave); the summary gives the ratio of the two. ours-w2 is ours with two
    media workers on the one core, the webinar spread over both (issue 18). Every window starts once all
    subscribers get the top layer (steady), and --slice reports it in parts."""
    out = tmp_path / "sbs.json"
    r, doc = run_side_by_side(
        [
            "--servers",
            "ours-before,ours,ours-w2",
            "--slice",
            "2",
            "--seconds",
            "4",
            "--steady-timeout",
            "30",
            "--ours-before",
            str(ROOT),
            "--interleave",
            "--scenarios",
            "A",
            "--ladder",
            "3",
            "--runs",
            "2",
            "--plot",
            "",
        ],
        out,
        420,
    )
    assert list(doc["results"]) == ["ours-before", "ours", "ours-w2"]
    for server in ("ours-before", "ours", "ours-w2"):
        (step,) = doc["results"][server]["A"]
        assert step["n"] == 3 and len(step["runs"]) == 2 and "error" not in step, step.get("error")
        assert all(run["egress_pps"] > 0 and run["server"] == server for run in step["runs"])
        assert any(run["steady"] for run in step["runs"]), server  # all on the top layer (20 s at most)
        for run in step["runs"]:
            assert len(run["slices"]) >= 2 and all(x["egress_pps"] > 0 for x in run["slices"]), run["slices"]
    s = doc["summary"]  # a ratio when both sustained the step (a busy machine can fail a 3-subscriber step)
    if s["ours"].get("pps_per_core") and s["ours-before"].get("pps_per_core"):
        assert s["ours"]["over_ours_before"] == round(
            s["ours"]["pps_per_core"] / s["ours-before"]["pps_per_core"], 3
        )
    assert doc["config"]["ours_before"]["path"] == str(ROOT) and doc["config"]["interleave"]
    # the runs alternate between the servers
    order = [line.split()[1] for line in r.stdout.splitlines() if " A n=3 run " in line and "pps" in line]
    assert order == ["ours-before", "ours", "ours-w2"] * 2, order
