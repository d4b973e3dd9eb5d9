"""HTTPS in front of the server (issue 15): browsers give the camera and microphone only to secure origins, so
a server on the internet sits behind a reverse proxy that terminates TLS. This starts Debian's nginx with the
documented configuration (configs/nginx-tls.conf, the example of docs/operations.md, "TLS in front (HTTPS)")
and a self-signed certificate in front of `mediaserver serve`, and Caddy with configs/Caddyfile, and checks
through them what a browser and an API client need: the room page over https:// joined and publishing from
Chromium's fake camera, its WebSocket over wss://, a WHEP viewer decoding the video through the proxy, https
Locations, per-client budgets behind the proxy, and /metrics not exposed through it.

The site is https://webinar.test (Chromium maps the name to 127.0.0.1 and trusts the test certificate by its
key), not 127.0.0.1: loopback origins count as secure even over http, webinar.test does not.

Missing nginx or Caddy: the tests skip, unless MEDIASERVER_REQUIRE_TLS_PROXIES=1 (CI sets it) makes that a
failure.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import hashlib
import http.client
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import pytest
from aiortc import RTCSessionDescription
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mediaserver.config import load
from tests.conftest import API_KEY, ROOT, SECRET, free_port, mail_spool, serve, signed_up, stop_process, token
from tests.e2e import browser
from tests.e2e.peers import count_frames, pc
from tests.e2e.test_room_page import join_form, room_state, room_stats, wait_state

# media or timing bars (frames decoded, sync, loss, bitrates): CI runs this file with no other test beside it
pytestmark = pytest.mark.alone

NGINX_CONF = ROOT / "configs" / "nginx-tls.conf"
CADDYFILE = ROOT / "configs" / "Caddyfile"
SITE = "webinar.test"  # a name, not a loopback address: only https makes it a secure origin


def _require(program: str, package: str) -> str | None:
    """Why ``program`` cannot run here (a failure instead under MEDIASERVER_REQUIRE_TLS_PROXIES=1)."""
    if shutil.which(program) or os.access(f"/usr/sbin/{program}", os.X_OK):
        return None
    why = f"{program} is not installed (apt-get install {package})"
    if os.environ.get("MEDIASERVER_REQUIRE_TLS_PROXIES") == "1":
        pytest.fail(why)
    return why


# ---------- the test certificate ----------


def certificate(workdir: Path) -> tuple[Path, Path, str]:
    """A self-signed certificate for webinar.test, localhost and 127.0.0.1: (certificate file, key file, the
    base64 SHA-256 of its public key, which Chromium's --ignore-certificate-errors-spki-list takes)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SITE)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName(SITE),
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = workdir / "cert.pem", workdir / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return cert_file, key_file, base64.b64encode(hashlib.sha256(spki).digest()).decode()


# ---------- the proxies, from the documented configurations ----------


def substitute(text: str, changes: dict[str, str]) -> str:
    """The documented configuration with this test's names, ports and paths; every line the test changes
    must be in it (the example and the test stay one file)."""
    for old, new in changes.items():
        assert old in text, f"the documented configuration no longer has {old!r}"
        text = text.replace(old, new)
    return text


def wait_port(port: int, proc: subprocess.Popen, what: str, logs: list[Path]) -> None:
    end = time.monotonic() + 15
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        if proc.poll() is not None or time.monotonic() > end:
            raise RuntimeError(f"{what} did not start: " + "".join(p.read_text() for p in logs if p.exists()))
        time.sleep(0.05)


@contextlib.contextmanager
def nginx(workdir: Path, port: int, upstream: int, cert: Path, key: Path) -> Iterator[Path]:
    """Debian's nginx in the foreground with configs/nginx-tls.conf on 127.0.0.1:``port``; yields the access
    log."""
    workdir.mkdir(parents=True, exist_ok=True)
    site = substitute(
        NGINX_CONF.read_text(),
        {
            "listen 443 ssl;": f"listen 127.0.0.1:{port} ssl;",
            "server_name webinar.example.org;": f"server_name {SITE};",
            "/etc/letsencrypt/live/webinar.example.org/fullchain.pem": str(cert),
            "/etc/letsencrypt/live/webinar.example.org/privkey.pem": str(key),
            "proxy_pass http://127.0.0.1:8080;": f"proxy_pass http://127.0.0.1:{upstream};",
        },
    )
    (workdir / "site.conf").write_text(site)
    temp = " ".join(f"{kind}_temp_path {workdir}/{kind};" for kind in ("client_body", "proxy", "fastcgi"))
    (workdir / "nginx.conf").write_text(
        f"daemon off;\nmaster_process off;\nworker_processes 1;\nerror_log {workdir}/error.log info;\n"
        f"pid {workdir}/nginx.pid;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n  access_log {workdir}/access.log;\n  {temp}\n  uwsgi_temp_path {workdir}/uwsgi; "
        f"scgi_temp_path {workdir}/scgi;\n  include {workdir}/site.conf;\n}}\n"
    )
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    with open(workdir / "stderr.log", "wb") as err:
        proc = subprocess.Popen(
            [exe, "-c", str(workdir / "nginx.conf"), "-p", str(workdir)],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        wait_port(port, proc, "nginx", [workdir / "stderr.log", workdir / "error.log"])
        yield workdir / "access.log"
    finally:
        stop_process(proc, 5)


@contextlib.contextmanager
def caddy(workdir: Path, port: int, upstream: int, cert: Path, key: Path) -> Iterator[None]:
    """Caddy in the foreground with configs/Caddyfile on 127.0.0.1:``port`` (its admin API off, its state in
    ``workdir``, the test certificate instead of one from an ACME CA)."""
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HOME": str(workdir), "XDG_DATA_HOME": str(workdir), "XDG_CONFIG_HOME": str(workdir)}
    exe = shutil.which("caddy") or "/usr/bin/caddy"
    # the documented file as it is parses (caddy adapt reads it without starting anything)
    adapted = subprocess.run(
        [exe, "adapt", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert adapted.returncode == 0 and "reverse_proxy" in adapted.stdout, adapted.stderr
    text = substitute(
        CADDYFILE.read_text(),
        {
            "webinar.example.org {": f"{SITE}:{port} {{\n\tbind 127.0.0.1\n\ttls {cert} {key}",
            "reverse_proxy 127.0.0.1:8080": f"reverse_proxy 127.0.0.1:{upstream}",
        },
    )
    (workdir / "Caddyfile").write_text("{\n\tadmin off\n\tauto_https disable_redirects\n}\n\n" + text)
    with open(workdir / "stderr.log", "wb") as err:
        proc = subprocess.Popen(
            [exe, "run", "--config", str(workdir / "Caddyfile"), "--adapter", "caddyfile"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        wait_port(port, proc, "caddy", [workdir / "stderr.log"])
        yield
    finally:
        stop_process(proc, 5)


# ---------- the server behind them ----------


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """`mediaserver serve` with the settings docs/operations.md gives for a proxy in front (public_url,
    trusted_proxies), and nginx on its https port."""
    why = _require("nginx", "nginx")
    if why:
        pytest.skip(why)
    tmp = tmp_path_factory.mktemp("https")
    cert, key, spki = certificate(tmp)
    tls_port = free_port()
    with serve(
        tmp / "server",
        MEDIASERVER_SECRET=SECRET,
        MEDIASERVER_API_KEY=API_KEY,
        MEDIASERVER_PUBLIC_URL=f"https://{SITE}:{tls_port}",
        MEDIASERVER_TRUSTED_PROXIES="127.0.0.1",
        # behind a proxy room creation needs the API key unless opened (config.Settings.finish): opened
        # here, with a budget of 2 rooms a minute per client, to show whom the budget counts
        MEDIASERVER_OPEN_ROOM_CREATION="true",
        MEDIASERVER_ROOM_CREATION_RATE="2",
    ) as (base, _proc, log):
        port = int(base.rsplit(":", 1)[1])
        with nginx(tmp / "nginx", tls_port, port, cert, key) as access_log:
            yield {
                "direct": base,
                "port": port,
                "tls_port": tls_port,
                "https": f"https://{SITE}:{tls_port}",
                "cert": cert,
                "key": key,
                "spki": spki,
                "access_log": access_log,
                "data": tmp / "server" / "data",
                "tmp": tmp,
                "log": log,
            }


def request(
    port: int,
    method: str,
    path: str,
    *,
    tls: Path | None = None,
    source: str = "127.0.0.1",
    host: str | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request to 127.0.0.1:``port`` from the loopback address ``source`` (a client of its own for the
    budgets), over TLS trusting the certificate ``tls``, with Host ``host``; (status, headers, body)."""
    if tls is not None:
        ctx = ssl.create_default_context(cafile=str(tls))
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            "127.0.0.1", port, context=ctx, timeout=10, source_address=(source, 0)
        )
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers={"Host": host or f"{SITE}:{port}", **(headers or {})})
        r = conn.getresponse()
        return r.status, {k: v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def create_room(site: dict[str, Any], source: str, via_proxy: bool = True, **headers: str) -> int:
    """POST /api/v1/rooms without the API key from ``source``: its status."""
    port, tls = (site["tls_port"], site["cert"]) if via_proxy else (site["port"], None)
    status, _, _ = request(
        port,
        "POST",
        "/api/v1/rooms",
        tls=tls,
        source=source,
        headers={"Content-Type": "application/json", **headers},
        body=b"{}",
    )
    return status


@pytest.fixture(scope="module")
def cookie(site) -> str:
    """A signed-in organiser's session cookie (signed up straight at the server)."""
    return signed_up(site["direct"], "tls@example.org", "correct horse battery", mail_spool(site["data"]))


def tus_create(
    site: dict[str, Any], port: int, cookie: str, tls: bool = True, source: str = "127.0.0.1", **headers: str
) -> tuple[int, dict[str, str], bytes]:
    """POST /api/v1/uploads (tus creation) of a 1.5 MB notes.pdf with the session ``cookie`` and the Origin
    of the Host it names."""
    host = f"{SITE}:{port}" if tls else f"127.0.0.1:{port}"
    return request(
        port,
        "POST",
        "/api/v1/uploads",
        tls=site["cert"] if tls else None,
        source=source,
        host=host,
        headers={
            "Tus-Resumable": "1.0.0",
            "Cookie": cookie,
            "Origin": f"{'https' if tls else 'http'}://{host}",
            "Upload-Length": str(UPLOAD),
            "Upload-Metadata": "filename " + base64.b64encode(b"notes.pdf").decode(),
            **headers,
        },
    )


UPLOAD = 1536 * 1024  # over nginx's default client_max_body_size (1 MB)


# ---------- tests ----------


def test_the_docs_show_the_tested_configurations(tmp_path):
    """docs/operations.md ("TLS in front (HTTPS)") shows the nginx site and the Caddyfile that these tests
    run, as they are in configs/ (below their header comments), and server settings that load."""
    doc = (ROOT / "docs" / "operations.md").read_text()
    for conf, first in ((NGINX_CONF, "map $http_upgrade"), (CADDYFILE, "webinar.example.org {")):
        text = conf.read_text()
        assert first in text, conf
        assert text[text.index(first) :].strip() in doc, f"docs/operations.md does not show {conf} as it is"
    # the server's settings it gives load, and are what the server behind these proxies runs with
    section = doc[doc.index("## TLS in front (HTTPS)") :]
    block = section[section.index("```yaml\n") + 8 : section.index("```", section.index("```yaml\n") + 8)]
    (tmp_path / "settings.yaml").write_text(block)
    settings = load(str(tmp_path / "settings.yaml"), env={})
    assert settings.public_url == "https://webinar.example.org" and settings.trusted_proxies == ["127.0.0.1"]
    assert settings.open_room_creation is False  # behind a proxy: the API key, unless opened


@pytest.mark.timeout(60)
def test_the_proxy_passes_who_and_how_and_keeps_metrics_in(site, cookie):
    """Behind nginx (trusted_proxies: 127.0.0.1) the budgets count per client, not per proxy: room creation
    (2 a minute here) from 127.0.0.2 is refused at the third room, while 127.0.0.3 through the same proxy
    still creates one; a forged X-Forwarded-For is no way around it, through the proxy (nginx appends the
    real peer) or straight to the server (its peer is no trusted proxy). /metrics refuses what the proxy
    relays, though its peer is loopback. A tus upload created over https gets an https Location (the
    proxy's X-Forwarded-Proto, honoured from trusted proxies only), the page's Origin passes the CSRF check
    and a body over nginx's default 1 MB limit goes through (client_max_body_size)."""
    assert [create_room(site, "127.0.0.2") for _ in range(3)] == [201, 201, 429]
    assert create_room(site, "127.0.0.3") == 201  # another client behind the same proxy
    assert create_room(site, "127.0.0.2", **{"X-Forwarded-For": "198.51.100.7"}) == 429
    assert create_room(site, "127.0.0.2", via_proxy=False, **{"X-Forwarded-For": "198.51.100.8"}) == 429

    # /metrics: for this machine only, and nothing relayed by the proxy is "this machine"
    status, _, body = request(site["tls_port"], "GET", "/metrics", tls=site["cert"])
    assert status == 403 and json.loads(body)["error"]["code"] == "forbidden", body
    status, _, body = request(site["port"], "GET", "/metrics", host=f"127.0.0.1:{site['port']}")
    assert status == 200 and b"mediaserver_packets_total" in body

    # a signed-in upload through the proxy, as the dashboard's page would make it
    status, headers, body = tus_create(site, site["tls_port"], cookie)
    assert status == 201, (status, body)
    location = headers["Location"]
    assert location.startswith(f"{site['https']}/api/v1/uploads/"), location
    status, headers, body = request(
        site["tls_port"],
        "PATCH",
        urlsplit(location).path,
        tls=site["cert"],
        headers={
            "Tus-Resumable": "1.0.0",
            "Cookie": cookie,
            "Origin": site["https"],
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        },
        body=b"%PDF-1.4\n" + b"x" * (UPLOAD - 9),
    )
    assert status == 204 and headers["Upload-Offset"] == str(UPLOAD), (status, body)

    # straight to the server, X-Forwarded-Proto from an untrusted peer (127.0.0.2) changes nothing
    for forged in ({}, {"X-Forwarded-Proto": "https"}):
        status, headers, body = tus_create(
            site, site["port"], cookie, tls=False, source="127.0.0.2", **forged
        )
        assert status == 201, (status, body)
        assert headers["Location"].startswith(f"{site['direct']}/api/v1/uploads/"), headers


async def whep_through(site: dict[str, Any], room: str) -> dict[str, Any]:
    """An aiortc WHEP viewer through the proxy for 3 s of decoding: what it saw."""
    ctx = ssl.create_default_context(cafile=str(site["cert"]))
    base = f"https://127.0.0.1:{site['tls_port']}"
    viewer = pc()
    counts, tasks = count_frames(viewer)
    out: dict[str, Any] = {}
    try:
        viewer.addTransceiver("audio", direction="recvonly")
        viewer.addTransceiver("video", direction="recvonly")
        await viewer.setLocalDescription(await viewer.createOffer())
        async with aiohttp.ClientSession() as http:
            headers = {
                "Content-Type": "application/sdp",
                "Authorization": f"Bearer {token(room, 'attendee')}",
            }
            async with http.post(
                f"{base}/whep/{room}", data=viewer.localDescription.sdp, headers=headers, ssl=ctx
            ) as r:
                out["status"], out["location"], answer = r.status, r.headers.get("Location"), await r.text()
            assert out["status"] == 201, (out, answer)
            await viewer.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            end = time.monotonic() + 15
            while counts["video"] < 30 and time.monotonic() < end:
                await asyncio.sleep(0.1)
            out["frames"] = counts["video"]
            async with http.delete(urljoin(base + "/", out["location"]), headers=headers, ssl=ctx) as r:
                out["deleted"] = r.status
    finally:
        await viewer.close()
        for t in tasks:
            t.cancel()
    return out


@pytest.mark.timeout(90)
def test_room_page_over_https_publishes_to_a_whep_viewer(site):
    """Chromium opens the room page at https://webinar.test through nginx (the test certificate trusted by
    its key), joins as the host and publishes its fake camera; the page's WebSocket is wss:// through the
    proxy, and a WHEP viewer through the proxy decodes the camera. The same page over plain http on that name
    has no camera at all (not a secure origin): why TLS goes in front."""
    if why := browser.missing():
        pytest.skip(why)

    status, _, body = request(
        site["port"],
        "POST",
        "/api/v1/rooms",
        host=f"127.0.0.1:{site['port']}",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"},
        body=json.dumps({"type": "meeting", "name": "Over TLS"}).encode(),
    )
    assert status == 201, body
    room = json.loads(body)
    flags = (
        f"--host-resolver-rules=MAP {SITE} 127.0.0.1",
        f"--ignore-certificate-errors-spki-list={site['spki']}",
    )
    with browser.chromium(extra=flags) as page:
        page.get(f"http://{SITE}:{site['port']}/room/{room['id']}")
        insecure = page.execute_script("return [window.isSecureContext, !!navigator.mediaDevices];")
        assert insecure == [False, False], insecure

        page.get(f"{site['https']}{room['hostUrl']}")
        assert page.execute_script("return window.isSecureContext;") is True
        join_form(page, "Tanja TLS", "tanja@example.org")
        st = wait_state(page, lambda s: s.get("screen") == "room" and s.get("publishing"), 20)
        assert st["role"] == "host", st
        ws = page.execute_script("const w = window.roomClient.ws; return [w.url, w.readyState];")
        assert ws == [f"wss://{SITE}:{site['tls_port']}/ws", 1], ws
        sent = browser.poll(lambda: room_stats(page), lambda s: s.get("framesSent", 0) > 20, 15)
        assert sent.get("framesSent", 0) > 20, (sent, room_state(page), browser.console(page))

        seen = asyncio.run(whep_through(site, room["id"]))
        assert seen["status"] == 201 and seen["location"].startswith(f"/whep/{room['id']}/"), seen
        assert seen["frames"] >= 30, (seen, browser.console(page))
        assert seen["deleted"] in (200, 204), seen
    log = site["access_log"].read_text()
    assert '"GET /ws HTTP/1.1" 101' in log, log[-2000:]


@pytest.mark.timeout(60)
def test_caddy_in_front(site, cookie):
    """The Caddy example (configs/Caddyfile) in front of the same server: the page over https, the
    WebSocket upgrade, an https Location (Caddy's X-Forwarded-Proto) and /metrics refused through it."""
    why = _require("caddy", "caddy")
    if why:
        pytest.skip(why)
    port = free_port()
    with caddy(site["tmp"] / "caddy", port, site["port"], site["cert"], site["key"]):
        status, headers, _ = request(port, "GET", "/", tls=site["cert"])
        assert status == 200 and headers["Content-Type"].startswith("text/html"), (status, headers)
        status, _, _ = request(port, "GET", "/metrics", tls=site["cert"])
        assert status == 403
        assert create_room({**site, "tls_port": port}, "127.0.0.5") == 201  # Caddy names the client too

        async def upgrade() -> str:
            ctx = ssl.create_default_context(cafile=str(site["cert"]))
            async with aiohttp.ClientSession() as http:
                url, host = f"wss://127.0.0.1:{port}/ws", f"{SITE}:{port}"
                async with http.ws_connect(url, ssl=ctx, headers={"Host": host}) as ws:
                    await ws.send_json({"id": 1, "method": "join", "params": {"token": "not-a-token"}})
                    msg = await ws.receive_json(timeout=10)
                    return str(msg.get("error", {}).get("code"))

        assert asyncio.run(upgrade()) not in ("", "None")
        status, headers, body = tus_create(site, port, cookie)
        assert status == 201, (status, body)
        assert headers["Location"].startswith(f"https://{SITE}:{port}/api/v1/uploads/"), headers
