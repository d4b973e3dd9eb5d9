"""Issue 14 findings 4, 5 and 19: webhooks and live streams may only reach public addresses unless the
operator allow-lists a host or a network (``outbound_allow``), checked when the target is given and again at
connect time; failures are logged coarsely; webhooks go over https (plain http only to a listed host) and
their signature covers the delivery id. Everything through the real interfaces: the HTTP API, the room's
WebSocket, `mediaserver serve` as a process, real receivers on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.api.conftest import Served, call, hook_receiver, paid, signup
from tests.conftest import SECRET, free_port, mail_spool, serve, signed_up, wait_for
from tests.e2e.peers import join_only
from tests.e2e.test_recording import room_token

LOOPBACK = {"outbound_allow": ["127.0.0.1"]}

# (host as written in a URL, a word of the reason the 400 gives)
INTERNAL = [
    ("127.0.0.1", "loopback"),
    ("10.0.0.1", "private"),
    ("169.254.169.254", "link-local"),
    ("[::1]", "loopback"),
    ("100.64.0.1", "CGNAT"),
    ("localhost", "loopback"),  # a name that resolves to loopback
    ("[::ffff:127.0.0.1]", "loopback"),  # IPv4-mapped
    ("[fe80::1]", "link-local"),
    ("[fd00::1]", "private"),
    ("224.0.0.1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("192.0.2.1", "documentation"),
]


@pytest.fixture
async def accepts() -> AsyncIterator[tuple[int, list[int]]]:
    """A TCP port on loopback that accepts connections and closes them at once: (port, connections seen)."""
    seen: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(1)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], seen
    finally:
        server.close()


async def log_of(http: aiohttp.ClientSession, hook_id: int, timeout: float = 20) -> dict[str, Any]:
    """The webhook's one delivery once it has been tried."""
    end = time.monotonic() + timeout
    entry: dict[str, Any] = {}
    while time.monotonic() < end:
        items = (await call(http, "GET", f"/api/v1/webhooks/{hook_id}/deliveries", 200))["items"]
        if items and items[0]["attempts"] >= 1:
            return items[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"webhook {hook_id} was never tried: {entry}")


async def test_webhooks_to_internal_addresses_are_refused(api: Served) -> None:
    """Issue 14 finding 4 (and 19): internal targets and plain http get a 400 naming the reason; nothing is
    subscribed."""
    http, _ = await signup(api)
    for host, word in INTERNAL:
        err = await call(http, "POST", "/api/v1/webhooks", 400, json={"url": f"https://{host}:8443/hook"})
        assert err["error"]["code"] == "address_not_allowed", (host, err)
        assert word in err["error"]["message"] and "outbound_allow" in err["error"]["message"], (host, err)
    # finding 19: https only, whatever the host
    err = await call(http, "POST", "/api/v1/webhooks", 400, json={"url": "http://hooks.example.com/in"})
    assert err["error"]["code"] == "https_required", err
    assert (await call(http, "GET", "/api/v1/webhooks", 200))["items"] == []


async def test_streams_to_internal_addresses_are_refused_by_the_api_and_the_websocket(api: Served) -> None:
    """Issue 14 finding 5: the RTMP target of a live stream, through the API and the host's startStream."""
    http, _ = await signup(api)
    await paid(http, "live")
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "instant", "name": "Live"})
    path = f"/api/v1/events/{ev['id']}/stream"
    async with aiohttp.ClientSession() as session:
        host = await join_only(session, api.base_url, room_token(api, ev, "host", "Hanna"))  # type: ignore[arg-type]
        for target, word in INTERNAL:
            url = f"rtmp://{target}:1935/live"
            err = await call(http, "POST", path, 400, json={"url": url, "key": "k"})
            assert err["error"]["code"] == "address_not_allowed" and word in err["error"]["message"], err
            r = await host.call("host", action="startStream", url=url, key="k")
            assert r["error"]["code"] == "address_not_allowed" and word in r["error"]["message"], r
        await call(http, "GET", path, 404)  # nothing started
        await host.ws.close()


@pytest.mark.parametrize("api", [LOOPBACK], indirect=True)
async def test_delivery_log_is_coarse_and_the_allow_list_lets_plain_http_through(
    api: Served, accepts: tuple[int, list[int]]
) -> None:
    """Issue 14 finding 4: to an allow-listed loopback, a closed port and a port that answers and hangs up
    log the same words, no OS text; finding 19: a listed host may take plain http."""
    open_port, seen = accepts
    http, _ = await signup(api)
    closed = free_port()
    hooks = [
        await call(http, "POST", "/api/v1/webhooks", 201, json={"url": f"http://127.0.0.1:{port}/hook"})
        for port in (closed, open_port)
    ]
    await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Probe"})
    entries = [await log_of(http, h["id"]) for h in hooks]
    assert seen, "the open port was never reached"
    assert [e["lastError"] for e in entries] == ["connection failed", "connection failed"], entries


