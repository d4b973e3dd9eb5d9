"""The load tester (``mediaserver loadtest`` = ``python -m bench.loadtest``, issue 18 item 4) against a server
started separately, as a user runs it: ``mediaserver serve`` in a process of its own, in a network namespace
on a 10.x address (another host, as far as the tester can tell: no loopback, /metrics only with the
metrics_token), and the tester as a process here.

Checked: every subscriber joined and received, loss under 1%, latency sampled, the join times measured, the
progress line printed once a second, and the subscribers' count within 1% of the server's own counter of RTP
packets sent to subscribers over the same window (also read by the test before and after the run: the
window's count is inside it). Then an event's tokens through the API (the organiser's key), with Ctrl-C in the
measured window stopping the tester cleanly with its summary; and tokens given, without the metrics token."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import mail_spool, serve, signed_up
from tests.e2e import netns
from tests.native.testbuild import built_module

built_module("bench.loadgen._loadgen")

_why = netns.missing()
if _why and os.environ.get("MEDIASERVER_REQUIRE_TESTING_BUILD") == "1":
    raise RuntimeError(f"the load tester's tests cannot run: {_why}")  # CI: a failure, not a skip
pytestmark = pytest.mark.skipif(_why is not None, reason=f"load tester against another host: {_why}")

ROOT = Path(__file__).resolve().parents[2]
SECRET = "loadtest-secret-0123456789abcdefghijklmnop"
API_KEY = "loadtest-api-key-0123456789abcdef"
METRICS_TOKEN = "loadtest-metrics-token-0123456789"
PROGRESS = re.compile(
    r"^\[\s*[\d.]+ s\] (joining|warm-up|measure)\s+joined (\d+)/(\d+)\s+receiving (\d+)\s+rate "
)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """`mediaserver serve` in a namespace of its own; its base URL (http://10.x.y.2:port) and data_dir."""
    data = tmp_path_factory.mktemp("loadtest")
    with (
        netns.namespace() as host,
        serve(
            data,
            host=host.address,
            prefix=host.exec(),
            MEDIASERVER_SECRET=SECRET,
            MEDIASERVER_API_KEY=API_KEY,
            MEDIASERVER_METRICS_TOKEN=METRICS_TOKEN,
        ) as (base, _proc, _log),
    ):
        yield base, data / "data"


@pytest.fixture(scope="module")
def remote(served: tuple[str, Path]) -> str:
    return served[0]


def rtp_sent(base: str) -> float:
    req = urllib.request.Request(base + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        text = r.read().decode()
    m = re.search(r"^mediaserver_rtp_packets_sent_total (\S+)$", text, re.M)
    assert m, text[:500]
    return float(m.group(1))


def loadtest_cmd(base: str, room: str | None, out: Path, *args: str) -> list[str]:
    """`mediaserver loadtest` (the product's command, which runs bench/loadtest.py of this checkout)."""
    return [
        sys.executable,
        "-m",
        "mediaserver.cli",
        "loadtest",
        "--url",
        base,
        *(["--room", room] if room else []),
        "--clip",
        "synthetic",
        "--json",
        str(out),
        *args,
    ]


ENV = dict(os.environ, PYTHONPATH=str(ROOT))


@pytest.mark.timeout(120)
def test_loadtest_matches_the_servers_counters(remote, tmp_path):
    out = tmp_path / "lt.json"
    before = rtp_sent(remote)
    t0 = time.monotonic()
    r = subprocess.run(
        loadtest_cmd(
            remote,
            "loadtest-room",
            out,
            "--api-key",
            API_KEY,
            "--metrics-token",
            METRICS_TOKEN,
            "--publishers",
            "1",
            "--subscribers",
            "5",
            "--duration",
            "4",
        ),
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=90,
    )
    took = time.monotonic() - t0
    after = rtp_sent(remote)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    doc = json.loads(out.read_text())
    # the media went to the namespace's address, from this side's (no loopback anywhere)
    host = remote.split("//")[1].split(":")[0]
    assert host.startswith("10.") and doc["config"]["local_ip"].startswith(host.rsplit(".", 1)[0] + ".")
    assert doc["publishers_connected"] == 1
    assert doc["subscribers_joined"] == 5 and doc["subscribers_receiving"] == 5, doc["join_errors"]
    assert doc["join_errors"] == [] and not doc["interrupted"]
    assert all(doc["join_ms"][q] is not None and doc["join_ms"][q] > 0 for q in ("p50", "p95", "p99"))
    w = doc["window"]
    assert 3.5 < w["seconds"] < 6, w["seconds"]
    assert len(w["per_subscriber"]) == 5
    for s in w["per_subscriber"]:
        # every subscriber gets the top layer and the audio: about 260 packets/s of the synthetic clip
        assert s["packets_per_s"] > 150 and s["kbit_s"] > 1000, s
        assert s["loss_pct"] < 1, s
    assert w["loss_pct"] < 1 and w["decrypt_errors"] == 0
    assert 0 < w["loadgen_thread_cpu"] < 0.9  # the tester was not the limit
    lat = w["latency_ms"]
    assert lat["samples"] > 0.9 * w["received_packets"] and 0 < lat["p50"] <= lat["p95"] <= lat["p99"] < 200
    # the server's own count of RTP packets sent to subscribers, over the same window, within 1%
    srv = doc["server"]
    assert srv["available"], srv
    assert srv["rtp_packets_sent"] > 1000
    assert abs(srv["subscribers_received"] - srv["rtp_packets_sent"]) <= 0.01 * srv["rtp_packets_sent"], srv
    assert abs(srv["difference_pct"]) < 1
    assert abs(srv["subscribers_received"] - w["received_packets"]) <= 0.01 * w["received_packets"]
    # ... and that window is inside what the server sent during the whole run (read by the test itself)
    assert srv["rtp_packets_sent"] < after - before
    # the progress line, once a second, through every phase; then the summary table
    lines = [m for m in (PROGRESS.match(x) for x in r.stdout.splitlines()) if m]
    assert {m.group(1) for m in lines} >= {"warm-up", "measure"}, r.stdout[-2000:]
    assert sum(1 for m in lines if m.group(1) == "measure") >= 3
    assert lines[-1].group(2, 3, 4) == ("5", "5", "5")
    assert "server's /metrics:" in r.stdout and "latency (publisher send -> subscriber receive)" in r.stdout
    assert took < 60, took


def organiser_key(base: str, data_dir: Path) -> str:
    """A new organiser's API key (msk_...): sign-up, the e-mailed activation, POST /api/v1/api-keys."""
    cookie = signed_up(base, "olga-loadtest@example.test", "correct horse battery", mail_spool(data_dir))
    req = urllib.request.Request(
        base + "/api/v1/api-keys",
        data=json.dumps({"name": "loadtest"}).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Cookie": cookie},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return str(json.loads(r.read())["key"])


def api(base: str, method: str, path: str, key: str, body: Any = None) -> Any:
    req = urllib.request.Request(
        base + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


@pytest.mark.timeout(90)
def test_event_and_ctrl_c(served, tmp_path):
    """--event with the organiser's key: a scheduled event is started by the load test (the host's token from
    its start), the attendees' token comes from its public join. Ctrl-C in the measured window (of 60 s) ends
    the run at once, with the summary and the JSON."""
    base, data_dir = served
    key = organiser_key(base, data_dir)
    ev = api(
        base,
        "POST",
        "/api/v1/events",
        key,
        {"kind": "scheduled", "name": "Load", "startsAt": "2099-01-01T10:00:00Z"},
    )
    assert ev["status"] == "planned"
    out = tmp_path / "lt.json"
    cmd = loadtest_cmd(
        base,
        None,
        out,
        "--event",
        str(ev["id"]),
        "--api-key",
        key,
        "--metrics-token",
        METRICS_TOKEN,
        "--subscribers",
        "2",
        "--duration",
        "60",
    )
    p = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    try:
        assert p.stdout is not None
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            seen.append(line)
            if (m := PROGRESS.match(line)) and m.group(1) == "measure":
                break
        assert any((m := PROGRESS.match(x)) and m.group(1) == "measure" for x in seen), "".join(seen)[-2000:]
        t_int = time.monotonic()
        p.send_signal(signal.SIGINT)
        rest, _ = p.communicate(timeout=30)
        stopped_in = time.monotonic() - t_int
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
    assert p.returncode == 130, rest[-2000:]
    assert stopped_in < 15, stopped_in
    assert "stopping (Ctrl-C): the summary follows" in rest and "(interrupted)" in rest
    assert f"room {ev['roomId']}" in "".join(seen) and "started by the load test" in "".join(seen)
    assert api(base, "GET", f"/api/v1/events/{ev['id']}", key)["status"] == "live"
    doc = json.loads(out.read_text())
    assert doc["config"]["room"] == ev["roomId"]
    assert doc["interrupted"] and doc["subscribers_receiving"] == 2
    assert 0 < doc["window"]["seconds"] < 10 and doc["window"]["received_packets"] > 0
    assert doc["server"]["available"] and abs(doc["server"]["difference_pct"]) < 1


@pytest.mark.timeout(60)
def test_given_tokens_and_no_metrics_token(remote, tmp_path):
    """Tokens from `mediaserver token` (the server's secret). Without the metrics token the server's /metrics
    answers 401: the summary says the comparison is missing, and why."""

    def token(role: str) -> str:
        cmd = [sys.executable, "-m", "mediaserver.cli", "token", "--room", "given", "--role", role]
        env = dict(ENV, MEDIASERVER_SECRET=SECRET, MEDIASERVER_DATA_DIR=str(tmp_path / "data"))
        return subprocess.run(
            cmd, env=env, capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()

    out = tmp_path / "lt.json"
    cmd = loadtest_cmd(
        remote,
        "given",
        out,
        "--token",
        token("host"),
        "--attendee-token",
        token("attendee"),
        "--subscribers",
        "1",
        "--duration",
        "1",
        "--warmup",
        "0",
        "--steady-timeout",
        "0",
    )
    r = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=50)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["subscribers_receiving"] == 1 and doc["window"]["received_packets"] > 0
    assert not doc["server"]["available"] and "answered 401" in doc["server"]["why"]
    assert "--metrics-token" in doc["server"]["why"] and "server's /metrics: not compared" in r.stdout


def test_installed_without_bench_says_where_the_tester_is(tmp_path):
    """An installed package has no bench/ (setup.py packages mediaserver, signaling and native): `mediaserver
    loadtest` says it runs from a source checkout, and how, instead of failing on an import."""
    import shutil

    shutil.copytree(
        ROOT / "mediaserver", tmp_path / "mediaserver", ignore=shutil.ignore_patterns("__pycache__")
    )
    r = subprocess.run(
        [sys.executable, "-m", "mediaserver.cli", "loadtest", "--url", "http://127.0.0.1:1", "--room", "r"],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2, r.stdout + r.stderr
    assert "source checkout" in r.stderr and "MEDIASERVER_BUILD_TESTING=1" in r.stderr
