"""Shared fixtures: a real server (in-process or as a subprocess) and aiortc peers on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.message
import email.policy
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import urllib.response
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# the servers' join-token secret and API key in the tests: long enough for the minimums of issue 14 finding 20
SECRET = "test-secret-of-the-test-suite-0123456789"
API_KEY = "test-key-of-the-test-suite-0123"


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Terminate a child process; kill it if it has not exited within ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def loopback_only_ice() -> None:
    """aioice leaves 127.0.0.1 out of its host candidates; tests run on loopback only."""
    import aioice.ice

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


@pytest.fixture
async def server(tmp_path):
    """The real application in this event loop, on free ports, with its own embedded database."""
    from aiohttp import web

    from mediaserver.app import build
    from mediaserver.config import Settings

    # one media worker: the tests that reach the media port or its counters reach that one's (the media
    # workers themselves are tested in tests/signaling/test_workers.py)
    settings = Settings(
        http_port=0, rtc_port=0, workers="1", secret=SECRET, api_key=API_KEY, data_dir=str(tmp_path / "data")
    ).finish()
    app = build(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)  # port 0: no race for a free port
    await site.start()
    port = runner.addresses[0][1]
    from signaling import keys

    served = {k.lower(): app[getattr(keys, k)] for k in ("SETTINGS", "ROOMS", "REGISTRY", "RESOURCES")}
    served["media"] = app[keys.MEDIA].first
    served.update(app=app, base_url=f"http://127.0.0.1:{port}")
    try:
        yield served
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def serve(
    data: Path,
    args: Sequence[str] = (),
    host: str = "127.0.0.1",
    prefix: Sequence[str] = (),
    **env: str,
) -> Iterator[tuple[str, subprocess.Popen, Path]]:
    """`mediaserver serve` (the installed command) in a process of its own, its data under ``data``, extra
    MEDIASERVER_* settings in ``env`` (e.g. MEDIASERVER_SMTP_PORT) and command-line ``args`` (a ``--port``
    there is the port, instead of MEDIASERVER_HTTP_PORT); yields (base URL, process, log file) once it
    accepts connections, and stops it after. ``host``: the address it listens on (HTTP and media) and is
    reached at; ``prefix``: a command it runs under (``ip netns exec NAME`` for a namespace's host)."""
    given = int(env.pop("MEDIASERVER_HTTP_PORT", 0))
    if "--port" in args:
        given = int(args[list(args).index("--port") + 1])
    data.mkdir(parents=True, exist_ok=True)
    log = data / "server.log"
    for attempt in range(3):  # a port chosen here may be taken before the server binds it: another, then
        port = given or free_port()
        full = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            **({} if "--port" in args else {"MEDIASERVER_HTTP_PORT": str(port)}),
            "MEDIASERVER_RTC_PORT": "0",
            "MEDIASERVER_DATA_DIR": str(data / "data"),
            "MEDIASERVER_LOG_JSON": "false",
            **(
                {}
                if host == "127.0.0.1"
                else {"MEDIASERVER_HTTP_HOST": host, "MEDIASERVER_RTC_LISTEN_IP": host}
            ),
            **env,
        }
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [*prefix, sys.executable, "-m", "mediaserver.cli", "serve", *args],
                env=full,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        if _ready(proc, host, port, bool(prefix)):
            break
        taken = "address already in use" in log.read_text()
        stop_process(proc)
        if given or not taken or attempt == 2:
            raise RuntimeError("server did not start: " + log.read_text())
    try:
        yield f"http://{host}:{port}", proc, log
    finally:
        stop_process(proc)


def _ready(proc: subprocess.Popen, host: str, port: int, prefixed: bool) -> bool:
    """Whether the server process listens on ``port`` within 30 s (False: it exited first, or never did).
    Another process may hold the port (it was free when chosen, and tests run on two workers): ready means
    this process listens there (not checked through a namespace's prefix)."""
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                pass
            if prefixed or _listens(proc.pid, port):
                return True
        except OSError:
            pass
        if proc.poll() is not None:
            return False
        time.sleep(0.1)
    return False


