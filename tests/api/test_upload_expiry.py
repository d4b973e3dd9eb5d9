"""Abandoned resumable uploads expire (issue 7 item 5, R-FILE-3): through the real tus API of the real
server on SQLite and PostgreSQL, with a tiny upload_expiry. An upload without progress for that long is
swept with its partial file, its reserved space is given back, and resuming it answers 410 Gone (tus
expiration)."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import os
import time
from pathlib import Path

import pytest

from mediaserver.store.models import LibraryFile
from signaling import keys
from signaling.api.uploads import UploadHooks, UploadStore, add_upload_routes
from tests.api.conftest import call, signup

TUS = {"Tus-Resumable": "1.0.0"}
MB = 1024 * 1024
EXPIRY = 1.0
tiny_expiry = pytest.mark.parametrize("api", [{"upload_expiry": EXPIRY}], indirect=True)


def _meta(**kw: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in kw.items())


async def _create(http, name: str, length: int, status: int = 201):
    async with http.post(
        "/api/v1/uploads",
        headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": _meta(filename=name)},
    ) as r:
        assert r.status == status, await r.text()
        return r.headers.get("Location"), r.headers.get("Upload-Expires"), (await r.read())


async def _patch(http, location: str, offset: int, data: bytes):
    async with http.patch(
        location,
        data=data,
        headers={**TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
    ) as r:
        return r.status, r.headers.get("Upload-Expires"), await r.read()


def _partial(api, location: str) -> Path:
    return Path(api.settings.files_dir) / "uploads" / f"{location.rsplit('/', 1)[1]}.bin"


async def _until(pred, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not await pred():
        assert time.monotonic() < end, "timed out"
        await asyncio.sleep(0.1)


@tiny_expiry
async def test_an_abandoned_upload_expires_and_gives_its_space_back(api):
    """R-FILE-3: a full account's half-done upload kept the space reserved; once it expires the space is free
    again, the partial file is gone, and resuming it answers 410."""
    http, me = await signup(api)
    async with http.options("/api/v1/uploads") as r:
        assert "expiration" in r.headers["Tus-Extension"].split(",")
    async with api.app[keys.DB].tx() as s:  # 1000 bytes left of the trial's 500 MB
        s.add(
            LibraryFile(
                account_id=me["account"]["id"],
                name="old.mp4",
                size=500 * MB - 1000,
                status="complete",
                storage_key="seeded-old",
            )
        )
    location, expires, _ = await _create(http, "talk.webm", 5000)  # starts with space left: accepted
    assert abs(email.utils.parsedate_to_datetime(expires).timestamp() - (time.time() + EXPIRY)) < 2.5
    status, expires, _ = await _patch(http, location, 0, b"x" * 1500)
    assert status == 204 and expires
    assert _partial(api, location).stat().st_size == 1500
    async with http.head(location, headers=TUS) as r:
        assert r.status == 200 and r.headers["Upload-Offset"] == "1500" and r.headers["Upload-Expires"]
    files = await call(http, "GET", "/api/v1/files", 200)
    assert files["usedBytes"] == 500 * MB + 4000  # reserved at its declared length
    _, _, body = await _create(http, "more.pdf", 10, 403)  # the storage is full
    assert b"quota_full" in body

    async def swept() -> bool:
        return (await call(http, "GET", "/api/v1/files", 200))["usedBytes"] == 500 * MB - 1000

    await _until(swept)
    assert not _partial(api, location).exists()
    assert [f["name"] for f in (await call(http, "GET", "/api/v1/files", 200))["items"]] == ["old.mp4"]
    status, _, body = await _patch(http, location, 1500, b"x" * 10)
    assert status == 410 and b"upload_expired" in body
    async with http.head(location, headers=TUS) as r:
        assert r.status == 410 and "Upload-Offset" not in r.headers
    other, _ = await signup(api)  # others still get 404
    async with other.head(location, headers=TUS) as r:
        assert r.status == 404
    location, _, _ = await _create(http, "more.pdf", 10)  # the space is back
    assert (await _patch(http, location, 0, b"0123456789"))[0] == 204


@tiny_expiry
async def test_an_upload_that_keeps_moving_does_not_expire(api):
    """Expiry counts from the last progress, not from the start: slow but steady uploads finish."""
    http, _ = await signup(api)
    location, _, _ = await _create(http, "slow.mp4", 600)
    for i in range(6):  # 6 x 0.4 s = 2.4 s, longer than the expiry
        await asyncio.sleep(0.4)
        status, expires, body = await _patch(http, location, i * 100, b"y" * 100)
        assert status == 204, body
    assert expires is None  # finished: it no longer expires
    files = await call(http, "GET", "/api/v1/files", 200)
    assert [(f["name"], f["status"], f["size"]) for f in files["items"]] == [("slow.mp4", "complete", 600)]
    await asyncio.sleep(EXPIRY + 0.6)  # a finished upload is a library file: never swept
    async with http.get(f"/api/v1/files/{files['items'][0]['id']}/content") as r:
        assert r.status == 200 and await r.read() == b"y" * 600


async def test_uploads_abandoned_while_the_server_was_down_are_swept_at_start(tmp_path):
    """R-FILE-3: the sweeper runs once when the application starts, before waiting for its first period."""
    from aiohttp import web

    store = UploadStore(tmp_path)
    old = store.create("alice", "a.mp4", 100, False, {})
    old.path.write_bytes(b"z" * 10)
    os.utime(old.path, (time.time() - 7200, time.time() - 7200))
    old.created -= 7200
    store.save(old)
    fresh = store.create("alice", "b.mp4", 100, False, {})
    released = []
    app = web.Application()
    add_upload_routes(
        app,
        "/up",
        tmp_path,
        UploadHooks(lambda r: "alice", on_expire=lambda o, u: released.append(u.id), expiry=3600),
    )
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        assert released == [old.id] and not old.path.exists() and fresh.path.exists()
        assert store.tombstone(old.id) is not None and store.get(fresh.id) is not None
    finally:
        await runner.cleanup()
