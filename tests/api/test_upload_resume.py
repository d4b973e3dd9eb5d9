"""Resumable uploads (tus 1.0, R-FILE-1..3) through the real /api/v1/uploads endpoint of the real server on
SQLite and PostgreSQL: a PATCH cut off mid-body keeps what reached the disk, HEAD tells the offset, a PATCH
from there finishes the file, which downloads byte for byte; the space is counted right all along; nobody
else reaches the upload; and memory stays bounded whatever the file's size."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
import tracemalloc

import aiohttp
from yarl import URL

from tests.api.conftest import Served, call, signup

TUS = {"Tus-Resumable": "1.0.0"}
MB = 1024 * 1024
OCTETS = "application/offset+octet-stream"


def _meta(**kw: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in kw.items())


def _pattern(size: int, seed: bytes) -> bytes:
    """Deterministic bytes that do not repeat (a cut at the wrong place would show in the digest)."""
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(seed + i.to_bytes(8, "big")).digest()
        i += 1
    return bytes(out[:size])


async def _api_client(api: Served) -> tuple[aiohttp.ClientSession, str, dict]:
    """A fresh account's API client and its key (the raw-socket request below sends it too)."""
    http, me = await signup(api)
    key = (await call(http, "POST", "/api/v1/api-keys", 201, json={"name": "uploader"}))["key"]
    return api.client(key), key, me


async def _create(http: aiohttp.ClientSession, name: str, length: int) -> str:
    async with http.post(
        "/api/v1/uploads",
        headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": _meta(filename=name)},
    ) as r:
        assert r.status == 201, await r.text()
        assert r.headers["Upload-Offset"] == "0"
        return r.headers["Location"]


async def _head(http: aiohttp.ClientSession, location: str) -> tuple[int, int]:
    async with http.head(location, headers=TUS) as r:
        assert r.status == 200 and r.headers["Tus-Resumable"] == "1.0.0"
        assert r.headers["Cache-Control"] == "no-store"
        return int(r.headers["Upload-Offset"]), int(r.headers["Upload-Length"])


