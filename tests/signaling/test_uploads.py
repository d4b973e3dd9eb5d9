"""tus 1.0.0 resumable uploads (R-FILE-1..4) on a real aiohttp server with a real HTTP client."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from mediaserver.library.files import MB, ROOM_MAX_FILE, check_upload
from signaling.api.uploads import TUS_VERSION, Upload, UploadHooks, add_upload_routes, parse_metadata
from signaling.errors import SignalError, json_errors

PREFIX = "/api/uploads"
ROOM_PREFIX = "/api/rooms/{room}/uploads"
TUS = {"Tus-Resumable": TUS_VERSION}


@dataclass
class Accounts:
    """The caller's side of the hooks: owners, their used bytes and quota, finished uploads."""

    quota: int = 500 * MB
    used: dict[str, int] = field(default_factory=dict)
    completed: list[tuple[str, str, str]] = field(default_factory=list)  # owner, filename, sha256

    def hooks(self, max_size: int) -> UploadHooks:
        def authorize(request: web.Request) -> str:
            auth = request.headers.get("Authorization", "")
            if not auth.startswith("Bearer "):
                raise SignalError("unauthorized", "sign in to upload files", 401)
            return auth[7:]

        async def on_create(owner: str, filename: str, length: int, into_room: bool) -> None:
            check_upload(filename, length, self.used.get(owner, 0), self.quota, into_room)
            self.used[owner] = self.used.get(owner, 0) + length  # reserve while it uploads (R-FILE-3)

        def on_complete(owner: str, upload: Upload) -> None:
            self.completed.append((owner, upload.filename, sha256_file(upload.path)))

        def on_terminate(owner: str, upload: Upload) -> None:
            self.used[owner] -= upload.length

        return UploadHooks(authorize, on_create, on_complete, on_terminate, max_size=max_size)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def pattern(size: int, seed: int = 0) -> bytes:
    """Deterministic, non-repeating test bytes."""
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{i}".encode()).digest() * 32
        i += 1
    return bytes(out[:size])


class Server:
    def __init__(self, store: Path, accounts: Accounts, max_size: int) -> None:
        self.store, self.accounts, self.max_size = store, accounts, max_size
        self.runner: web.AppRunner | None = None
        self.base = ""

    async def start(self) -> None:
        app = web.Application(middlewares=[json_errors])
        add_upload_routes(
            app, PREFIX, self.store, self.accounts.hooks(self.max_size), room_prefix=ROOM_PREFIX
        )
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.base = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def server(tmp_path):
    accounts = Accounts()
    srv = Server(tmp_path / "uploads", accounts, max_size=500 * MB)
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


