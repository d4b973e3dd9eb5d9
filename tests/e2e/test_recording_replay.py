"""A published recording's watch page plays what was presented beside the video (issue 17 item 4, R-REC-4,
R-MEDIA-8, R-INT-5), in headless Chromium against a real `mediaserver serve`. An aiortc host publishes into a
webinar's room and, while the API records it, shows a PDF (each page its own colour) and turns its page, puts
the whiteboard on the stage and draws two shapes a few seconds apart, then plays a library video to the room.
The recording's public link opens the watch page: played from the start, it shows the document, then the
board, then the shared video at the moments they were on the stage; the board grows stroke by stroke; seeked
back, it shows the board as it was then and the document's page by its colour; the shared video stays where
the room's state says it was at that moment of the recording. The track and its files are read through the
public link only, and a file that was not on the stage is not served."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import urllib.error
import urllib.request
from typing import Any

import aiohttp
import pytest
from pycrdt import Array, Doc, Map

from tests.api.conftest import smtp  # noqa: F401  (the real SMTP server fixture of `served`)
from tests.e2e import browser
from tests.e2e.peers import join_and_publish
from tests.e2e.test_room_access import Organiser, served, shot, wait  # noqa: F401
from tests.e2e.test_room_documents import COLOURS, deck
from tests.e2e.test_room_player import make_video, room_upload

_why = browser.missing()
# media or timing bars (frames decoded, sync, loss, bitrates): CI runs this file with no other test beside it
pytestmark = [
    pytest.mark.skipif(_why is not None, reason=f"Chromium end-to-end tests need a browser: {_why}"),
    pytest.mark.alone,
]


def _ok(r: dict[str, Any]) -> dict[str, Any]:
    assert "result" in r, r
    return r["result"]


async def _present(base: str, org: Organiser, ev: dict[str, Any], pdf: int, other: int, vid: int) -> None:
    """The host's session: a document, two of its pages, the board drawn on twice, a video; recorded."""
    started = org.call("POST", f"/api/v1/events/{ev['id']}/start", None, 200)
    async with aiohttp.ClientSession() as http:
        sig, conn, _ = await join_and_publish(http, base, started["hostToken"])
        try:
            me = sig.joined["participant"]["id"]
            doc = Doc()
            doc.apply_update(base64.b64decode(sig.joined["interaction"]["board"]["update"]))
            pages = doc.get("pages", type=Array)

            def draw(sid: str, points: list[int], color: str) -> str:
                before = doc.get_state()
                shape = {"id": sid, "type": "rect", "color": color, "width": 30, "by": me}
                pages[0].append(Map({**shape, "points": Array(points)}))
                return base64.b64encode(doc.get_update(before)).decode()

            _ok(await sig.call("doc.show", file=pdf))  # before the recording: its first moment shows it
            await asyncio.sleep(1.5)
            org.call("POST", f"/api/v1/events/{ev['id']}/recording/start", None, 201)
            await asyncio.sleep(2)
            _ok(await sig.call("doc.page", page=2))
            await asyncio.sleep(2)
            _ok(await sig.call("board.show", shown=True))
            _ok(await sig.call("board.update", update=draw("a", [100, 100, 700, 800], "#d03030")))
            await asyncio.sleep(2.5)
            _ok(await sig.call("board.update", update=draw("b", [900, 100, 1500, 800], "#2b6cd4")))
            await asyncio.sleep(2.5)
            _ok(await sig.call("player.load", file=vid, position=1.0, playing=True))
            await asyncio.sleep(3.5)
            org.call("POST", f"/api/v1/events/{ev['id']}/recording/stop", None, 200)
            assert other != pdf  # uploaded into the room, never on the stage
        finally:
            await conn.close()
            await sig.ws.close()


