"""Three `mediaserver serve` processes on 127.0.0.2-4 as one cluster (issue 19): a real Redis and one
PostgreSQL database shared, each node registered with its address and load, seen by the others through
GET /api/v1/cluster/nodes; the rate limits hold across nodes; a node killed drops out within its ttl, one
stopped leaves at once. Also: the
settings refuse a cluster on SQLite or without a shared secret, and one server alone answers for itself."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

from mediaserver.config import ConfigError, Settings
from tests.cluster_nodes import SEALING_KEY, cluster
from tests.conftest import API_KEY, SECRET, serve

# timing bars (latency under load, failover within seconds): CI runs this file with no other test beside it
pytestmark = pytest.mark.alone

TTL = 2.0


def nodes_seen(base: str) -> dict[str, Any]:
    req = urllib.request.Request(
        base + "/api/v1/cluster/nodes", headers={"Authorization": f"Bearer {API_KEY}"}
    )
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def wrong_key(base: str) -> int:
    """A request with a wrong API key, from 127.0.0.5 (its own budget: the test's good requests come from
    127.0.0.1, and a used-up budget refuses even the right key from that address for a while)."""
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5, source_address=("127.0.0.5", 0))
    try:
        conn.request("GET", "/api/v1/cluster/nodes", headers={"Authorization": "Bearer wrong-key"})
        return conn.getresponse().status
    finally:
        conn.close()


def until(pred, timeout: float) -> float:
    """Seconds until ``pred()`` held (polled every 50 ms); fails after ``timeout``."""
    start = time.monotonic()
    while not pred():
        assert time.monotonic() - start < timeout, "not within the time"
        time.sleep(0.05)
    return time.monotonic() - start


def test_three_nodes_see_each_other_and_one_that_dies_drops_out(
    tmp_path, redis_server, pg_server, pg_template
):
    if pg_server is None:
        pytest.skip("PostgreSQL is not available here (MEDIASERVER_REQUIRE_PG=1 makes this a failure)")
    with cluster(
        tmp_path,
        redis_server,
        pg_server,
        MEDIASERVER_NODE_TTL=str(TTL),
        MEDIASERVER_RATE_LIMIT_LOGIN="3/minute",  # wrong API keys count there
    ) as nodes:
        bases = [base for base, _, _ in nodes]
        for i, base in enumerate(bases):
            seen = nodes_seen(base)
            assert seen["mode"] == "cluster"
            assert [(n["nodeId"], n["address"], n["isSelf"]) for n in seen["nodes"]] == [
                (f"node-{j}", bases[j], j == i) for j in range(3)
            ]
            assert all(0 <= n["load"] < 2 and n["participants"] == 0 for n in seen["nodes"])
        # the budgets hold across the nodes (counted in the cluster's Redis): three wrong API keys on node-0,
        # and the fourth, on node-1, is refused as over the budget
        assert [wrong_key(bases[0]) for _ in range(3)] == [401, 401, 401]
        assert wrong_key(bases[1]) == 429
        # node-2 dies (no clean stop): the others stop listing it once its key expires
        nodes[2][1].kill()
        took = until(lambda: len(nodes_seen(bases[0])["nodes"]) == 2, TTL + 3)
        assert took > 0.3  # its key outlived it for a while: it was not removed by anyone
        assert [n["nodeId"] for n in nodes_seen(bases[1])["nodes"]] == ["node-0", "node-1"]
        # node-1 stops cleanly: it leaves at once
        nodes[1][1].terminate()
        nodes[1][1].wait(20)
        assert until(lambda: len(nodes_seen(bases[0])["nodes"]) == 1, 1.0) < 1.0
        assert "cluster node node-1 left" in nodes[1][2].read_text()


def test_a_server_alone_answers_for_itself(tmp_path):
    with serve(tmp_path, MEDIASERVER_API_KEY=API_KEY, MEDIASERVER_SECRET=SECRET) as (base, _, _):
        seen = nodes_seen(base)
        req = urllib.request.Request(base + "/api/v1/cluster/nodes")
        with pytest.raises(urllib.error.HTTPError) as e:  # the server's API key only
            urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 401
    assert seen["mode"] == "single"
    assert [(n["address"], n["isSelf"]) for n in seen["nodes"]] == [(base, True)]


def test_a_cluster_needs_a_shared_database_secret_and_sealing_key(tmp_path):
    common = {"cluster_redis_url": "redis://127.0.0.1:6379", "data_dir": str(tmp_path)}
    with pytest.raises(ConfigError, match="PostgreSQL"):
        Settings(secret=SECRET, api_key=API_KEY, **common).finish()
    pg = "postgresql+asyncpg://u@127.0.0.1/db"
    with pytest.raises(ConfigError, match="same 'secret'"):
        Settings(database_url=pg, **common).finish()
    with pytest.raises(ConfigError, match="redis://"):
        Settings(
            secret=SECRET, api_key=API_KEY, database_url=pg, **dict(common, cluster_redis_url="http://x")
        ).finish()
    with pytest.raises(ConfigError, match="node_id"):
        Settings(node_id="a|b", data_dir=str(tmp_path)).finish()
    with pytest.raises(ConfigError, match="same 'sealing_key'"):  # each node opens what another sealed
        Settings(secret=SECRET, api_key=API_KEY, database_url=pg, **common).finish()
    with pytest.raises(ConfigError, match="Fernet key"):
        Settings(secret=SECRET, api_key=API_KEY, database_url=pg, sealing_key="not-a-key", **common).finish()
    s = Settings(
        secret=SECRET, api_key=API_KEY, database_url=pg, node_id="n1", sealing_key=SEALING_KEY, **common
    ).finish()
    assert (s.node_id, s.node_url) == ("n1", s.public_url)
