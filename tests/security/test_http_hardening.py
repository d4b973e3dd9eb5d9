"""The HTTP surface's hardening (issue 14 findings 15, 16 and 18, and the operator review's links): CSRF
(content types, Origin / Sec-Fetch-Site on cookie-authenticated changes), security headers, /metrics and
/healthz, and the links of a server started with ``--port``. Everything goes through real HTTP."""

from __future__ import annotations

import asyncio
import re
import socket
from typing import Any

import aiohttp
import pytest

from tests.api.conftest import Served, call, signup, text_of
from tests.conftest import free_port, serve, serve_mailing, signed_up

# ---------------------------------------------------------------- links follow --port (operator review)


async def test_links_follow_the_port_given_on_the_command_line(tmp_path, smtp):
    """Operator review (issue 14): `mediaserver serve --port N` used to put http://127.0.0.1:8080 in the
    events' URLs, host links and e-mails; they now name the port the server listens on."""
    smtp.messages.clear()
    port = free_port()
    with serve_mailing(tmp_path, smtp.port, args=["--port", str(port)]) as base:
        assert base == f"http://127.0.0.1:{port}"
        # sign up and follow the link of the sign-up mail (issue 14 finding 22)
        read = lambda: "".join(f"to {m['To']}\n{text_of(m)}\n" for m in list(smtp.messages))  # noqa: E731
        owner = ("olga-port@example.test", "correct horse battery")
        cookie = await asyncio.to_thread(signed_up, base, *owner, read)
        smtp.messages.clear()
        async with aiohttp.ClientSession(base_url=base, headers={"Cookie": cookie}) as http:
            ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "instant", "name": "Now"})
            assert ev["url"] == f"{base}/room/{ev['roomId']}"
            assert ev["hostUrl"].startswith(f"{base}/room/{ev['roomId']}?host=")
            await call(
                http,
                "POST",
                f"/api/v1/events/{ev['id']}/invitations",
                201,
                json={"emails": ["ann-port@example.test"]},
            )
            [msg] = await smtp.wait("ann-port@example.test")
    links = re.findall(r"https?://[^\s\"'<>]+", text_of(msg))
    assert links, text_of(msg)
    assert all(link.startswith(f"{base}/") for link in links), links


# ---------------------------------------------------------------- CSRF (finding 15)

EVIL = "http://evil.example"


async def _events(http: aiohttp.ClientSession) -> list[str]:
    return [e["name"] for e in (await call(http, "GET", "/api/v1/events", 200))["items"]]


async def test_cross_site_changes_on_the_session_cookie_are_refused(api: Served):
    """Issue 14 finding 15: a signed-in browser's cookie no longer lets another site's page change anything:
    a POST or DELETE whose Origin is another site, or whose Sec-Fetch-Site says cross-site, gets a 403 JSON
    error and changes nothing; the server's own pages (its Origin, or public_url's) go through."""
    http, _ = await signup(api)
    new = {"kind": "permanent", "name": "Weekly"}
    for headers in ({"Origin": EVIL}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}):
        err = await call(http, "POST", "/api/v1/events", 403, json=new, headers=headers)
        assert err["error"]["code"] == "cross_site_request", err
    assert await _events(http) == []
    ev = await call(http, "POST", "/api/v1/events", 201, json=new, headers={"Origin": api.base_url})
    await call(http, "POST", "/api/v1/events", 201, json=new, headers={"Origin": "http://meet.example.test"})
    await call(http, "POST", "/api/v1/events", 201, json=new, headers={"Sec-Fetch-Site": "same-origin"})
    await call(http, "DELETE", f"/api/v1/events/{ev['id']}", 403, headers={"Origin": EVIL})
    await call(http, "DELETE", f"/api/v1/events/{ev['id']}", 403, headers={"Sec-Fetch-Site": "same-site"})
    assert len(await _events(http)) == 3
    # the session itself: another site cannot sign the person out either
    await call(http, "DELETE", "/api/v1/session", 403, headers={"Origin": EVIL})
    await call(http, "GET", "/api/v1/me", 200)