def _get(url: str, accept: str = "*/*") -> tuple[int, str, bytes]:
    req = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def replay(d: Any) -> dict[str, Any]:
    return d.execute_script(
        "const r = window.replay || {}, v = document.querySelector('#rec');"
        "let px = null; const c = document.querySelector('#doc-canvas');"
        "if (r.item === 'doc' && c && c.width) {"
        "  const p = c.getContext('2d').getImageData(c.width >> 1, c.height >> 1, 1, 1).data;"
        "  px = [p[0], p[1], p[2]]; }"
        "const b = document.querySelector('#board-canvas');"
        "const q = b.getContext('2d').getImageData(100, 450, 1, 1).data;"
        "const s = b.getContext('2d').getImageData(900, 450, 1, 1).data;"
        "return {...JSON.parse(JSON.stringify(r)), t: v.currentTime, paused: v.paused,"
        "  px, left: [q[0], q[1], q[2]], right: [s[0], s[1], s[2]]};"
    )


def near(px: list[int] | None, want: tuple[int, int, int] | list[int]) -> bool:
    return px is not None and all(abs(a - b) < 40 for a, b in zip(px, want, strict=True))


def seek(d: Any, t: float) -> None:
    d.execute_script("const v = document.querySelector('#rec'); v.pause(); v.currentTime = arguments[0];", t)


