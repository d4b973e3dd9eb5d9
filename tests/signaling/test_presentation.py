"""The document on the stage through the real WebSocket (issue 17, R-MEDIA-8): the host or a presenter shows
a PDF of the room, turns pages, zooms and lets attendees browse; everyone gets one `doc` event per change, a
late joiner opens on the current page; attendees cannot drive it; bad input and files that are not
documents (or not the room's) are refused with a precise error and change nothing. The event, its room
upload and the tokens go through the HTTP API (SQLite)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.api.conftest import api, call, signup, smtp  # noqa: F401  (the real server and its fixtures)
from tests.api.test_event_rooms import room_token, ws_room
from tests.api.test_on_demand import upload
from tests.api.test_room_files import _create, _patch
from tests.signaling.client import drain, events, wait_event

PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R 4 0 R]/Count 2>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"4 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


@pytest.fixture
async def database_url(tmp_path: Any) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/control.db"


async def room_upload(served: Any, token: str, room_id: str, name: str, data: bytes) -> int:
    """A file uploaded into the room with a host's join token (R-FILE-2): its id."""
    host = served.client(token)
    location = await _create(host, f"/api/v1/rooms/{room_id}/uploads", name, len(data))
    assert await _patch(host, location, 0, data) == len(data)
    listed = await call(host, "GET", f"/api/v1/rooms/{room_id}/files", 200)
    return next(f["id"] for f in listed["items"] if f["name"] == name)


async def show_when_ready(host: Any, file_id: int) -> dict[str, Any]:
    """doc.show once the room's PDF is checked (pypdfium2, on upload: 409 not_ready until then)."""
    for _ in range(100):
        got = await host.call("doc.show", file=file_id)
        if "error" not in got:
            return got["result"]["doc"]
        assert got["error"]["code"] == "not_ready", got
        await asyncio.sleep(0.1)
    raise AssertionError("the PDF was never ready")


async def test_the_staff_present_a_pdf_and_everyone_follows(api):  # noqa: F811
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Slides"})
    started = await call(http, "POST", f"/api/v1/events/{ev['id']}/start", 200)
    deck = await room_upload(api, started["hostToken"], ev["roomId"], "deck.pdf", PDF)
    clip = await room_upload(api, started["hostToken"], ev["roomId"], "clip.webm", b"\x1a\x45\xdf\xa3" * 64)
    library_pdf = (await upload(http, "elsewhere.pdf", PDF))["id"]  # the account's, not the room's
    async with ws_room(api) as room:
        host, _ = await room.enter(started["hostToken"])
        ann, joined = await room.enter(await room_token(api, ev["roomId"], "Ann", "ann@example.test"))
        assert joined["interaction"]["doc"] == {"doc": None}

        # attendees cannot; bad input and other files are refused and change nothing
        await ann.err("doc.show", "forbidden", file=deck)
        await host.err("doc.show", "bad_request", file="deck.pdf")
        await host.err("doc.show", "not_found", file=library_pdf)
        assert "not a document" in await host.err("doc.show", "not_a_document", file=clip)
        await host.err("doc.page", "no_document", page=2)

        shown = await show_when_ready(host, deck)
        assert shown["file"]["name"] == "deck.pdf" and shown["page"] == 1 and shown["free"] is False
        url = shown["file"]["url"]
        assert url == f"/api/v1/rooms/{ev['roomId']}/files/{deck}/document/pdf"  # checked (pypdfium2) first
        e = await wait_event(ann, "doc", lambda e: e["doc"] is not None)
        assert e["doc"] == shown
        # the participant reads the PDF with their own join token (pdf.js asks for ranges)
        reader = api.client(await room_token(api, ev["roomId"], "Ann", "ann@example.test"))
        async with reader.get(url, headers={"Range": "bytes=0-7"}) as r:
            assert r.status == 206 and await r.read() == b"%PDF-1.4"

        await ann.err("doc.page", "forbidden", page=2)
        for params in ({"page": 0}, {"page": 1.5}, {"page": True}):
            await host.err("doc.page", "bad_request", **params)
        for z in (0.1, 5, float("inf"), "2"):
            await host.err("doc.zoom", "bad_request", zoom=z)
        await host.err("doc.free", "bad_request", free="yes")
        await drain(ann, 0.3)
        before = len(events(ann, "doc"))
        await host.ok("doc.page", page=2)
        await host.ok("doc.zoom", zoom=1.5)
        last = (await host.ok("doc.free", free=True))["doc"]
        got = await wait_event(ann, "doc", lambda e: e["doc"] and e["doc"]["free"] is True)
        assert (got["doc"]["page"], got["doc"]["zoom"], got["doc"]["free"]) == (2, 1.5, True)
        assert len(events(ann, "doc")) - before == 3  # one event per change, in one or two frames

        # a late joiner opens on the current page
        _late, res = await room.enter(await room_token(api, ev["roomId"], "Lea", "lea@example.test"))
        assert res["interaction"]["doc"]["doc"] == last

        await host.ok("doc.stop")
        assert (await wait_event(ann, "doc", lambda e: e["doc"] is None))["doc"] is None
        await host.err("doc.zoom", "no_document", zoom=1)


