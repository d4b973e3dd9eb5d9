"""The file library across nodes (issue 19): the nodes share `files_dir` (a directory every node mounts), so
a file uploaded through one node is read through another, and a tus upload begun on one node is finished on
another; nodes whose `files_dir` is not shared say so (`filesShared: false` in `GET /api/v1/cluster/nodes`).
Two `mediaserver serve` nodes on 127.0.0.2-3 with a real Redis and one PostgreSQL database."""

from __future__ import annotations

import base64
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

from tests.api.test_cluster_nodes import nodes_seen, until
from tests.cluster_nodes import cluster
from tests.conftest import mail_spool
from tests.e2e.test_room_access import Organiser

# timing bars (within seconds): CI runs this file with no other test beside it
pytestmark = pytest.mark.alone


def send(base: str, cookie: str, method: str, path: str, data: bytes | None, **headers: str) -> Any:
    """One request to ``base`` as the organiser (their session cookie: it is the database's, any node's)."""
    req = urllib.request.Request(base + path, data=data, method=method, headers={"Cookie": cookie, **headers})
    try:
        return urllib.request.urlopen(req, timeout=30)
    except urllib.error.HTTPError as e:
        raise AssertionError(f"{method} {path}: {e.code} {e.read()[:300]!r}") from None


def shared(base: str, other: str) -> Any:
    return next(n["filesShared"] for n in nodes_seen(base)["nodes"] if n["nodeId"] == other)


def test_a_file_uploaded_through_one_node_is_read_through_another(
    tmp_path, redis_server, pg_server, pg_template
):
    if pg_server is None:
        pytest.skip("PostgreSQL is not available here (MEDIASERVER_REQUIRE_PG=1 makes this a failure)")
    data = os.urandom(300_000)
    with cluster(tmp_path, redis_server, pg_server, count=2, MEDIASERVER_NODE_TTL="2") as nodes:
        one, two = (base for base, _, _ in nodes)
        org = Organiser(two, mail_spool(tmp_path / "n1" / "data"))
        jar = next(
            h.cookiejar for h in org.opener.handlers if isinstance(h, urllib.request.HTTPCookieProcessor)
        )
        cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
        assert cookie, "no session cookie"
        # a tus upload begun on node-1 and finished on node-0
        meta = f"filename {base64.b64encode(b'slides.mp4').decode()}"
        tus = {"Tus-Resumable": "1.0.0"}
        with send(
            two,
            cookie,
            "POST",
            "/api/v1/uploads",
            b"",
            **tus,
            **{"Upload-Length": str(len(data))},
            **{"Upload-Metadata": meta},
        ) as r:
            location = urllib.parse.urlsplit(r.headers["Location"]).path
        patch = {**tus, "Content-Type": "application/offset+octet-stream"}
        with send(two, cookie, "PATCH", location, data[:100_000], **patch, **{"Upload-Offset": "0"}) as r:
            assert r.status == 204
        with send(one, cookie, "HEAD", location, None, **tus) as r:
            assert r.headers["Upload-Offset"] == "100000"
        with send(
            one, cookie, "PATCH", location, data[100_000:], **patch, **{"Upload-Offset": "100000"}
        ) as r:
            assert r.status == 204
        files = org.call("GET", "/api/v1/files", None, 200)["items"]
        (f,) = [x for x in files if x["name"] == "slides.mp4"]
        with send(one, cookie, "GET", f"/api/v1/files/{f['id']}/content", None) as r:
            assert r.read() == data  # read through node-0, byte for byte
        assert until(lambda: shared(one, "node-1") is True and shared(two, "node-0") is True, 5) < 5
        assert shared(one, "node-0") is None  # itself

    # two nodes each with a files_dir of its own: each says the other's files are not seen
    own = [{"MEDIASERVER_FILES_DIR": str(tmp_path / f"own{i}")} for i in range(2)]
    with cluster(tmp_path / "apart", redis_server, pg_server, count=2, each=own) as nodes:
        one, two = (base for base, _, _ in nodes)
        until(lambda: len(nodes_seen(one)["nodes"]) == 2, 5)
        assert shared(one, "node-1") is False and shared(two, "node-0") is False