async def _until(pred, timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while not await pred():
        assert time.monotonic() < end, "timed out"
        await asyncio.sleep(0.02)


async def _cut_off_patch(api: Served, key: str, location: str, data: bytes, first: int, more: int) -> None:
    """A PATCH that declares all of ``data`` but whose connection closes after ``first`` + ``more`` bytes
    of it: the client went away mid-body. Waits until the server has the first part on disk before sending
    the rest."""
    url = URL(location)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    writer.write(
        (
            f"PATCH {url.raw_path} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
            f"Authorization: Bearer {key}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
            f"Content-Type: {OCTETS}\r\nContent-Length: {len(data)}\r\n\r\n"
        ).encode()
        + data[:first]
    )
    await writer.drain()
    owner = api.client(key)

    async def first_part_on_disk() -> bool:
        return (await _head(owner, location))[0] >= first

    await _until(first_part_on_disk)
    writer.write(data[first : first + more])
    await writer.drain()
    writer.close()  # gone, with the body unfinished
    await writer.wait_closed()


async def _resume(http: aiohttp.ClientSession, location: str, data: bytes) -> int:
    """What a tus client does after an interruption: HEAD, then PATCH the rest from the offset the server has
    (the server may still be finishing the cut-off request: 409 upload_busy, try again)."""
    end = time.monotonic() + 15
    while True:
        offset, _ = await _head(http, location)
        async with http.patch(
            location,
            data=data[offset:],
            headers={**TUS, "Upload-Offset": str(offset), "Content-Type": OCTETS},
        ) as r:
            if (
                r.status == 409
                and (await r.json())["error"]["code"] == "upload_busy"
                and time.monotonic() < end
            ):
                await asyncio.sleep(0.05)
                continue
            assert r.status == 204, (r.status, await r.text())
            return int(r.headers["Upload-Offset"])


async def _download(http: aiohttp.ClientSession, file_id: int) -> bytes:
    async with http.get(f"/api/v1/files/{file_id}/content") as r:
        assert r.status == 200, await r.text()
        return await r.read()


async def test_an_interrupted_patch_resumes_from_head_and_the_file_is_whole(api):
    http, key, _ = await _api_client(api)
    data = _pattern(3 * MB + 17, b"resume")
    location = await _create(http, "lecture.mp4", len(data))

    await _cut_off_patch(api, key, location, data, first=MB, more=300_000)

    async def settled() -> bool:  # the cut-off request is over: nothing more reaches the disk
        async with http.patch(
            location, data=b"", headers={**TUS, "Upload-Offset": "0", "Content-Type": OCTETS}
        ) as r:
            return r.status == 409 and (await r.json())["error"]["code"] == "offset_mismatch"

    await _until(settled)
    offset, length = await _head(http, location)
    assert MB <= offset <= MB + 300_000 and length == len(data)  # what reached the disk is kept
    files = await call(http, "GET", "/api/v1/files", 200)
    assert [(f["name"], f["status"], f["size"]) for f in files["items"]] == [
        ("lecture.mp4", "uploading", len(data))
    ]
    assert files["usedBytes"] == len(data)  # reserved at its declared length while unfinished

    # resuming from anywhere but the server's offset is refused with the offset to use
    async with http.patch(
        location,
        data=data[offset + 1 :],
        headers={**TUS, "Upload-Offset": str(offset + 1), "Content-Type": OCTETS},
    ) as r:
        assert r.status == 409
        err = (await r.json())["error"]
        assert err["code"] == "offset_mismatch" and f"the upload is at {offset}" in err["message"]
    assert await _head(http, location) == (offset, len(data))

    assert await _resume(http, location, data) == len(data)
    files = await call(http, "GET", "/api/v1/files", 200)
    [f] = files["items"]
    assert (f["name"], f["status"], f["size"], f["eventId"]) == ("lecture.mp4", "complete", len(data), None)
    assert files["usedBytes"] == len(data)
    assert await _download(http, f["id"]) == data
    assert await _head(http, location) == (len(data), len(data))
    # a finished upload takes no more bytes and is not terminated from under its file
    async with http.patch(
        location, data=b"x", headers={**TUS, "Upload-Offset": str(len(data)), "Content-Type": OCTETS}
    ) as r:
        assert r.status == 413
    async with http.delete(location, headers=TUS) as r:
        assert r.status == 409 and (await r.json())["error"]["code"] == "upload_finished"
    assert await _download(http, f["id"]) == data


async def test_another_account_cannot_see_resume_or_end_the_upload(api):
    http, key, me = await _api_client(api)
    data = _pattern(200_000, b"private")
    location = await _create(http, "notes.pdf", len(data))
    async with http.patch(
        location, data=data[:50_000], headers={**TUS, "Upload-Offset": "0", "Content-Type": OCTETS}
    ) as r:
        assert r.status == 204 and r.headers["Upload-Offset"] == "50000"

    other, _, _ = await _api_client(api)
    async with other.head(location, headers=TUS) as r:
        assert r.status == 404 and "Upload-Offset" not in r.headers
    async with other.patch(
        location, data=b"evil", headers={**TUS, "Upload-Offset": "50000", "Content-Type": OCTETS}
    ) as r:
        assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"
    async with other.delete(location, headers=TUS) as r:
        assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"
    async with aiohttp.ClientSession() as anonymous:
        for method in ("HEAD", "PATCH", "DELETE"):
            async with anonymous.request(
                method,
                location,
                data=b"x" if method == "PATCH" else None,
                headers={**TUS, "Upload-Offset": "50000", "Content-Type": OCTETS},
            ) as r:
                assert r.status == 401, method
    assert (await call(other, "GET", "/api/v1/files", 200))["usedBytes"] == 0
    # untouched: the owner resumes and finishes it
    assert await _head(http, location) == (50_000, len(data))
    assert await _resume(http, location, data) == len(data)
    [f] = (await call(http, "GET", "/api/v1/files", 200))["items"]
    assert await _download(http, f["id"]) == data
    await call(other, "GET", f"/api/v1/files/{f['id']}/content", 404)


async def test_a_large_upload_streams_through_in_bounded_memory(api):
    """The server writes PATCH bodies to disk chunk by chunk: 32 MB through the real endpoint (the client
    in this same process sends it from a generator) never holds more than a few MB in Python memory."""
    http, _, _ = await _api_client(api)
    size, block = 32 * MB, 256 * 1024
    digest = hashlib.sha256()
    location = await _create(http, "recording.webm", size)

    async def body():
        for i in range(size // block):
            chunk = hashlib.sha256(i.to_bytes(8, "big")).digest() * (block // 32)
            digest.update(chunk)
            yield chunk

    tracemalloc.start()
    try:
        async with http.patch(
            location, data=body(), headers={**TUS, "Upload-Offset": "0", "Content-Type": OCTETS}
        ) as r:
            assert r.status == 204, await r.text()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MB, f"peak {peak / MB:.1f} MB"
    [f] = (await call(http, "GET", "/api/v1/files", 200))["items"]
    assert (f["status"], f["size"]) == ("complete", size)
    h = hashlib.sha256()
    async with http.get(f"/api/v1/files/{f['id']}/content") as r:
        async for chunk in r.content.iter_chunked(MB):
            h.update(chunk)
    assert h.hexdigest() == digest.hexdigest()
