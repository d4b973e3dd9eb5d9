"""schemathesis against the served OpenAPI document of a real `mediaserver serve`, on SQLite and PostgreSQL:
no request the document allows (or almost allows) may get a server error (5xx).

Left out: the two SDP operations (schemathesis has no application/sdp serializer; the SDP parser has its own
fuzz tests), and the two that would end the run's own credentials (revoking its API key, signing out).
SCHEMATHESIS_EXAMPLES and SCHEMATHESIS_SEED change the depth and the seed (a fixed seed keeps CI
repeatable; by default 30 cases per operation on SQLite, 15 under another seed on PostgreSQL).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import mail_spool, serve, signed_up

SKIPPED_OPS = ("whipCreate", "whepCreate", "delete_api_key", "logout")


def _post(url: str, body: dict, headers: dict[str, str] | None = None) -> tuple[dict, dict[str, str]]:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read()), dict(r.headers)


#: test cases per operation: on SQLite the full depth; on PostgreSQL, which the same handlers reach through
#: the same queries, half of it under another seed (CI time; new cases rather than the same ones again)
DEPTH = {"sqlite": ("30", "1"), "postgresql": ("15", "2")}


@pytest.fixture(params=["sqlite", "postgresql"])
def served(request, tmp_path):
    env = {"_depth": DEPTH[request.param]}
    if request.param == "postgresql":
        pg = request.getfixturevalue("pg_server")
        if pg is None:
            pytest.skip("PostgreSQL is not available here (MEDIASERVER_REQUIRE_PG=1 makes this a failure)")
        import asyncio
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            name = pool.submit(asyncio.run, pg.create_db()).result()
        env["MEDIASERVER_DATABASE_URL"] = pg.url(name)
    depth = env.pop("_depth")
    with serve(tmp_path, **env) as (base, _proc, log):
        yield base, log, depth


@pytest.mark.timeout(1000)  # the run itself may take up to 900 s; pytest's default is 300
def test_no_server_errors(served, tmp_path):
    base, log, (examples, seed) = served
    cookie = signed_up(base, "fuzz@example.test", "correct horse battery", mail_spool(log.parent / "data"))
    key, _ = _post(base + "/api/v1/api-keys", {"name": "schemathesis"}, {"Cookie": cookie})
    _post(
        base + "/api/v1/events",
        {"kind": "permanent", "name": "Seed"},
        {"Authorization": f"Bearer {key['key']}"},
    )
    exe = shutil.which("schemathesis") or str(Path(sys.executable).with_name("schemathesis"))
    cmd = [
        exe,
        "run",
        base + "/openapi.json",
        "--checks",
        "not_a_server_error",
        "--no-color",
        "-H",
        f"Authorization: Bearer {key['key']}",
        "--request-timeout",
        "30",
        "-n",
        os.environ.get("SCHEMATHESIS_EXAMPLES", examples),
        "--seed",
        os.environ.get("SCHEMATHESIS_SEED", seed),
    ]
    for op in SKIPPED_OPS:
        cmd += ["--exclude-operation-id", op]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    refused = (
        run.stdout.split("401 Unauthorized", 1)[1].split("\n\n", 1)[0]
        if "401 Unauthorized" in run.stdout
        else ""
    )
    assert "GET /api/v1/me" not in refused, "the run's API key did not work: " + refused  # it tested for real
    assert "Internal Server Error" not in log.read_text()