@pytest.mark.timeout(180)
def test_the_watch_page_replays_the_document_the_board_and_the_shared_video(served):  # noqa: F811
    org = Organiser(served)
    ev = org.call(
        "POST", "/api/v1/events", {"kind": "permanent", "name": "Replayed talk", "roomType": "webinar"}, 201
    )
    pdf = room_upload(org, ev["roomId"], "deck.pdf", deck())
    other = room_upload(org, ev["roomId"], "notes.pdf", deck())
    vid = room_upload(org, ev["roomId"], "clip.webm", make_video(20))
    for fid in (pdf, other):  # a PDF is presented once its page count is checked
        end = time.monotonic() + 20
        while org.call("GET", f"/api/v1/rooms/{ev['roomId']}/files/{fid}/document", None, 200)["pages"] != 3:
            assert time.monotonic() < end, "the PDF was not checked"
            time.sleep(0.2)
    asyncio.run(_present(served, org, ev, pdf, other, vid))
    end = time.monotonic() + 60
    while (rec := org.call("GET", "/api/v1/recordings", None, 200)["items"][0])["status"] not in (
        "ready",
        "failed",
    ):
        assert time.monotonic() < end, rec
        time.sleep(0.3)
    assert rec["status"] == "ready", rec
    link = org.call("POST", f"/api/v1/recordings/{rec['id']}/publish", None, 200)["publicUrl"]
    token = link.rsplit("/", 1)[1]
    pub = f"{served}/r/{token}"

    # the public track: what was on the stage, times from the recording's start
    status, ctype, body = _get(f"{pub}/track")
    assert status == 200 and ctype.startswith("application/json"), (status, body[:200])
    track = json.loads(body)
    items = [
        (
            "board"
            if c["stage"]["board"]["shown"]
            else "player"
            if c["stage"]["player"]["source"]
            else "doc"
            if c["stage"]["doc"]
            else None,
            c,
        )
        for c in track["stage"]
    ]
    kinds = [k for k, _ in items]
    assert kinds[0] == "doc" and items[0][1]["t"] == 0.0 and items[0][1]["stage"]["doc"]["page"] == 1, kinds
    t_page2 = next(c["t"] for k, c in items if k == "doc" and c["stage"]["doc"]["page"] == 2)
    t_board = next(c["t"] for k, c in items if k == "board")
    t_video = next(c["t"] for k, c in items if k == "player")
    assert 1.0 < t_page2 < t_board < t_video < rec["duration"], (t_page2, t_board, t_video, rec["duration"])
    steps = track["board"]
    assert len(steps) >= 2 and steps[0]["t"] <= t_board + 1.5 < steps[-1]["t"], steps
    # the files the stage showed, under the public token (and nothing else of the library)
    doc_url = items[0][1]["stage"]["doc"]["file"]["url"]
    assert doc_url == f"/r/{token}/files/{pdf}/pdf"
    status, ctype, body = _get(served + doc_url)
    assert status == 200 and ctype == "application/pdf" and body[:5] == b"%PDF-"
    video = next(c for k, c in items if k == "player")["stage"]["player"]["source"]
    assert video["url"] == f"/r/{token}/files/{vid}" and "event" not in video
    status, ctype, body = _get(served + video["url"])
    assert status == 200 and ctype == "video/webm" and body[:4] == b"\x1a\x45\xdf\xa3"
    for path in (f"/files/{other}/pdf", f"/files/{other}", f"/files/{vid}/pdf", "/files/x/pdf"):
        status, _, body = _get(pub + path)
        assert status == 404 and b"not_found" in body, (path, status)
    # the link: a browser gets the page, a player the WebM
    status, ctype, body = _get(pub, "text/html,application/xhtml+xml")
    assert status == 200 and ctype.startswith("text/html") and b"replay.js" in body
    status, ctype, _ = _get(pub)
    assert status == 200 and ctype == "video/webm"

    with browser.chromium() as d:
        d.set_window_size(1280, 800)
        d.get(pub)
        wait(d, lambda d: replay(d).get("ready"), "the watch page")
        assert replay(d)["item"] == "doc"
        d.execute_script("document.querySelector('#rec').play();")
        seen: dict[str, float] = {}
        shared: list[float] = []
        end = time.monotonic() + rec["duration"] + 15
        while time.monotonic() < end:
            r = replay(d)
            if r["item"] and r["item"] not in seen:
                seen[r["item"]] = r["t"]
            if r["item"] == "doc" and r["t"] > t_page2 + 0.6:
                assert r["doc"]["page"] == 2, r
            if r["item"] == "board" and r["t"] > t_board + 1.2 and r["t"] < steps[-1]["t"] - 0.3:
                assert r["board"]["shapes"] == 1 and near(r["left"], (208, 48, 48)), r
            if r["item"] == "player" and r["shared"] and r["shared"]["time"] is not None and not r["paused"]:
                if r["t"] > t_video + 1.5:  # settled
                    shared.append(r["shared"]["time"] - r["shared"]["want"])
            if r["paused"] and r["t"] > t_video + 1:
                break
            time.sleep(0.1)
        assert list(seen) == ["doc", "board", "player"], seen
        assert abs(seen["board"] - t_board) < 0.5 and abs(seen["player"] - t_video) < 0.5, (
            seen,
            t_board,
            t_video,
        )
        assert shared and max(abs(x) for x in shared) < 0.3, shared
        want_pos = 1.0 + (rec["duration"] - t_video)  # the video played from 1 s since it was loaded
        assert abs(replay(d)["shared"]["want"] - want_pos) < 0.5

        # seeked back: the board as it was then (one shape, then both), the document at its page
        seek(d, steps[-1]["t"] + 0.5)
        r = wait(d, lambda d: (x := replay(d))["item"] == "board" and x["board"]["shapes"] == 2 and x, "both")
        assert near(r["left"], (208, 48, 48)) and near(r["right"], (43, 108, 212)), r
        shot(d, "recording-replay-1280x800.png")
        seek(d, t_board + 0.3)
        r = wait(d, lambda d: (x := replay(d))["item"] == "board" and x["board"]["shapes"] == 1 and x, "one")
        assert near(r["left"], (208, 48, 48)) and near(r["right"], (255, 255, 255)), r
        seek(d, (t_page2 + t_board) / 2)
        r = wait(
            d,
            lambda d: (x := replay(d))["doc"] and x["doc"]["drawn"] == 2 and near(x["px"], COLOURS[1]) and x,
            "page 2",
        )
        seek(d, t_page2 / 2)
        wait(
            d,
            lambda d: (x := replay(d))["doc"] and x["doc"]["drawn"] == 1 and near(x["px"], COLOURS[0]),
            "page 1",
        )

    # unpublished: the link, its track and its files are gone
    org.call("POST", f"/api/v1/recordings/{rec['id']}/unpublish", None, 200)
    for path in ("/track", doc_url.removeprefix(f"/r/{token}"), "/video"):
        assert _get(pub + path)[0] == 404, path
    status, ctype, _ = _get(pub, "text/html")
    assert status == 404 and ctype.startswith("text/html")
