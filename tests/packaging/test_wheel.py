"""The wheel is the product: built from the git-tracked files, installed into a fresh virtual environment, its
`mediaserver serve` serves the pages, the static files and the browser SDK from the installed package.

Slow (marked ``slow``; 2.5 to 4 minutes): it compiles the native core and installs every runtime dependency
into a new environment. Deselect with ``-m "not slow"``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, stop_process
from tests.packaging.setup_py import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

# A file in a sub-folder of signaling/static that only the build copy has: sub-folders ship too.
PROBE = "signaling/static/packaging-probe/probe.js"
PROBE_TEXT = "export const probe = 'shipped in the wheel';\n"


def _run(cmd: list[str], timeout: float, **kw) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


def _clean_env() -> dict[str, str]:
    """The environment without anything that would point Python back at the checkout or configure the
    server."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV") and not k.startswith("MEDIASERVER_")
    }


def tracked_files() -> list[str]:
    """The files git tracks, as they are in the work tree (uncommitted edits included, deleted files left
    out)."""
    out = _run(["git", "ls-files", "-z"], 60, cwd=ROOT).stdout
    return [f for f in out.split("\0") if f and (ROOT / f).is_file()]


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Iterator[dict]:
    """A wheel built from a clean copy of the tracked files, and a venv (no system site) with it installed."""
    tmp = tmp_path_factory.mktemp("wheel")
    src, dist, venv = tmp / "src", tmp / "dist", tmp / "venv"
    files = tracked_files()
    for f in files:
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, src / f)
    (src / PROBE).parent.mkdir(parents=True, exist_ok=True)
    (src / PROBE).write_text(PROBE_TEXT)
    env = _clean_env()
    started = time.monotonic()
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--prefer-binary",
            "-q",
            "-w",
            str(dist),
            str(src),
        ],
        900,
        cwd=tmp,
        env=env,
    )
    built = time.monotonic()
    wheels = list(dist.glob("mediaserver-*.whl"))
    assert len(wheels) == 1, wheels
    _run([sys.executable, "-m", "venv", str(venv)], 120, cwd=tmp, env=env)
    _run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--prefer-binary", "-q", str(wheels[0])],
        900,
        cwd=tmp,
        env=env,
    )
    print(f"\nwheel built in {built - started:.0f} s, installed in {time.monotonic() - built:.0f} s")
    yield {"tmp": tmp, "src": src, "wheel": wheels[0], "venv": venv, "files": files, "env": env}


def _site_packages(venv: Path) -> Path:
    return venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def test_wheel_holds_every_tracked_package_file(build) -> None:
    """Every tracked file of mediaserver/ and signaling/ (pages, static files in sub-folders, the SDK, the
    migrations) and the compiled native core are in the wheel."""
    names = set(zipfile.ZipFile(build["wheel"]).namelist())
    wanted = {f for f in build["files"] if f.split("/")[0] in ("mediaserver", "signaling")} | {PROBE}
    assert {
        "signaling/sdk/mediaserver.js",
        "signaling/static/dashboard.html",
        "mediaserver/store/migrations/script.py.mako",
    } <= wanted
    assert not wanted - names, f"tracked but not in the wheel: {sorted(wanted - names)}"
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    assert f"native/_core{suffix}" in names
    # the test-only bindings and the load generator are built only with MEDIASERVER_BUILD_TESTING=1
    assert not {f"native/{m}{suffix}" for m in ("_srtp", "_bwe", "_units")} & names
    assert not [n for n in names if "_loadgen" in n]
    assert "native/__init__.py" in names


def test_installed_package_is_imported_from_the_venv(build) -> None:
    venv = build["venv"]
    code = (
        "import mediaserver, signaling, signaling.pages as p, native._core as c; "
        "print(mediaserver.__file__); print(signaling.__file__); print(p.SDK); print(c.__file__)"
    )
    out = _run(
        [str(venv / "bin" / "python"), "-c", code], 60, cwd=build["tmp"], env=build["env"]
    ).stdout.split()
    site = _site_packages(venv).resolve()
    assert len(out) == 4
    for path in out:
        assert Path(path).resolve().is_relative_to(site), (path, site)


def _get(url: str, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_serve_from_the_venv(build) -> None:
    """`<venv>/bin/mediaserver serve`, run outside the checkout, answers for the pages, a room, the SDK, the
    dashboard and the static files, all read from the installed package."""
    venv, tmp = build["venv"], build["tmp"]
    port = free_port()
    env = {
        **build["env"],
        "MEDIASERVER_HTTP_HOST": "127.0.0.1",
        "MEDIASERVER_HTTP_PORT": str(port),
        "MEDIASERVER_RTC_LISTEN_IP": "127.0.0.1",
        "MEDIASERVER_RTC_PORT": "0",
        "MEDIASERVER_DATA_DIR": str(tmp / "data"),
        "MEDIASERVER_SECRET": "wheel-secret-0123456789abcdefghijklmnop",
        "MEDIASERVER_API_KEY": "wheel-key-0123456789abcdefgh",
        "MEDIASERVER_OPEN_ROOM_CREATION": "false",
        "MEDIASERVER_LOG_JSON": "false",
    }
    base = f"http://127.0.0.1:{port}"
    log = tmp / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(venv / "bin" / "mediaserver"), "serve"],
            env=env,
            cwd=tmp,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "the server exited:\n" + log.read_text()
            try:
                if _get(base + "/healthz", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "no /healthz within 60 s:\n" + log.read_text()
            time.sleep(0.2)

        # The running process loaded the venv's native core, not the checkout's.
        site = _site_packages(venv).resolve()
        maps = [
            line.split()[-1]
            for line in Path(f"/proc/{proc.pid}/maps").read_text().splitlines()
            if "/native/_core" in line
        ]
        assert maps and all(Path(m).resolve().is_relative_to(site) for m in maps), maps

        req = urllib.request.Request(
            base + "/api/v1/rooms",
            data=b'{"name": "wheel"}',
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            urllib.request.urlopen(req, timeout=10)
            raise AssertionError("room created without the API key though open_room_creation is false")
        except urllib.error.HTTPError as e:
            assert e.code == 401
        req.add_header("Authorization", "Bearer wheel-key-0123456789abcdefgh")
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 201
            room = json.loads(r.read())

        for path in ("/", f"/room/{room['id']}", "/dashboard", "/demo"):
            status, headers, body = _get(base + path)
            assert status == 200, (path, status)
            assert headers["Content-Type"].startswith("text/html") and b"<html" in body.lower(), path

        status, headers, body = _get(base + "/openapi.json")
        assert status == 200 and json.loads(body)["openapi"].startswith("3.")

        src = build["src"]
        status, headers, body = _get(base + "/sdk/mediaserver.js")
        assert status == 200
        assert "javascript" in headers["Content-Type"], headers["Content-Type"]
        assert body == (src / "signaling/sdk/mediaserver.js").read_bytes()

        shipped = [f for f in build["files"] if f.startswith(("signaling/static/", "signaling/sdk/"))] + [
            PROBE
        ]
        for f in shipped:
            url = (
                "/static/" + f.removeprefix("signaling/static/")
                if f.startswith("signaling/static/")
                else "/sdk/" + f.removeprefix("signaling/sdk/")
            )
            status, _, body = _get(base + url)
            assert status == 200, (url, status)
            assert body == (src / f).read_bytes(), url
        assert proc.poll() is None, log.read_text()
    finally:
        stop_process(proc, 15)
