"""On-demand events through the real HTTP API on SQLite and PostgreSQL (issue 7; R-ROOM-4 "on demand",
R-AUTO-2, R-REC-5, R-FILE-4): attaching a library video, the event's access rules in front of the signed watch
URL, the video served with Range requests, refused forged and expired signatures, and the view statistics."""

from __future__ import annotations

import asyncio
import base64

import aiohttp

from mediaserver.events import ondemand
from tests.api.conftest import TUS, call, signup, tus_send

VIDEO = bytes((i * 7 + i // 256) % 256 for i in range(10_000))  # not decoded by the server: any bytes


def _meta(**kw: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in kw.items())


async def upload(http: aiohttp.ClientSession, name: str, data: bytes, finish: bool = True) -> dict:
    """A tus upload into the file library; the library's row of it."""
    async with http.post(
        "/api/v1/uploads",
        headers={**TUS, "Upload-Length": str(len(data)), "Upload-Metadata": _meta(filename=name)},
    ) as r:
        assert r.status == 201, await r.text()
        location = r.headers["Location"]
    if finish:
        await tus_send(http, location, data)
    files = await call(http, "GET", "/api/v1/files", 200)
    return next(f for f in files["items"] if f["name"] == name)


async def on_demand(http: aiohttp.ClientSession, video: dict | None = None, **extra) -> dict:
    body = {"kind": "on_demand", "name": "Replay of the launch", **extra}
    if video is not None:
        body["videoFileId"] = video["id"]
    return await call(http, "POST", "/api/v1/events", 201, json=body)


async def watch(api, room_id: str, status: int = 200, **body) -> dict:
    body.setdefault("name", "Vera Viewer")
    body.setdefault("email", "vera@example.test")
    return await call(api.client(), "POST", f"/api/v1/public/events/{room_id}/join", status, json=body)


async def test_attaching_a_video_is_validated(api):
    """R-AUTO-2 / R-FILE-4: only a finished video file of the account's own library can be attached, only
    to an on-demand event; each refusal says why."""
    http, _ = await signup(api)
    video = await upload(http, "launch.webm", VIDEO)
    assert video["source"] == "upload"  # a recording will say "recording"
    pdf = await upload(http, "slides.pdf", b"%PDF-1.4")
    ev = await on_demand(http)
    assert ev["videoFileId"] is None and ev["url"].endswith(f"/watch/{ev['roomId']}")
    err = await watch(api, ev["roomId"], 409)
    assert err["error"]["code"] == "no_video" and "no video" in err["error"]["message"]

    err = await call(http, "PATCH", f"/api/v1/events/{ev['id']}", 415, json={"videoFileId": pdf["id"]})
    assert err["error"]["code"] == "not_a_video" and "webm" in err["error"]["message"]
    await call(http, "PATCH", f"/api/v1/events/{ev['id']}", 404, json={"videoFileId": 999_999})
    other, _ = await signup(api)
    foreign = await upload(other, "theirs.mp4", VIDEO)
    err = await call(http, "PATCH", f"/api/v1/events/{ev['id']}", 404, json={"videoFileId": foreign["id"]})
    assert "library" in err["error"]["message"]
    half = await upload(http, "half.mp4", VIDEO, finish=False)
    assert half["status"] == "uploading"
    err = await call(http, "PATCH", f"/api/v1/events/{ev['id']}", 409, json={"videoFileId": half["id"]})
    assert err["error"]["code"] == "file_incomplete"
    scheduled = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Weekly"})
    err = await call(
        http, "PATCH", f"/api/v1/events/{scheduled['id']}", 400, json={"videoFileId": video["id"]}
    )
    assert "on-demand" in err["error"]["message"]
    await call(
        http, "POST", "/api/v1/events", 415, json={"kind": "on_demand", "name": "x", "videoFileId": pdf["id"]}
    )

    got = await call(http, "PATCH", f"/api/v1/events/{ev['id']}", 200, json={"videoFileId": video["id"]})
    assert got["videoFileId"] == video["id"]
    assert (await on_demand(http, video))["videoFileId"] == video["id"]  # at creation too
    answer = await watch(api, ev["roomId"])
    assert answer["token"] is None and answer["role"] == "viewer"
    assert answer["playback"]["contentType"] == "video/webm" and answer["playback"]["size"] == len(VIDEO)
    assert answer["playback"]["url"].startswith("/play/") and answer["playback"]["allowSeek"] is True

    await call(http, "PATCH", f"/api/v1/events/{ev['id']}", 200, json={"videoFileId": None})  # detach
    assert (await watch(api, ev["roomId"], 409))["error"]["code"] == "no_video"
    await call(http, "PATCH", f"/api/v1/events/{ev['id']}", 200, json={"videoFileId": video["id"]})
    await call(http, "DELETE", f"/api/v1/files/{video['id']}", 204)  # deleting the file detaches it
    assert (await call(http, "GET", f"/api/v1/events/{ev['id']}", 200))["videoFileId"] is None
    assert (await watch(api, ev["roomId"], 409))["error"]["code"] == "no_video"


async def test_the_events_access_rules_guard_the_video(api):
    """R-ROOM-6, -7, -9 through events.join: password, personal token and registration decide who gets a watch
    URL; each view counts once per viewer and URL lifetime (R-AUTO-2, R-STAT-1); lead capture fills a contact
    group (R-REC-5); the invitation link and the room page lead to the watch page."""
    http, _ = await signup(api)
    video = await upload(http, "launch.mp4", VIDEO)

    pw = await on_demand(http, video, access="password", password="s3cret-pass")
    assert (await watch(api, pw["roomId"], 403))["error"]["code"] == "password_required"
    await watch(api, pw["roomId"], 403, password="wrong-pass")
    assert (await watch(api, pw["roomId"], password="s3cret-pass"))["playback"]["contentType"] == "video/mp4"
    host = await watch(api, pw["roomId"], hostKey=pw["hostUrl"].split("host=")[1])  # the organiser previews
    assert host["role"] == "host" and host["playback"]

    tok = await on_demand(http, video, access="token")
    inv = (
        await call(
            http,
            "POST",
            f"/api/v1/events/{tok['id']}/invitations",
            201,
            json={"emails": ["ivan@example.test"]},
        )
    )["items"][0]
    assert inv["link"] == f"{api.settings.public_url}/watch/{tok['roomId']}?token={inv['token']}"
    assert (await watch(api, tok["roomId"], 403))["error"]["code"] == "token_required"
    await watch(api, tok["roomId"], 403, token="not-a-token")
    await watch(api, tok["roomId"], 403, token=inv["token"], email="someone.else@example.test")
    assert (await watch(api, tok["roomId"], token=inv["token"], email="ivan@example.test"))["playback"]

    reg = await on_demand(
        http, video, registration={"enabled": True}, options={"leadCapture": True, "allowSeek": False}
    )
    assert (await watch(api, reg["roomId"], 403))["error"]["code"] == "registration_required"
    await call(
        api.client(),
        "POST",
        f"/api/v1/public/events/{reg['roomId']}/registrations",
        201,
        json={"firstName": "Vera", "lastName": "Viewer", "email": "vera@example.test"},
    )
    answer = await watch(api, reg["roomId"])
    assert answer["playback"]["allowSeek"] is False
    await watch(api, reg["roomId"])  # a reload: the same view
    await call(
        api.client(),
        "POST",
        f"/api/v1/public/events/{reg['roomId']}/registrations",
        201,
        json={"firstName": "Petr", "lastName": "P", "email": "petr@example.test"},
    )
    await watch(api, reg["roomId"], name="Petr", email="Petr@Example.test")
    # the legacy room join of the room page gives the same answer
    async with api.client().post(
        f"/api/v1/rooms/{reg['roomId']}/join", json={"name": "Petr", "email": "petr@example.test"}
    ) as r:
        assert r.status == 200 and (await r.json())["playback"]["url"].startswith("/play/")
    views = await call(http, "GET", f"/api/v1/events/{reg['id']}/views", 200)
    assert (views["total"], views["uniqueViewers"]) == (2, 2)
    assert {v["email"] for v in views["items"]} == {"vera@example.test", "petr@example.test"}
    assert (await call(http, "GET", f"/api/v1/events/{pw['id']}/views", 200))["total"] == 1  # not the host
    groups = {g["name"]: g for g in (await call(http, "GET", "/api/v1/groups", 200))["items"]}
    leads = groups[f"Leads: Replay of the launch ({reg['roomId']})"]
    assert leads["kind"] == "leads" and leads["members"] == 2
    other, _ = await signup(api)
    await call(other, "GET", f"/api/v1/events/{reg['id']}/views", 404)

    async with api.client().get(f"/room/{reg['roomId']}?token=abc", allow_redirects=False) as r:
        assert r.status == 302 and r.headers["Location"] == f"/watch/{reg['roomId']}?token=abc"
    async with api.client().get(f"/watch/{reg['roomId']}") as r:
        assert r.status == 200 and "<video" in await r.text()


async def _get(api, url: str, **headers: str) -> tuple[int, dict, bytes]:
    async with api.client().get(url, headers=headers) as r:
        return r.status, dict(r.headers), await r.read()


async def test_the_video_is_served_with_range_requests(api):
    """R-AUTO-2: players seek with HTTP Range requests: 206 with Content-Range for the first bytes, a middle
    part and a suffix; 416 for a range past the end; the type is the video's."""
    http, _ = await signup(api)
    ev = await on_demand(http, await upload(http, "launch.webm", VIDEO))
    url = (await watch(api, ev["roomId"]))["playback"]["url"]
    n = len(VIDEO)

    status, headers, body = await _get(api, url)
    assert (status, body, headers["Content-Type"], headers["Accept-Ranges"]) == (
        200,
        VIDEO,
        "video/webm",
        "bytes",
    )
    status, headers, body = await _get(api, url, Range="bytes=0-99")
    assert (status, body, headers["Content-Range"]) == (206, VIDEO[:100], f"bytes 0-99/{n}")
    assert headers["Content-Type"] == "video/webm" and headers["Content-Length"] == "100"
    status, headers, body = await _get(api, url, Range="bytes=4000-5999")
    assert (status, body, headers["Content-Range"]) == (206, VIDEO[4000:6000], f"bytes 4000-5999/{n}")
    status, headers, body = await _get(api, url, Range="bytes=-500")
    assert (status, body, headers["Content-Range"]) == (206, VIDEO[-500:], f"bytes {n - 500}-{n - 1}/{n}")
    status, headers, body = await _get(api, url, Range="bytes=9000-")
    assert (status, body) == (206, VIDEO[9000:])
    status, headers, _ = await _get(api, url, Range=f"bytes={n}-")
    assert status == 416 and headers["Content-Range"] == f"bytes */{n}"
    status, headers, _ = await _get(api, url, Range="bytes=500-100")
    assert status == 416
    async with api.client().head(url) as r:
        assert r.status == 200 and r.headers["Content-Length"] == str(n)


async def test_forged_and_expired_watch_urls_are_refused(api):
    """A watch URL is signed (HMAC-SHA256 with the server's secret) and short-lived (watch_url_ttl): changed,
    foreign-signed or expired ones get 403; a video the event no longer offers gets 410."""
    http, _ = await signup(api)
    video = await upload(http, "launch.webm", VIDEO)
    ev = await on_demand(http, video)
    url = (await watch(api, ev["roomId"]))["playback"]["url"]
    token = url.rsplit("/", 1)[1]
    file_id, event_id, expires, mac = token.split(".")
    forged = [
        f"{int(file_id) + 1}.{event_id}.{expires}.{mac}",  # another file
        f"{file_id}.{event_id}.{int(expires) + 3600}.{mac}",  # a longer life
        f"{file_id}.{event_id}.{expires}.{mac[:-2]}AA",  # a changed signature
        ondemand.sign_watch("another-secret", int(file_id), int(event_id), 600)[0],
        "not-a-token",
        "1.2.3",
        "1.2.3.4.5",
    ]
    for bad in forged:
        status, _, body = await _get(api, f"/play/{bad}")
        assert status == 403 and b"not valid" in body, (bad, status, body)
    old, _ = ondemand.sign_watch(api.settings.secret, int(file_id), int(event_id), 60, now=1_000_000)
    status, _, body = await _get(api, f"/play/{old}")
    assert status == 403 and b"expired" in body
    assert (await _get(api, url))[0] == 200

    api.settings.watch_url_ttl = 1  # through the API: a URL that lives one second
    short = (await watch(api, ev["roomId"], email="other@example.test"))["playback"]["url"]
    assert (await _get(api, short, Range="bytes=0-0"))[0] == 206
    await asyncio.sleep(2.1)
    status, _, body = await _get(api, short, Range="bytes=0-0")
    assert status == 403 and b"expired" in body

    await call(http, "PATCH", f"/api/v1/events/{ev['id']}", 200, json={"videoFileId": None})
    status, _, body = await _get(api, url)
    assert status == 410 and b"no longer" in body
