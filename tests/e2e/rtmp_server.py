"""A real RTMP service for the live-streaming tests (R-REC-6): Debian's nginx with its RTMP module
(libnginx-mod-rtmp), started on 127.0.0.1 with a throwaway configuration, and a PyAV player that reads a
stream back from it.

Missing nginx or module: the tests skip, unless MEDIASERVER_REQUIRE_RTMP=1 (CI sets it) makes that a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.conftest import free_port, stop_process

MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

CONF = """load_module {module};
daemon off;
master_process off;
worker_processes 1;
error_log {dir}/error.log info;
pid {dir}/nginx.pid;
events {{ worker_connections 64; }}
rtmp {{
  server {{
    listen 127.0.0.1:{port};
    chunk_size 4096;
    application live {{ live on; record off; }}
  }}
}}
"""


def available() -> bool:
    ok = shutil.which("nginx") is not None and os.path.exists(MODULE)
    if not ok and os.environ.get("MEDIASERVER_REQUIRE_RTMP") == "1":
        pytest.fail("nginx with the RTMP module is required here (apt-get install nginx libnginx-mod-rtmp)")
    return ok


@contextlib.contextmanager
def rtmp_server(workdir: Path) -> Iterator[int]:
    """nginx-rtmp on a free loopback port; yields the port."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(CONF.format(module=MODULE, dir=workdir, port=port))
    proc = subprocess.Popen(
        ["nginx", "-c", str(conf), "-p", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "stderr.log", "wb"),
    )
    try:
        end = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError(
                    "nginx-rtmp did not start: "
                    + (workdir / "stderr.log").read_text()
                    + (workdir / "error.log").read_text()
                )
            time.sleep(0.05)
        yield port
    finally:
        stop_process(proc, 5)


class Player(threading.Thread):
    """Plays rtmp://127.0.0.1:port/live/KEY with PyAV for ``seconds`` and keeps what it decoded."""

    def __init__(self, url: str, seconds: float) -> None:
        super().__init__(daemon=True)
        self.url, self.seconds = url, seconds
        self.codecs: dict[str, str] = {}
        self.video = 0
        self.audio = 0
        self.sizes: set[tuple[int, int]] = set()
        self.means: list[float] = []  # mean brightness (luma) of each picture
        self.pcm: list[Any] = []
        self.error: str | None = None

    def run(self) -> None:
        try:
            with av.open(self.url, timeout=(10, 5)) as c:
                self.codecs = {s.type: s.codec_context.name for s in c.streams}
                end = time.monotonic() + self.seconds
                for f in c.decode(*c.streams):
                    if isinstance(f, av.VideoFrame):
                        self.video += 1
                        self.sizes.add((f.width, f.height))
                        self.means.append(float(f.to_ndarray(format="gray").mean()))
                    else:
                        self.audio += 1
                        self.pcm.append(f.to_ndarray().astype(np.float64).ravel())
                    if time.monotonic() > end:
                        return
        except Exception as e:  # the stream ended, or nothing came
            self.error = f"{type(e).__name__}: {e}"

    def rms(self) -> float:
        return float(np.sqrt(np.mean(np.concatenate(self.pcm) ** 2))) if self.pcm else 0.0