@pytest.mark.parametrize("api", [LOOPBACK], indirect=True)
async def test_a_refused_stream_says_so_coarsely(api: Served, accepts: tuple[int, list[int]]) -> None:
    """Issue 14 finding 5: an allow-listed RTMP target that is closed, or that hangs up, fails the stream with
    a coarse reason (the stream.stopped webhook and the API say the same), never the OS's words."""
    open_port, seen = accepts
    got: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        got.append(json.loads(await request.read())["data"]["stream"])
        return web.Response(status=204)

    def more_than(n: int) -> Any:
        return lambda: len(got) > n

    http, _ = await signup(api)
    await paid(http, "live")
    async with hook_receiver(handle) as url:
        await call(http, "POST", "/api/v1/webhooks", 201, json={"url": url, "events": ["stream.stopped"]})
        closed = free_port()
        for port in (closed, open_port):
            ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "instant", "name": f"S{port}"})
            path = f"/api/v1/events/{ev['id']}/stream"
            await call(http, "POST", path, 201, json={"url": f"rtmp://127.0.0.1:{port}/live", "key": "k"})
            assert await wait_for(more_than(len(got)), 20), got
            await call(http, "POST", f"/api/v1/events/{ev['id']}/end", 200)
    assert seen, "the open port was never reached"
    assert [g["status"] for g in got] == ["failed", "failed"], got
    assert got[0]["error"] == f"could not connect to rtmp://127.0.0.1:{closed}/live/…: connection failed"
    assert got[1]["error"] in (
        f"could not connect to rtmp://127.0.0.1:{open_port}/live/…: the service refused the stream",
        f"the stream to rtmp://127.0.0.1:{open_port}/live/… broke: the connection was lost",
    ), got


@pytest.mark.parametrize("api", [LOOPBACK], indirect=True)
async def test_an_rtmps_service_must_show_a_valid_certificate(api: Served, tmp_path: Path) -> None:
    """Issue 14 finding 5: the connection to an rtmps:// service is made by the server (to the checked
    address) and verifies the certificate for the URL's host: a self-signed one fails the stream."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
        + ["-keyout", str(tmp_path / "k.pem"), "-out", str(tmp_path / "c.pem")],
        check=True,
        capture_output=True,
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    handshakes: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handshakes.append(1)  # only reached once TLS was accepted
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    got: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        got.append(json.loads(await request.read())["data"]["stream"])
        return web.Response(status=204)

    http, _ = await signup(api)
    await paid(http, "live")
    try:
        async with hook_receiver(hook) as url:
            await call(http, "POST", "/api/v1/webhooks", 201, json={"url": url, "events": ["stream.stopped"]})
            ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "instant", "name": "TLS"})
            target = {"url": f"rtmps://127.0.0.1:{port}/live", "key": "k"}
            await call(http, "POST", f"/api/v1/events/{ev['id']}/stream", 201, json=target)
            assert await wait_for(lambda: bool(got), 20)
    finally:
        server.close()
    assert got[0]["error"] == f"could not connect to rtmps://127.0.0.1:{port}/live/…: TLS failed", got
    assert not handshakes


@pytest.mark.parametrize("api", [LOOPBACK], indirect=True)
async def test_webhook_signature_covers_the_delivery_id(api: Served) -> None:
    """Issue 14 finding 19, in a receiver: HMAC-SHA256 over "<t>.<delivery id>.<body>" (docs/api.md); the
    same signature does not hold for another delivery id."""
    got: list[tuple[dict[str, str], bytes]] = []

    async def handle(request: web.Request) -> web.Response:
        got.append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    http, _ = await signup(api)
    async with hook_receiver(handle) as url:
        body = {"url": url, "events": ["event.created"]}
        hook = await call(http, "POST", "/api/v1/webhooks", 201, json=body)
        await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Signed"})
        assert await wait_for(lambda: bool(got), 20)
    headers, body = got[0]
    delivery = headers["X-Mediaserver-Delivery"]
    parts = dict(p.split("=", 1) for p in headers["X-Mediaserver-Signature"].split(","))

    def mac(d: str) -> str:
        return hmac.new(
            hook["secret"].encode(), f"{parts['t']}.{d}.".encode() + body, hashlib.sha256
        ).hexdigest()

    assert abs(time.time() - int(parts["t"])) < 60
    assert hmac.compare_digest(parts["v2"], mac(delivery)), parts
    assert not hmac.compare_digest(parts["v2"], mac(str(int(delivery) + 1)))


async def test_connect_time_check_refuses_what_is_no_longer_allowed(
    tmp_path: Path, accepts: tuple[int, list[int]]
) -> None:
    """Issue 14 finding 4, the check at connect time: webhooks created while the operator allowed loopback
    (by address and by name) are not delivered once the allow-list no longer has it: the resolver's answer
    is checked at the connection, not only at creation (what stops DNS rebinding); nothing reaches the
    port and the log says "address not allowed"."""
    port, seen = accepts
    login = {"email": "rebind@example.test", "password": "correct horse battery"}
    env = {"MEDIASERVER_SECRET": SECRET, "MEDIASERVER_WEBHOOK_RETRIES": "1"}
    with serve(tmp_path, MEDIASERVER_OUTBOUND_ALLOW="127.0.0.1/32;localhost", **env) as (base, _p, _l):
        spool = mail_spool(tmp_path / "data")
        cookie = await asyncio.to_thread(signed_up, base, login["email"], login["password"], spool)
        async with aiohttp.ClientSession(base_url=base, headers={"Cookie": cookie}) as http:
            hooks = [
                await call(http, "POST", "/api/v1/webhooks", 201, json={"url": url})
                for url in (f"https://127.0.0.1:{port}/hook", f"https://localhost:{port}/hook")
            ]
    with serve(tmp_path, **env) as (base, _p, _l):  # the operator took loopback off the list
        async with aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await call(http, "POST", "/api/v1/session", 200, json=login)
            await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Later"})
            entries = [await log_of(http, h["id"]) for h in hooks]
    refused = ("failed", "address not allowed")
    assert [(e["status"], e["lastError"]) for e in entries] == [refused, refused], entries
    assert not seen, "a connection reached the no-longer-allowed port"
