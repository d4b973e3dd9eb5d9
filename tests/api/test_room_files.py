"""Files uploaded straight into an event's room (R-FILE-2: at most 50 MB; the library keeps 500 MB),
through the real tus endpoint of the real server on SQLite and PostgreSQL: who may upload (the host and
presenters with their join tokens, the organiser), the room's file list and downloads, and the account's
quota (R-FILE-1, R-FILE-3)."""

from __future__ import annotations

import base64
import hashlib

import aiohttp

from tests.api.conftest import Served, call, signup

TUS = {"Tus-Resumable": "1.0.0"}
MB = 1024 * 1024
PATCH_HEADERS = {**TUS, "Content-Type": "application/offset+octet-stream"}


def _meta(**kw: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in kw.items())


async def _create(
    http: aiohttp.ClientSession, path: str, name: str, length: int, status: int = 201, **meta: str
) -> str | dict:
    """POST a tus creation; the Location on 201, else the JSON error body (checked for the error shape)."""
    async with http.post(
        path, headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": _meta(filename=name, **meta)}
    ) as r:
        body = await r.read()
        assert r.status == status, (r.status, body)
        if status == 201:
            return r.headers["Location"]
        assert r.content_type == "application/json" and r.headers["Tus-Resumable"] == "1.0.0"
        err = await r.json()
        assert set(err) == {"error"} and set(err["error"]) == {"code", "message"}, err
        return err["error"]


async def _patch(http: aiohttp.ClientSession, location: str, offset: int, data) -> int:
    async with http.patch(location, data=data, headers={**PATCH_HEADERS, "Upload-Offset": str(offset)}) as r:
        assert r.status == 204, (r.status, await r.text())
        return int(r.headers["Upload-Offset"])


async def _event(api: Served, http: aiohttp.ClientSession, name: str = "Quarterly review") -> dict:
    return await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": name})


async def _join(api: Served, room_id: str, **body: str) -> aiohttp.ClientSession:
    """A participant's client: the join token of the public join, sent as the Bearer."""
    joined = await call(api.client(), "POST", f"/api/v1/public/events/{room_id}/join", 200, json=body)
    return api.client(joined["token"])


async def _host(api: Served, ev: dict) -> aiohttp.ClientSession:
    return await _join(
        api,
        ev["roomId"],
        name="Hanna Host",
        email="host@example.test",
        hostKey=ev["hostUrl"].split("host=")[1],
    )


async def _presenter(api: Served, http: aiohttp.ClientSession, ev: dict, email: str) -> aiohttp.ClientSession:
    inv = await call(
        http,
        "POST",
        f"/api/v1/events/{ev['id']}/invitations",
        201,
        json={"emails": [email], "role": "presenter"},
    )
    return await _join(api, ev["roomId"], token=inv["items"][0]["token"], email=email)