async def test_bearer_key_requests_are_not_affected_by_origin(api: Served):
    """Issue 14 finding 15: an API client's Bearer key is not a browser's ambient credential; its requests
    pass whatever Origin they carry (and even with a stale cookie next to the key)."""
    http, _ = await signup(api)
    key = (await call(http, "POST", "/api/v1/api-keys", 201, json={"name": "ci"}))["key"]
    client = api.client(key)
    headers = {"Origin": EVIL, "Sec-Fetch-Site": "cross-site", "Cookie": "ms_session=stale"}
    await call(
        client, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "K"}, headers=headers
    )
    assert await _events(http) == ["K"]


@pytest.mark.parametrize(
    "ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None]
)
async def test_json_bodies_must_say_application_json(api: Served, ctype: str | None):
    """Issue 14 finding 15: a JSON operation's body must come as Content-Type: application/json (which another
    site's page cannot send without a CORS preflight); text/plain, forms and untyped bodies get a 415."""
    http, _ = await signup(api)
    body = b'{"kind": "permanent", "name": "Plain"}'
    headers = {"Content-Type": ctype} if ctype else {}
    async with http.post("/api/v1/events", data=body, headers=headers) as r:
        got = await r.json()
        assert r.status == 415, got
        assert got["error"]["code"] == "unsupported_media_type", got
    signup_body = b'{"name": "Eve", "email": "eve@example.test", "password": "correct horse battery"}'
    async with api.client().post("/api/v1/signup", data=signup_body, headers=headers) as r:
        assert r.status == 415, await r.text()
    assert await _events(http) == []
    await call(http, "POST", "/api/v1/events", 201, data=body, headers={"Content-Type": "application/json"})
    await call(
        http,
        "POST",
        "/api/v1/events",
        201,
        data=body,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )


async def test_other_bodies_keep_their_own_types(api: Served):
    """Issue 14 finding 15: the operations that take another type by design keep it (a tus PATCH's
    application/offset+octet-stream, a contact file's multipart form), and refuse JSON-less guesses."""
    http, _ = await signup(api)
    form = aiohttp.FormData()
    form.add_field("file", b"email,name\nann@example.test,Ann\n", filename="c.csv", content_type="text/csv")
    got = await call(http, "POST", "/api/v1/contacts/import", 201, data=form)
    assert got["imported"] == 1
    await call(
        http,
        "POST",
        "/api/v1/contacts/import",
        415,
        data=b"email\nbob@example.test\n",
        headers={"Content-Type": "text/plain"},
    )


# ---------------------------------------------------------------- security headers (finding 16)


def _csp(headers: Any) -> dict[str, str]:
    policy = headers["Content-Security-Policy"]
    return {part.strip().split(" ", 1)[0]: part.strip().partition(" ")[2] for part in policy.split(";")}


async def _get(http: aiohttp.ClientSession, path: str) -> Any:
    async with http.get(path, allow_redirects=False) as r:
        assert r.status in (200, 302), (path, r.status, await r.text())
        await r.read()
        return r.headers


