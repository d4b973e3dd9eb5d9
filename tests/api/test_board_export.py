"""The whiteboard kept with an event's session and exported (issue 17, R-INT-5), on SQLite and PostgreSQL:
what is drawn over the WebSocket is saved through the room's journal (periodically while it changes, and when
the session ends) and comes back through the API as a PNG page and a PDF drawn on the server; another account
sees nothing."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import aiohttp
import pypdfium2
import sqlalchemy as sa
from PIL import Image
from pycrdt import Array

from mediaserver.store.models import SessionBoard
from signaling import keys
from tests.api.conftest import call, signup
from tests.api.test_event_rooms import host_key, room_token, ws_room
from tests.signaling.test_board import Board, b64


async def _download(http: aiohttp.ClientSession, path: str, content_type: str) -> bytes:
    async with http.get(path) as r:
        assert r.status == 200, await r.text()
        assert r.content_type == content_type
        assert "attachment" in r.headers["Content-Disposition"]
        return await r.read()


async def _saved(api: Any) -> list[bytes]:
    async with api.app[keys.DB].read() as s:
        return list(await s.scalars(sa.select(SessionBoard.state)))


async def test_a_sessions_board_is_saved_and_exported_as_png_and_pdf(api: Any) -> None:
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Drawn"})
    rid = ev["roomId"]
    rooms, journal = api.app[keys.ROOMS], api.app[keys.ROOMS].journal
    async with ws_room(api) as room:
        host, joined = await room.enter(
            await room_token(api, rid, "Olga", "olga@example.test", hostKey=host_key(ev))
        )
        await host.ok("host", action="start")
        board = rooms.find(rid).interaction.board
        board.save_seconds = 0.2  # what board_save_seconds sets: saved while the session goes on
        hb = Board(joined)
        await host.ok("board.update", update=hb.draw("rect", (100, 100, 500, 400), color="#0000ff", width=8))
        for _ in range(50):  # a tick or two
            await journal.flush()
            if await _saved(api):
                break
            await asyncio.sleep(0.1)
        assert len(await _saved(api)) == 1, "the periodic save did not happen"
        board.save_seconds = 3600
        await host.ok("board.update", update=hb.draw("pen", (600, 600, 700, 650, 800, 600), width=10))
        before = hb.doc.get_state()
        hb.pages.append(Array())
        await host.ok("board.update", update=b64(hb.doc.get_update(before)))
        note = hb.draw("note", (900, 100, 1200, 300), page=1, color="#333333", text="Итог")
        await host.ok("board.update", update=note)
        await host.ok("host", action="end")  # the session's end saves the last state
        await journal.flush()
    assert journal.failed == 0
    history = (await call(http, "GET", "/api/v1/history", 200))["items"]
    sid = next(h["sessionId"] for h in history if h["name"] == "Drawn")
    base = f"/api/v1/events/{ev['id']}/sessions/{sid}/board"

    one = Image.open(io.BytesIO(await _download(http, base + ".png", "image/png")))
    assert one.size == (1600, 900)
    px = one.convert("RGB")
    assert px.getpixel((100, 250)) == (0, 0, 255)  # the rectangle's left edge
    assert px.getpixel((300, 250)) == (255, 255, 255)  # its inside
    assert px.getpixel((650, 625))[0] > 150 and px.getpixel((650, 625))[1] < 100  # the red pen stroke
    two = Image.open(io.BytesIO(await _download(http, base + ".png?page=2", "image/png"))).convert("RGB")
    assert two.getpixel((1000, 250)) == (255, 236, 140)  # the sticky note on page 2
    assert two.getpixel((100, 250)) == (255, 255, 255)
    assert (await call(http, "GET", base + ".png?page=3", 400))["error"]["code"] == "bad_request"
    assert (await call(http, "GET", base + ".png?page=x", 400))["error"]["code"] == "bad_request"

    raw = await _download(http, base + ".pdf", "application/pdf")
    pdf = pypdfium2.PdfDocument(raw)
    assert len(pdf) == 2
    w, h = pdf[0].get_size()
    assert abs(w / h - 16 / 9) < 0.01 and 500 < w < 1000  # 1600 x 900 px at 150 dpi: 768 x 432 pt
    page = pdf[0].render(scale=1600 / w).to_pil().convert("RGB")
    blue = page.getpixel((103, 250))
    assert blue[2] > 150 and blue[0] < 90, blue  # the rectangle (JPEG-compressed in the PDF)
    pdf.close()

    # another account: the event is not theirs (404); a session without a board: 404 too
    other, _ = await signup(api)
    assert (await call(other, "GET", base + ".pdf", 404))["error"]["code"] == "not_found"
    ev2 = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Blank"})
    async with ws_room(api) as room:
        host, _j = await room.enter(
            await room_token(api, ev2["roomId"], "Olga", "olga@example.test", hostKey=host_key(ev2))
        )
        await host.ok("host", action="start")
        await host.ok("host", action="end")
    history = (await call(http, "GET", "/api/v1/history", 200))["items"]
    sid2 = next(h["sessionId"] for h in history if h["name"] == "Blank")
    msg = await call(http, "GET", f"/api/v1/events/{ev2['id']}/sessions/{sid2}/board.png", 404)
    assert "whiteboard" in msg["error"]["message"]