def _chunks(total: int, seed: bytes, size: int = 256 * 1024):
    """Deterministic bytes, yielded chunk by chunk (never the whole body in memory) and hashed as they go."""
    h = hashlib.sha256()

    async def gen():
        sent, i = 0, 0
        while sent < total:
            block = (hashlib.sha256(seed + i.to_bytes(8, "big")).digest() * (size // 32))[
                : min(size, total - sent)
            ]
            h.update(block)
            sent += len(block)
            i += 1
            yield block

    return gen(), h


async def _sha256_of(http: aiohttp.ClientSession, url: str) -> tuple[str, int]:
    h, n = hashlib.sha256(), 0
    async with http.get(url) as r:
        assert r.status == 200, await r.text()
        async for block in r.content.iter_chunked(1 << 20):
            h.update(block)
            n += len(block)
    return h.hexdigest(), n


async def test_room_upload_is_50_mb_exactly_and_the_library_500_mb(api):
    """R-FILE-2 at the exact boundaries: 50 MB is accepted into a room (uploaded, listed, downloaded byte
    for byte), 50 MB + 1 is refused whatever the client's metadata says; 500 MB + 1 is refused in the
    library with an error that names the limit, 500 MB is accepted there."""
    http, me = await signup(api)
    ev = await _event(api, http)
    host = await _host(api, ev)
    uploads = f"/api/v1/rooms/{ev['roomId']}/uploads"

    for meta in ({}, {"into_room": "0"}, {"into_room": "false"}):
        err = await _create(host, uploads, "deck.pptx", 50 * MB + 1, 413, **meta)
        assert err["code"] == "file_too_large"
        assert "deck.pptx is 50.0 MB (52428801 bytes)" in err["message"]
        assert "straight into a room may be at most 50 MB (52428800 bytes)" in err["message"]
    async with host.options(uploads) as r:
        assert r.status == 204 and r.headers["Tus-Max-Size"] == str(50 * MB)

    location = await _create(host, uploads, "deck.mp4", 50 * MB)
    assert location.startswith(f"{api.base_url}{uploads}/")
    body, digest = _chunks(50 * MB, b"room")
    assert await _patch(host, location, 0, body) == 50 * MB

    files = await call(host, "GET", f"/api/v1/rooms/{ev['roomId']}/files", 200)
    assert (files["eventId"], files["roomId"], files["total"]) == (ev["id"], ev["roomId"], 1)
    [f] = files["items"]
    assert (f["name"], f["size"], f["uploadedBy"]) == ("deck.mp4", 50 * MB, "host")
    assert await _sha256_of(host, f["url"]) == (digest.hexdigest(), 50 * MB)
    # the same file is in the organiser's library, bound to the event, counted against the quota (R-FILE-1)
    library = await call(http, "GET", "/api/v1/files", 200)
    assert [(x["id"], x["eventId"], x["status"]) for x in library["items"]] == [
        (f["id"], ev["id"], "complete")
    ]
    assert library["usedBytes"] == 50 * MB and library["quotaBytes"] == 500 * MB
    assert await _sha256_of(http, f"/api/v1/files/{f['id']}/content") == (digest.hexdigest(), 50 * MB)

    # the library: 500 MB + 1 refused with a JSON error naming the limit (only the declared length is sent)
    err = await _create(http, "/api/v1/uploads", "film.mp4", 500 * MB + 1, 413)
    assert err["code"] == "file_too_large"
    assert err["message"] == (
        "film.mp4 is 500.0 MB (524288001 bytes); one file uploaded to the file library may "
        "be at most 500 MB (524288000 bytes)"
    )
    # 500 MB exactly is accepted (with 450 MB left the upload may overshoot, R-FILE-3), then abandoned
    big = await _create(http, "/api/v1/uploads", "film.mp4", 500 * MB)
    async with http.delete(big, headers=TUS) as r:
        assert r.status == 204
    assert (await call(http, "GET", "/api/v1/files", 200))["usedBytes"] == 50 * MB


async def test_who_may_upload_into_a_room_list_and_download(api):
    """The host and presenters (join tokens) and the organiser upload; attendees only list and download; other
    rooms' tokens, other accounts and anonymous callers get nothing."""
    http, me = await signup(api)
    ev = await _event(api, http)
    room = ev["roomId"]
    uploads, listing = f"/api/v1/rooms/{room}/uploads", f"/api/v1/rooms/{room}/files"
    host = await _host(api, ev)
    presenter = await _presenter(api, http, ev, "pia@example.test")
    attendee = await _join(api, room, name="Ann Attendee", email="ann@example.test")

    for who, client in (("host", host), ("presenter", presenter), ("organiser", http)):
        location = await _create(client, uploads, f"{who}.pdf", 6)
        assert await _patch(client, location, 0, f"{who[:5]:<5}!".encode()) == 6
    files = await call(attendee, "GET", listing, 200)
    assert [(f["name"], f["uploadedBy"]) for f in files["items"]] == [
        ("organiser.pdf", "organiser"),
        ("presenter.pdf", "presenter"),
        ("host.pdf", "host"),
    ]
    async with attendee.get(files["items"][1]["url"]) as r:
        assert r.status == 200 and await r.read() == b"prese!"

    err = await _create(attendee, uploads, "mine.pdf", 1, 403)
    assert err["code"] == "forbidden" and "host and presenters" in err["message"]

    other, _ = await signup(api)  # another account and its own event's host
    other_ev = await _event(api, other, "Elsewhere")
    other_host = await _host(api, other_ev)
    for client in (other, other_host):
        assert (await _create(client, uploads, "x.pdf", 1, 403))["code"] == "forbidden"
        assert (await call(client, "GET", listing, 403))["error"]["code"] == "forbidden"
        await call(client, "GET", f"{listing}/{files['items'][0]['id']}/content", 403)
    # a file of this room is not reached through another room, even with that room's own valid token
    await call(
        other_host, "GET", f"/api/v1/rooms/{other_ev['roomId']}/files/{files['items'][0]['id']}/content", 404
    )
    async with aiohttp.ClientSession(base_url=api.base_url) as anonymous:
        assert (await _create(anonymous, uploads, "x.pdf", 1, 401))["code"] == "unauthorized"
        await call(anonymous, "GET", listing, 401)
    assert (await _create(api.client("not.a.token"), uploads, "x.pdf", 1, 401))["code"] == "unauthorized"
    assert (await _create(host, "/api/v1/rooms/999999999/uploads", "x.pdf", 1, 404))["code"] == "not_found"
    # the join token is not a key to the account's library
    await call(host, "GET", "/api/v1/files", 401)
    assert (await _create(host, "/api/v1/uploads", "x.pdf", 1, 401))["code"] == "unauthorized"

    # an unfinished room upload belongs to who started it, through the room route only
    location = await _create(host, uploads, "half.pdf", 10)
    assert await _patch(host, location, 0, b"01234") == 5
    library_url = location.replace(uploads, "/api/v1/uploads")
    for client, url in ((presenter, location), (http, location), (other_host, location), (http, library_url)):
        async with client.head(url, headers=TUS) as r:
            assert r.status in (403, 404), (url, r.status)
        async with client.patch(url, data=b"56789", headers={**PATCH_HEADERS, "Upload-Offset": "5"}) as r:
            assert r.status in (403, 404), (url, r.status)
        async with client.delete(url, headers=TUS) as r:
            assert r.status in (403, 404), (url, r.status)
    async with host.head(location, headers=TUS) as r:
        assert r.status == 200 and r.headers["Upload-Offset"] == "5"
    assert await _patch(host, location, 5, b"56789") == 10
    assert (await call(presenter, "GET", listing, 200))["items"][0]["name"] == "half.pdf"


async def test_room_files_count_against_the_quota_and_live_in_the_library(api):
    """R-FILE-1 / R-FILE-3: a room upload takes the account's space like any other (refused once the
    storage is full); deleting the file in the library takes it out of the room; deleting the event leaves
    it in the library. A finished event's room takes no more files."""
    http, me = await signup(api)
    ev = await _event(api, http)
    uploads, listing = f"/api/v1/rooms/{ev['roomId']}/uploads", f"/api/v1/rooms/{ev['roomId']}/files"
    host = await _host(api, ev)
    first = await _create(host, uploads, "a.pdf", 3)
    await _patch(host, first, 0, b"abc")
    # an upload into the library reserves the rest of the 500 MB trial at its declared length
    reserve = await _create(http, "/api/v1/uploads", "film.mp4", 500 * MB - 3)
    assert (await call(http, "GET", "/api/v1/files", 200))["usedBytes"] == 500 * MB
    err = await _create(host, uploads, "b.pdf", 1, 403)
    assert err["code"] == "quota_full" and "delete files" in err["message"]
    async with http.delete(reserve, headers=TUS) as r:  # abandoning it frees the space
        assert r.status == 204
    second = await _create(host, uploads, "b.pdf", 2)
    await _patch(host, second, 0, b"de")
    # a finished upload is not "terminated" (its bytes are the file's): the file is deleted in the library
    async with host.delete(second, headers=TUS) as r:
        assert r.status == 409 and (await r.json())["error"]["code"] == "upload_finished"
    files = (await call(http, "GET", listing, 200))["items"]
    assert [f["name"] for f in files] == ["b.pdf", "a.pdf"]
    await call(http, "DELETE", f"/api/v1/files/{files[0]['id']}", 204)
    assert [f["name"] for f in (await call(host, "GET", listing, 200))["items"]] == ["a.pdf"]
    await call(host, "GET", f"{listing}/{files[0]['id']}/content", 404)

    # a permanent event's room waits for its next session; an instant event's room is over once it ends
    pop_up = await call(http, "POST", "/api/v1/events", 201, json={"kind": "instant", "name": "Pop-up"})
    early = await _create(http, f"/api/v1/rooms/{pop_up['roomId']}/uploads", "early.pdf", 1)
    await _patch(http, early, 0, b"e")
    await call(http, "POST", f"/api/v1/events/{pop_up['id']}/end", 200)
    err = await _create(http, f"/api/v1/rooms/{pop_up['roomId']}/uploads", "late.pdf", 1, 410)
    assert err["code"] == "ended"
    on_demand = await call(http, "POST", "/api/v1/events", 201, json={"kind": "on_demand", "name": "Replay"})
    err = await _create(http, f"/api/v1/rooms/{on_demand['roomId']}/uploads", "clip.mp4", 1, 409)
    assert "on-demand" in err["message"]  # it has no room: its video is a library file
    over = await call(http, "GET", f"/api/v1/rooms/{pop_up['roomId']}/files", 200)
    assert [f["name"] for f in over["items"]] == ["early.pdf"]  # its files are still listed
    await call(http, "DELETE", f"/api/v1/files/{over['items'][0]['id']}", 204)

    await call(http, "DELETE", f"/api/v1/events/{ev['id']}", 204)
    library = await call(http, "GET", "/api/v1/files", 200)
    assert [(f["name"], f["eventId"]) for f in library["items"]] == [("a.pdf", None)]
    assert library["usedBytes"] == 3
    await call(http, "GET", listing, 404)