async def test_every_response_is_nosniff_and_pages_carry_a_policy(api: Served):
    """Issue 14 finding 16: nosniff on every response (pages, scripts, JSON, errors); pages carry a CSP that
    runs only our own scripts (and the pages' own inline ones by hash), a no-referrer policy (their URLs carry
    keys and tokens), and the dashboard may not be framed by anyone."""
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Framed"})
    for path in ("/api/v1/me", "/static/room/main.js", "/sdk/embed.js", "/healthz", "/no/such/path"):
        async with http.get(path) as r:
            assert r.headers.get("X-Content-Type-Options") == "nosniff", (path, dict(r.headers))
    host_link = ev["hostUrl"].replace("http://meet.example.test", "")
    for path in ("/dashboard", "/", host_link, f"/watch/{ev['roomId']}"):
        headers = await _get(http, path)
        csp = _csp(headers)
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer", path
        assert csp["script-src"].startswith("'self'") and "unsafe-inline" not in csp["script-src"], csp
        assert csp["object-src"] == "'none'" and csp["base-uri"] == "'self'"
        host = api.base_url.removeprefix("http://")
        public = "meet.example.test"
        assert csp["connect-src"] == f"'self' ws://{host} wss://{host} ws://{public} wss://{public}", csp
    for path in ("/dashboard", "/"):
        headers = await _get(http, path)
        assert _csp(headers)["frame-ancestors"] == "'none'" and headers["X-Frame-Options"] == "DENY"
    embeddable = (host_link, f"/watch/{ev['roomId']}", f"/static/room.html?id={ev['roomId']}")
    for path in embeddable:  # by partner sites (R-ROOM-12)
        headers = await _get(http, path)
        assert _csp(headers)["frame-ancestors"] == "*" and "X-Frame-Options" not in headers


@pytest.mark.parametrize("api", [{"frame_ancestors": ["https://partner.example", "'self'"]}], indirect=True)
async def test_embedding_sites_can_be_limited(api: Served):
    """Issue 14 finding 16: the frame_ancestors setting limits who may embed the room and watch pages."""
    headers = await _get(api.client(), "/room/123456789")
    assert _csp(headers)["frame-ancestors"] == "https://partner.example 'self'"
    assert _csp(await _get(api.client(), "/dashboard"))["frame-ancestors"] == "'none'"


def test_frame_ancestors_refuses_what_is_not_an_origin():
    from mediaserver.config import ConfigError, Settings

    with pytest.raises(ConfigError, match="frame_ancestors"):
        Settings(frame_ancestors=["https://a.example; script-src *"]).finish()


# ---------------------------------------------------------------- /metrics and /healthz (finding 18)


async def test_metrics_answer_this_machine_only_by_default(api: Served):
    """Issue 14 finding 18: without metrics_token, /metrics answers loopback clients only, and not what a
    reverse proxy on this machine relays from elsewhere; /healthz says only that the server is up."""
    http = api.client()
    async with http.get("/metrics") as r:
        assert r.status == 200 and "mediaserver_rooms" in await r.text()
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        async with http.get("/metrics", headers={header: "203.0.113.9"}) as r:
            assert r.status == 403, header
            assert (await r.json())["error"]["code"] == "forbidden"
    async with http.get("/healthz") as r:
        assert r.status == 200 and await r.json() == {"status": "ok"}


@pytest.mark.parametrize("api", [{"metrics_token": "scrape-me"}], indirect=True)
async def test_metrics_token(api: Served):
    """Issue 14 finding 18: with metrics_token set, /metrics needs it as a Bearer token, even on loopback."""
    http = api.client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer test-key"}):
        async with http.get("/metrics", headers=headers) as r:
            assert r.status == 401, headers
            assert (await r.json())["error"]["code"] == "unauthorized"
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
    async with http.get(
        "/metrics", headers={"Authorization": "Bearer scrape-me", "X-Forwarded-For": "x"}
    ) as r:
        assert r.status == 200 and "mediaserver_packets_total" in await r.text()


def _non_loopback_ip() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: only the route's source address is chosen
            ip = s.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") else ip


def test_metrics_refuse_other_machines(tmp_path):
    """Issue 14 finding 18: a client on another address than loopback gets a 403 (`mediaserver serve`
    listening on every address, asked through this machine's network address: the peer is then that
    address, not loopback)."""
    import urllib.error
    import urllib.request

    ip = _non_loopback_ip()
    if ip is None:
        pytest.skip("this machine has no network address besides loopback")
    with serve(tmp_path, MEDIASERVER_HTTP_HOST="0.0.0.0") as (base, _proc, _log):
        other = base.replace("127.0.0.1", ip)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(other + "/metrics", timeout=10)
        assert refused.value.code == 403
        with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
            assert r.status == 200