def meta(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


async def create(
    http, srv: Server, name: str, length: int, owner: str = "alice", prefix: str = PREFIX, **extra: str
):
    headers = {
        **TUS,
        "Authorization": f"Bearer {owner}",
        "Upload-Length": str(length),
        "Upload-Metadata": meta(filename=name, **extra),
    }
    return await http.post(srv.base + prefix, headers=headers)


async def created(http, srv: Server, name: str, length: int, owner: str = "alice", **extra: str) -> str:
    resp = await create(http, srv, name, length, owner, **extra)
    assert resp.status == 201, await resp.text()
    return resp.headers["Location"]


async def head_offset(http, url: str, owner: str = "alice") -> int:
    resp = await http.head(url, headers={**TUS, "Authorization": f"Bearer {owner}"})
    assert resp.status == 200
    return int(resp.headers["Upload-Offset"])


async def patch(http, url: str, offset: int, body, owner: str = "alice") -> aiohttp.ClientResponse:
    headers = {
        **TUS,
        "Authorization": f"Bearer {owner}",
        "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream",
    }
    return await http.patch(url, headers=headers, data=body)


async def error_of(resp: aiohttp.ClientResponse) -> dict:
    body = await resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert resp.headers["Tus-Resumable"] == TUS_VERSION
    return body["error"]


# ------------------------------------------------------------------------------------------- protocol


async def test_options_announces_version_extensions_and_max_size(server, http):
    resp = await http.options(server.base + PREFIX)
    assert resp.status == 204
    assert resp.headers["Tus-Version"] == "1.0.0" and resp.headers["Tus-Max-Size"] == str(500 * MB)
    assert set(resp.headers["Tus-Extension"].split(",")) == {"creation", "termination"}


async def test_multi_megabyte_upload_in_several_patches(server, http):
    data = pattern(7 * MB + 123)
    url = await created(http, server, "Лекция 1.mp4", len(data))
    assert url.startswith(server.base + PREFIX + "/")
    assert await head_offset(http, url) == 0
    step = 2 * MB
    for offset in range(0, len(data), step):
        resp = await patch(http, url, offset, data[offset : offset + step])
        assert resp.status == 204, await resp.text()
        assert int(resp.headers["Upload-Offset"]) == min(offset + step, len(data))
        assert resp.headers["Tus-Resumable"] == TUS_VERSION
    assert await head_offset(http, url) == len(data)
    assert server.accounts.completed == [("alice", "Лекция 1.mp4", hashlib.sha256(data).hexdigest())]
    resp = await http.head(url, headers={**TUS, "Authorization": "Bearer alice"})
    assert resp.headers["Upload-Length"] == str(len(data)) and resp.headers["Cache-Control"] == "no-store"
    assert parse_metadata(resp.headers["Upload-Metadata"]) == {"filename": "Лекция 1.mp4"}


async def test_interrupted_patch_is_resumed_from_the_offset_head_reports(server, http):
    """A PATCH cut off mid-body keeps what arrived; HEAD tells where to resume; the file ends intact."""
    data = pattern(6 * MB, seed=1)
    url = await created(http, server, "talk.pdf", len(data))
    path = aiohttp.client.URL(url).path
    reader, writer = await asyncio.open_connection("127.0.0.1", aiohttp.client.URL(url).port)
    sent = 3 * MB + 777
    writer.write(
        (
            f"PATCH {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nAuthorization: Bearer alice\r\n"
            f"Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        ).encode()
        + data[:sent]
    )
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.close()  # the connection drops mid-body
    await writer.wait_closed()
    for _ in range(50):  # the server notices the loss and releases the upload
        offset = await head_offset(http, url)
        resp = await patch(http, url, offset, data[offset:])
        if resp.status != 409:
            break
        await asyncio.sleep(0.1)
    assert resp.status == 204, await resp.text()
    assert 0 < offset <= sent
    assert server.accounts.completed[-1][2] == hashlib.sha256(data).hexdigest()


async def test_wrong_offset_is_a_conflict(server, http):
    url = await created(http, server, "a.txt", 100)
    assert (await patch(http, url, 0, b"x" * 40)).status == 204
    for wrong in (0, 39, 41, 100):
        resp = await patch(http, url, wrong, b"y" * 10)
        assert resp.status == 409
        e = await error_of(resp)
        assert e["code"] == "offset_mismatch" and "at 40" in e["message"]
    assert await head_offset(http, url) == 40


async def test_bad_or_missing_tus_version_is_412(server, http):
    for headers in ({}, {"Tus-Resumable": "0.2.2"}):
        resp = await http.post(
            server.base + PREFIX,
            headers={
                **headers,
                "Authorization": "Bearer a",
                "Upload-Length": "1",
                "Upload-Metadata": meta(filename="a.txt"),
            },
        )
        assert resp.status == 412 and resp.headers["Tus-Version"] == "1.0.0"
        assert (await error_of(resp))["code"] == "unsupported_version"


async def test_patch_needs_the_tus_content_type(server, http):
    url = await created(http, server, "a.txt", 10)
    resp = await http.patch(
        url,
        data=b"0123456789",
        headers={
            **TUS,
            "Authorization": "Bearer alice",
            "Upload-Offset": "0",
            "Content-Type": "application/octet-stream",
        },
    )
    assert resp.status == 415 and (await error_of(resp))["code"] == "bad_content_type"


async def test_creation_needs_length_and_filename(server, http):
    base = {**TUS, "Authorization": "Bearer alice"}
    resp = await http.post(server.base + PREFIX, headers={**base, "Upload-Metadata": meta(filename="a.txt")})
    assert resp.status == 400 and "Upload-Length" in (await error_of(resp))["message"]
    resp = await http.post(
        server.base + PREFIX,
        headers={**base, "Upload-Length": "-5", "Upload-Metadata": meta(filename="a.txt")},
    )
    assert resp.status == 400
    resp = await http.post(server.base + PREFIX, headers={**base, "Upload-Length": "5"})
    assert resp.status == 400 and (await error_of(resp))["code"] == "bad_metadata"
    resp = await http.post(
        server.base + PREFIX, headers={**base, "Upload-Length": "5", "Upload-Metadata": "filename %%%"}
    )
    assert resp.status == 400 and (await error_of(resp))["code"] == "bad_metadata"


async def test_unauthorized_requests_are_refused_in_json(server, http):
    resp = await http.post(
        server.base + PREFIX, headers={**TUS, "Upload-Length": "5", "Upload-Metadata": meta(filename="a.txt")}
    )
    assert resp.status == 401 and (await error_of(resp))["code"] == "unauthorized"


async def test_uploads_are_private_to_their_owner(server, http):
    url = await created(http, server, "a.txt", 10)
    assert (await http.head(url, headers={**TUS, "Authorization": "Bearer mallory"})).status == 404
    assert (await patch(http, url, 0, b"x" * 10, owner="mallory")).status == 404
    assert (await http.delete(url, headers={**TUS, "Authorization": "Bearer mallory"})).status == 404
    assert (
        await http.head(
            server.base + PREFIX + "/..%2F..%2Fetc", headers={**TUS, "Authorization": "Bearer alice"}
        )
    ).status == 404
    assert await head_offset(http, url) == 0


# --------------------------------------------------------------------------------------- library rules


async def test_over_the_server_maximum_is_413(server, http):
    resp = await create(http, server, "big.mp4", 500 * MB + 1)
    assert resp.status == 413
    e = await error_of(resp)
    assert e["code"] == "file_too_large" and "at most 500 MB" in e["message"]
    assert list(server.store.iterdir()) == [] and server.accounts.used == {}


async def test_room_uploads_are_limited_to_50_mb_by_their_route(server, http):
    """R-FILE-2: the room route, not a client flag, makes a room upload: 50 MB there, whatever the
    metadata."""
    room = ROOM_PREFIX.format(room="123456789")
    resp = await create(http, server, "clip.mp4", ROOM_MAX_FILE + 1, prefix=room)
    assert resp.status == 413
    e = await error_of(resp)
    assert e["code"] == "file_too_large" and "at most 50 MB" in e["message"]
    resp = await create(http, server, "clip.mp4", ROOM_MAX_FILE + 1, prefix=room, into_room="0")
    assert resp.status == 413
    url = await created(http, server, "clip.mp4", ROOM_MAX_FILE, prefix=room)
    assert url.startswith(server.base + room + "/")
    async with http.options(server.base + room) as r:
        assert r.headers["Tus-Max-Size"] == str(ROOM_MAX_FILE)
    # the old client-chosen flag is refused on the library route rather than silently ignored
    resp = await create(http, server, "clip.mp4", 10, into_room="1")
    assert resp.status == 400 and "/api/v1/rooms/{roomId}/uploads" in (await error_of(resp))["message"]
    # a room upload is reached through its room route only
    library_url = url.replace(room, PREFIX)
    assert (await http.head(library_url, headers={**TUS, "Authorization": "Bearer alice"})).status == 404
    assert await head_offset(http, url) == 0


async def test_body_past_the_declared_length_is_413(server, http):
    url = await created(http, server, "a.txt", 10)
    resp = await patch(http, url, 0, b"x" * 11)
    assert resp.status == 413 and (await error_of(resp))["code"] == "too_large"
    assert await head_offset(http, url) == 0
    assert server.accounts.completed == []


async def test_bad_extension_is_refused(server, http):
    """R-FILE-4 through on_create → check_upload."""
    resp = await create(http, server, "setup.exe", 10)
    assert resp.status == 415
    e = await error_of(resp)
    assert e["code"] == "bad_extension" and ".exe" in e["message"]
    assert list((server.store).iterdir()) == []


async def test_quota_overshoot_then_full(server, http):
    """R-FILE-3: with space left an upload starts even if it overshoots; then nothing more until deleted."""
    server.accounts.used["alice"] = server.accounts.quota - MB
    url = await created(http, server, "big.mp4", 10 * MB)
    resp = await create(http, server, "small.txt", 1)
    assert resp.status == 403 and (await error_of(resp))["code"] == "quota_full"
    assert (await http.delete(url, headers={**TUS, "Authorization": "Bearer alice"})).status == 204
    assert server.accounts.used["alice"] == server.accounts.quota - MB  # on_terminate gave it back
    assert (await create(http, server, "small.txt", 1)).status == 201


async def test_empty_upload_completes_on_creation(server, http):
    url = await created(http, server, "empty.txt", 0)
    assert await head_offset(http, url) == 0
    assert server.accounts.completed == [("alice", "empty.txt", hashlib.sha256(b"").hexdigest())]


# ------------------------------------------------------------------------------ restart, memory, delete


async def test_upload_survives_a_server_restart(server, http):
    data = pattern(3 * MB, seed=2)
    url = await created(http, server, "deck.pptx", len(data))
    assert (await patch(http, url, 0, data[: MB + 5])).status == 204
    await server.stop()
    await server.start()  # a new application over the same directory
    url = server.base + aiohttp.client.URL(url).path
    assert await head_offset(http, url) == MB + 5
    assert (await patch(http, url, MB + 5, data[MB + 5 :])).status == 204
    assert server.accounts.completed == [("alice", "deck.pptx", hashlib.sha256(data).hexdigest())]


async def test_memory_stays_bounded_during_a_50_mb_upload(server, http):
    """The body is streamed to disk: peak traced memory stays a small fraction of the 50 MB file."""
    size, chunk = 50 * MB, 256 * 1024
    digest = hashlib.sha256()

    async def body():
        for i in range(size // chunk):
            block = hashlib.sha256(i.to_bytes(4, "big")).digest() * (chunk // 32)
            digest.update(block)
            yield block

    url = await created(http, server, "webinar.mp4", size)
    tracemalloc.start()
    try:
        resp = await patch(http, url, 0, body())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert resp.status == 204, await resp.text()
    assert peak < 8 * MB, f"peak {peak / MB:.1f} MB"
    assert server.accounts.completed[-1][2] == digest.hexdigest()


async def test_termination_removes_the_data(server, http):
    url = await created(http, server, "a.pdf", 1000)
    assert (await patch(http, url, 0, b"z" * 500)).status == 204
    assert len(list(server.store.iterdir())) == 2  # data and sidecar
    resp = await http.delete(url, headers={**TUS, "Authorization": "Bearer alice"})
    assert resp.status == 204 and resp.headers["Tus-Resumable"] == TUS_VERSION
    assert list(server.store.iterdir()) == []
    assert (await http.head(url, headers={**TUS, "Authorization": "Bearer alice"})).status == 404
    assert (await patch(http, url, 500, b"z")).status == 404


async def test_a_finished_upload_is_not_terminated(server, http):
    """Its data is the stored file now: DELETE would take the bytes from under the library's file."""
    url = await created(http, server, "a.pdf", 3)
    assert (await patch(http, url, 0, b"abc")).status == 204
    resp = await http.delete(url, headers={**TUS, "Authorization": "Bearer alice"})
    assert resp.status == 409 and (await error_of(resp))["code"] == "upload_finished"
    assert await head_offset(http, url) == 3


async def test_purge_removes_only_stale_unfinished_uploads(tmp_path, http):
    srv = Server(tmp_path / "u", Accounts(), max_size=MB)
    app = web.Application()
    store = add_upload_routes(app, PREFIX, srv.store, srv.accounts.hooks(MB))
    stale = store.create("alice", "a.txt", 10, False, {})
    done = store.create("alice", "b.txt", 0, False, {})
    done.completed = True
    store.save(done)
    assert [u.id for u in store.purge(3600, now=stale.created + 7200)] == [stale.id]
    assert store.get(stale.id) is None and store.get(done.id) is not None
    assert store.purge(3600) == []


def test_metadata_parsing():
    assert parse_metadata("filename ZmlsZS5wZGY=,into_room MQ==,flag") == {
        "filename": "file.pdf",
        "into_room": "1",
        "flag": "",
    }
    assert parse_metadata("") == {}
    with pytest.raises(SignalError):
        parse_metadata("filename ZmlsZS5wZGY=,filename ZmlsZS5wZGY=")