def _listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds a TCP socket listening on ``port`` (Linux: /proc/net/tcp and the
    process's file descriptors)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            f = row.split()
            if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{f[9]}]")
    if not inodes:
        return False
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                return True
        except OSError:
            continue
    return False


@contextlib.contextmanager
def serve_mailing(data: Path, smtp_port: int, args: Sequence[str] = (), **env: str) -> Iterator[str]:
    """:func:`serve` with its mail sent to the SMTP server on loopback ``smtp_port``; yields the base URL."""
    with serve(
        data, args, MEDIASERVER_SMTP_HOST="127.0.0.1", MEDIASERVER_SMTP_PORT=str(smtp_port), **env
    ) as (
        base,
        _proc,
        _log,
    ):
        yield base


def _post(base: str, path: str, body: dict) -> urllib.response.addinfourl:
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    return urllib.request.urlopen(
        urllib.request.Request(base + path, data=data, method="POST", headers=headers), timeout=30
    )


def activation_token(base: str, email: str, read_mail: Callable[[], str]) -> str:
    """Sign up ``email`` on the served server; the activation token the sign-up mails (issue 14 finding 22:
    the address is confirmed first). ``read_mail`` gives the text the mail is in: the SMTP mailbox's, or
    the server's log when it has no smtp_host."""
    _post(base, "/api/v1/signup", {"name": "Olga", "email": email}).close()
    end = time.time() + 20
    while not (found := re.search(rf"to {re.escape(email)}\b.*?#activate=([\w-]+)", read_mail(), re.S)):
        if time.time() > end:
            raise AssertionError(f"no activation mail to {email}")
        time.sleep(0.1)
    return found.group(1)


def mail_spool(data_dir: Path) -> Callable[[], str]:
    """A ``read_mail`` for :func:`activation_token` of a server without smtp_host: the mails it wrote into
    ``data_dir``/mail (issue 14 finding 12: not into its log), each as "to <address>" and its text."""

    def read() -> str:
        out = []
        for f in sorted((data_dir / "mail").glob("*.eml")):
            msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
            body = msg.get_body(("plain",))
            text = body.get_content() if isinstance(body, email.message.EmailMessage) else ""
            out.append(f"to {msg['To']}\n{text}\n")
        return "".join(out)

    return read


def signed_up(base: str, email: str, password: str, read_mail: Callable[[], str]) -> str:
    """:func:`activation_token`, then the activation that sets ``password``; the session cookie,
    "ms_session=..."."""
    token = activation_token(base, email, read_mail)
    with _post(base, "/api/v1/activate", {"token": token, "password": password}) as r:
        return str(r.headers["Set-Cookie"]).split(";")[0]


@pytest.fixture(scope="module")
def server_process(tmp_path_factory):
    """The installed `mediaserver serve` command in its own process."""
    with serve(
        tmp_path_factory.mktemp("server"),
        MEDIASERVER_SECRET=SECRET,
        MEDIASERVER_API_KEY=API_KEY,
        MEDIASERVER_LOG_JSON="true",
    ) as (base, proc, log):
        yield {"base_url": base, "proc": proc, "log": log}


def token(room: str, role: str = "presenter", name: str = "peer") -> str:
    from mediaserver.rtc import tokens

    return tokens.issue(SECRET, room, role, name, name)


async def wait_for(pred, timeout: float = 10.0, interval: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        await asyncio.sleep(interval)
    return pred()


REQUIRE_REDIS = os.environ.get("MEDIASERVER_REQUIRE_REDIS") == "1"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[str]:
    """A real Redis (Debian's ``redis-server``) on a free loopback port, with no disk persistence: its URL.
    Missing, the tests skip (a failure with MEDIASERVER_REQUIRE_REDIS=1, as in CI)."""
    import shutil

    binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )
    if binary is None:
        why = "redis-server is not installed (apt-get install redis-server)"
        if REQUIRE_REDIS:
            pytest.fail(f"MEDIASERVER_REQUIRE_REDIS=1 but {why}")
        pytest.skip(why)
    port = free_port()
    work = tmp_path_factory.mktemp("redis")
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        [binary, *args, "--dir", str(work)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_process(proc)
