"""Nodes of a cluster for the tests (issue 19): `mediaserver serve` processes on 127.0.0.2, .3, .4 ... sharing
a real Redis and one PostgreSQL database, started together (so that they also migrate the empty database at
once: one does, under a lock)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.conftest import API_KEY, SECRET, serve

HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
SEALING_KEY = "sEaLiNgKeYoFtHeClUsTeRtEsTs0123456789abcdef="


@contextlib.contextmanager
def cluster(
    tmp_path: Path,
    redis_url: str,
    pg_server,
    count: int = 3,
    db: str | None = None,
    each: Sequence[dict[str, str]] = (),
    **env: str,
) -> Iterator[list[tuple[str, subprocess.Popen, Path]]]:
    """``count`` nodes ``node-0`` ... on HOSTS, each as (base URL, process, log file); stopped after. ``db``:
    the database's URL (made on ``pg_server`` when not given; an async test makes it in its own loop);
    ``each[i]``: settings of node i only (over the common ones)."""
    db = db or pg_server.url(asyncio.run(pg_server.create_db()))
    common = {
        "MEDIASERVER_CLUSTER_REDIS_URL": redis_url,
        "MEDIASERVER_DATABASE_URL": db,
        "MEDIASERVER_SECRET": SECRET,
        "MEDIASERVER_API_KEY": API_KEY,
        "MEDIASERVER_WORKERS": "1",
        "MEDIASERVER_SEALING_KEY": SEALING_KEY,  # one for all: each opens what another sealed
        "MEDIASERVER_FILES_DIR": str(tmp_path / "files"),  # one for all, as a cluster needs (a shared mount)
        **env,
    }
    with contextlib.ExitStack() as stack:
        starting = [
            serve(
                tmp_path / f"n{i}",
                host=h,
                MEDIASERVER_NODE_ID=f"node-{i}",
                **{**common, **(each[i] if i < len(each) else {})},
            )
            for i, h in enumerate(HOSTS[:count])
        ]
        with concurrent.futures.ThreadPoolExecutor(count) as pool:
            entered = [pool.submit(ctx.__enter__) for ctx in starting]
            for ctx in starting:
                stack.push(ctx.__exit__)
            yield [f.result() for f in entered]
