"""The many-nodes bench (``python -m bench.cluster``, issue 19), through its real command at a tiny size: it
starts its own redis-server, PostgreSQL and three nodes, puts one publisher on node-0 and two subscribers on
each node, measures a 2-second window, kills node-2 (consent_timeout 3 s, node_ttl 3 s) and stops everything.

Checked, from the command's JSON: every node's subscribers were measured (latency samples, a per-hop figure
for each edge); the owner relayed twice what the publisher sent (one link per edge, every packet once); each
edge mirrored both tracks; at most one keyframe request a second per layer reached the publisher; after the
kill the owner closed its link to the dead edge within the consent timeout, the registry dropped the node,
the other subscribers kept receiving, and the dead node's subscribers, moved as the SDK moves them, got video
again on another node."""

from __future__ import annotations

import glob
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


def _missing() -> str | None:
    if not (shutil.which("redis-server") or os.path.exists("/usr/bin/redis-server")):
        if os.environ.get("MEDIASERVER_REQUIRE_REDIS") == "1":
            pytest.fail("MEDIASERVER_REQUIRE_REDIS=1 but redis-server is not installed")
        return "redis-server is not installed (apt-get install redis-server)"
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        if os.environ.get("MEDIASERVER_REQUIRE_PG") == "1":
            pytest.fail("MEDIASERVER_REQUIRE_PG=1 but PostgreSQL's server programs are not installed")
        return "PostgreSQL's server programs are not installed (apt-get install postgresql)"
    return None


@pytest.mark.timeout(180)
def test_the_cluster_bench_measures_hops_amplification_and_a_killed_edge(tmp_path):
    why = _missing()
    if why:
        pytest.skip(why)
    out = tmp_path / "cluster.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.cluster",
            "--subscribers",
            "6",
            "--duration",
            "2",
            "--slices",
            "2",
            "--warmup",
            "1",
            "--steady-timeout",
            "5",
            "--consent-timeout",
            "3",
            "--node-ttl",
            "3",
            "--out",
            str(out),
        ],  # fmt: skip
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
        timeout=170,
        capture_output=True,
    )
    doc = json.loads(out.read_text())
    assert doc["subscribers_per_node"] == {"node-0": 2, "node-1": 2, "node-2": 2}
    w = doc["window"]
    assert [n["role"] for n in w["nodes"].values()] == ["owner", "edge", "edge"]
    for n in w["nodes"].values():
        assert n["latency_ms"]["samples"] > 0 and n["latency_ms"]["p99"] is not None, n
        assert n["received_packets_per_s"] > 0 and n["process_cpu"] is not None, n
    assert set(w["added_per_hop_ms"]) == {"node-1", "node-2"}
    for hop in w["added_per_hop_ms"].values():
        assert isinstance(hop["p50"], float) and isinstance(hop["p99"], float), hop
    assert len(doc["slices"]) == 2 and set(doc["medians_of_slices"]["added_per_hop_ms"]) == {
        "node-1",
        "node-2",
    }
    amp = w["amplification"]
    assert amp["published_packets"] > 0 and 1.8 <= amp["packets_ratio"] <= 2.2, amp
    assert set(amp["bytes_ratio_per_edge"]) == {"node-1", "node-2"}, amp
    for link in doc["links"].values():
        assert link["tracks"] == 2 and link["packets"] > 0, link
    kreq = {k["layer"]: k for k in doc["keyframe_requests"]}
    assert set(kreq) == {"q", "h", "f"} and all(k["max_in_1s"] <= 1 for k in kreq.values()), kreq
    fo = doc["failover"]
    assert fo["killed"] == "node-2"
    assert fo["owner_link_closed_after_s"] is not None and fo["owner_link_closed_after_s"] <= 3 + 1.5, fo
    assert fo["registry_dropped_it_after_s"] is not None, fo
    assert fo["survivors_received_packets"] > 0, fo
    rc = fo["reconnection"]  # node-2's subscribers, moved as the SDK moves them
    assert rc["to"] in ("node-0", "node-1") and rc["with_media"] == rc["with_video"] == 2, rc
    assert rc["first_video_ms"]["p95"] < 5000, rc
    assert set(doc["bar"]) >= {"added_p99_per_hop_under_1ms", "amplification_equals_edges"}
    assert set(doc["method"]) >= {"latency", "amplification", "failover"}