async def test_one_item_on_the_stage_a_video_replaces_the_document_and_back(api):  # noqa: F811
    """Issue 17: the stage shows one presented item; a video played takes the document off it, a document
    shown stops the video, the whiteboard shown takes the document off and a document the board (each change
    one event for everyone, as usual)."""
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Stage"})
    started = await call(http, "POST", f"/api/v1/events/{ev['id']}/start", 200)
    deck = await room_upload(api, started["hostToken"], ev["roomId"], "deck.pdf", PDF)
    async with ws_room(api) as room:
        host, _ = await room.enter(started["hostToken"])
        ann, _ = await room.enter(await room_token(api, ev["roomId"], "Ann", "ann@example.test"))
        await show_when_ready(host, deck)
        await wait_event(ann, "doc", lambda e: e["doc"] is not None)
        await host.ok("player.load", youtube="dQw4w9WgXcQ")
        assert (await wait_event(ann, "doc", lambda e: e["doc"] is None))["doc"] is None
        _late, res = await room.enter(await room_token(api, ev["roomId"], "Lea", "lea@example.test"))
        assert res["interaction"]["doc"]["doc"] is None and res["interaction"]["player"]["player"]["source"]
        await host.ok("doc.show", file=deck)
        stopped = await wait_event(ann, "player", lambda e: e["player"]["source"] is None)
        assert stopped["player"]["playing"] is False
        # the whiteboard on everyone's stage takes the document off it; a document shown takes the board off
        await ann.err("board.show", "forbidden", shown=True)
        await host.err("board.show", "bad_request", shown="yes")
        assert await host.ok("board.show", shown=True) == {"shown": True}
        assert (await wait_event(ann, "boardShown", lambda e: e["shown"]))["shown"] is True
        await wait_event(ann, "doc", lambda e: e["doc"] is None and e["seq"] > stopped["seq"])
        _late2, res = await room.enter(await room_token(api, ev["roomId"], "Liv", "liv@example.test"))
        assert res["interaction"]["board"]["shown"] is True and res["interaction"]["doc"]["doc"] is None
        await host.ok("doc.show", file=deck)
        assert (await wait_event(ann, "boardShown", lambda e: not e["shown"]))["shown"] is False


async def test_the_staff_bring_a_library_document_into_the_room_and_present_it(api):  # noqa: F811
    """Issue 17: "a presenter picks a file from the library": the room's staff list the account's library
    documents and videos and bring one into the room (then present it); attendees can do neither; a file of
    another account, or one that is neither a document nor a video, is refused."""
    http, _ = await signup(api)
    other, _ = await signup(api, "someone@example.test")
    mine = (await upload(http, "annual.pdf", PDF))["id"]
    await upload(http, "notes.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    theirs = (await upload(other, "theirs.pdf", PDF))["id"]
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Library"})
    started = await call(http, "POST", f"/api/v1/events/{ev['id']}/start", 200)
    host = api.client(started["hostToken"])
    ann = api.client(await room_token(api, ev["roomId"], "Ann", "ann@example.test"))
    base = f"/api/v1/rooms/{ev['roomId']}"
    listed = await call(host, "GET", f"{base}/library", 200)
    assert [f["name"] for f in listed["items"]] == ["annual.pdf"] and listed["total"] == 1  # not the PNG
    assert (await call(ann, "GET", f"{base}/library", 403))["error"]["code"] == "forbidden"
    await call(ann, "POST", f"{base}/files", 403, json={"fileId": mine})
    await call(host, "POST", f"{base}/files", 404, json={"fileId": theirs})
    png = next(
        f["id"] for f in (await call(http, "GET", "/api/v1/files", 200))["items"] if f["name"] == "notes.png"
    )
    assert (await call(host, "POST", f"{base}/files", 415, json={"fileId": png}))["error"]["code"] == (
        "not_presentable"
    )
    got = await call(host, "POST", f"{base}/files", 201, json={"fileId": mine})
    assert got["id"] == mine and got["uploadedBy"] == "host"
    err = await call(host, "POST", f"{base}/files", 409, json={"fileId": mine})  # again: it is there
    assert err["error"]["code"] == "already_in_room"
    room_files = await call(ann, "GET", f"{base}/files", 200)
    assert [f["id"] for f in room_files["items"]] == [mine]
    assert (await call(host, "GET", f"{base}/library", 200))["total"] == 0  # in the room now
    # the same file in another event's room too (a deck shown in every webinar of a series)
    ev2 = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Other"})
    host2 = http  # its organiser (a session), who may bring files into it as its host may
    base2 = f"/api/v1/rooms/{ev2['roomId']}"
    listed = await call(host2, "GET", f"{base2}/library", 200)
    assert [(f["id"], f["otherEventIds"]) for f in listed["items"]] == [(mine, [ev["id"]])]
    assert (await call(host2, "POST", f"{base2}/files", 201, json={"fileId": mine}))["id"] == mine
    async with ws_room(api) as room:
        ws_host, _ = await room.enter(started["hostToken"])
        shown = await show_when_ready(ws_host, mine)
        assert shown["file"]["name"] == "annual.pdf"
        # presented in the other event's room too (the next webinar of the series: one live at a time)
        await call(http, "POST", f"/api/v1/events/{ev['id']}/end", 200)
        started2 = await call(http, "POST", f"/api/v1/events/{ev2['id']}/start", 200)
        ws_host2, _ = await room.enter(started2["hostToken"])
        shown2 = await show_when_ready(ws_host2, mine)
        assert shown2["file"]["url"] == f"{base2}/files/{mine}/document/pdf"
