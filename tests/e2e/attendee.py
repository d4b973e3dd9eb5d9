"""An attendee's side of a webinar's interaction (issue 16 item 9: chat R-INT-1, Q&A R-INT-2, polls R-INT-3,
the call to action R-INT-4, raised hands R-ROOM-3, reactions) and of what is presented (issue 17, R-MEDIA-8,
R-INT-5: a document, the shared video, the whiteboard) on the room page of any engine, with the host
as a WebSocket client (the engine under test is the attendee's). tests/e2e/test_firefox.py and
tests/e2e/test_webkit.py run :func:`interacts` in Firefox and in WebKit; Chromium has its own, fuller tests
(test_room_interaction.py, test_room_qa_cta.py, test_room_polls.py).

Everything the attendee does is a real click or real keys on the page; what the host gets is read from its
socket, and the call to action's counted click from the HTTP API (``GET /api/v1/history``)."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import time
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import mail_spool, signed_up
from tests.signaling.client import Client, wait_event
from tests.signaling.test_board import Board

# WebDriver key codes (Selenium's and Marionette's Keys.ENTER, Keys.SHIFT). A chord is sent as a call of its
# own (each call releases Shift): WebKitWebDriver and Marionette did not release it on NULL ("\ue000") within
# one call, and then Enter made a new line instead of sending.
ENTER, SHIFT = "\ue007", "\ue008"

POLL = {
    "name": "Mood",
    "kind": "poll",
    "questions": [{"text": "How is it?", "kind": "single", "options": [{"text": "good"}, {"text": "bad"}]}],
}


class Organiser:
    """A new account signed up through the server's mail spool (a server without smtp_host), its cookie."""

    def __init__(self, base: str, data_dir: Path, email: str) -> None:
        self.base = base
        self.cookie = signed_up(base, email, "correct horse battery", mail_spool(data_dir))

    def call(self, method: str, path: str, body: Any = None) -> Any:
        req = urllib.request.Request(
            self.base + path,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Content-Type": "application/json", "Cookie": self.cookie},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return json.loads(raw) if raw else None

    def upload(self, name: str, data: bytes) -> int:
        """A file into the account's library (tus: create, then one PATCH); its file id."""
        meta = f"filename {base64.b64encode(name.encode()).decode()}"
        head = {"Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)), "Upload-Metadata": meta}
        req = urllib.request.Request(
            f"{self.base}/api/v1/uploads", data=b"", method="POST", headers={**head, "Cookie": self.cookie}
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            location = urllib.parse.urljoin(self.base + "/", r.headers["Location"])
        send = {
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
            "Cookie": self.cookie,
        }
        with urllib.request.urlopen(
            urllib.request.Request(location, data=data, method="PATCH", headers=send), timeout=30
        ) as r:
            assert r.status == 204, r.status
        files = self.call("GET", "/api/v1/files")["items"]
        return int(next(f["id"] for f in files if f["name"] == name))


def png() -> bytes:
    """A valid 1x1 red PNG (tests/api/test_polls.py's has a wrong IDAT checksum and a cut IEND chunk, which
    Chromium and Firefox happen to tolerate)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)  # 1x1, 8 bits, RGBA
    pixels = zlib.compress(b"\x00\xff\x00\x00\xff")  # filter 0, one red pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


class Host:
    """The host on the room's WebSocket, driven synchronously from the test (its own event loop)."""

    def __init__(self, base: str, token: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.http, ws = self.loop.run_until_complete(self._connect(base.replace("http", "ws", 1) + "/ws"))
        self.client = Client(ws)
        self.joined = self.ok("join", token=token)

    @staticmethod
    async def _connect(url: str) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]:
        http = aiohttp.ClientSession()
        return http, await http.ws_connect(url)

    def ok(self, method: str, **params: Any) -> dict[str, Any]:
        return self.loop.run_until_complete(self.client.ok(method, **params))

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        return self.loop.run_until_complete(self.client.call(method, **params))

    def event(self, kind: str, pred: Callable[[dict[str, Any]], bool], timeout: float = 10) -> dict[str, Any]:
        """The newest interaction event of ``kind`` this host got that ``pred`` accepts (waiting for it)."""
        return self.loop.run_until_complete(wait_event(self.client, kind, pred, timeout))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.ws.close())
        self.loop.run_until_complete(self.http.close())
        self.loop.close()


def deck() -> bytes:
    """A 2-page PDF: page 1 red, page 2 green (Pillow)."""
    import io

    from PIL import Image

    pages = [Image.new("RGB", (400, 300), c) for c in ((220, 30, 30), (30, 160, 60))]
    out = io.BytesIO()
    pages[0].save(out, "PDF", save_all=True, append_images=pages[1:], resolution=72)
    return out.getvalue()


def clip(seconds: int = 12, fps: int = 10) -> bytes:
    """A VP8 WebM made with PyAV (a moving gradient, a keyframe every 0.5 s), as tests/e2e/test_room_player.py
    makes its own: WebKitGTK plays it with GStreamer's vpxdec (gstreamer1.0-plugins-good); it has no H.264
    decoder here (no gstreamer1.0-libav), so an MP4 would not play in it."""
    import io
    from fractions import Fraction

    import av
    import numpy as np

    out = io.BytesIO()
    with av.open(out, "w", format="webm") as box:
        stream = box.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.codec_context.gop_size = fps // 2
        stream.options = {"deadline": "realtime", "cpu-used": "8", "kf-max-dist": str(fps // 2)}
        for i in range(seconds * fps):
            img = np.zeros((96, 160, 3), dtype=np.uint8)
            img[:, :, 0] = (np.arange(160) + i * 8) % 256
            img[:, :, 2] = i * 4 % 256
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                box.mux(packet)
        for packet in stream.encode():
            box.mux(packet)
    return out.getvalue()


def video_in_step(js: Callable[..., Any], within: float = 0.3) -> dict[str, Any] | None:
    """The page's shared video (room/player.js ``measure()``) playing within ``within`` s of where the
    server's state says it is, by the page's estimate of the server's clock and by the test's clock (the
    server runs on this machine), as tests/e2e/test_room_player.py measures; None until it is."""
    t0 = time.time() * 1000
    m = js("return window.roomPlayer && window.roomPlayer.measure();")
    t1 = time.time() * 1000
    if not m or m["paused"]:
        return None
    st = m["state"]
    m["byTestClock"] = st["position"] + max(0.0, (t0 + t1) / 2 - st["at"]) / 1000 * st["rate"]
    m["slack"] = (t1 - t0) / 2000 * st["rate"]
    ok = abs(m["diff"]) < within and abs(m["currentTime"] - m["byTestClock"]) < within + m["slack"]
    return m if ok else None


def board_at(js: Callable[..., Any], x: int, y: int) -> list[int] | None:
    """The board's canvas (1600 x 900, the board's own units) at (x, y), while the board shows."""
    return js(
        "const c = document.querySelector('#board-canvas');"
        "if (!c || document.querySelector('#board').hidden) return null;"
        "const p = c.getContext('2d').getImageData(arguments[0], arguments[1], 1, 1).data;"
        "return [p[0], p[1], p[2]];",
        x,
        y,
    )


def canvas_middle(js: Callable[..., Any]) -> list[int] | None:
    return js(
        "const c = document.querySelector('#doc-canvas');"
        "if (!c || !c.width || document.querySelector('#doc-view').hidden) return null;"
        "const p = c.getContext('2d').getImageData(c.width >> 1, c.height >> 1, 1, 1).data;"
        "return [p[0], p[1], p[2]];"
    )


def near(px: list[int] | None, want: list[int]) -> bool:
    return px is not None and all(abs(a - b) < 40 for a, b in zip(px, want, strict=True))


def poll(fn: Callable[[], Any], pred: Callable[[Any], bool], what: str, timeout: float = 10) -> Any:
    end = time.monotonic() + timeout
    while True:
        got = fn()
        if pred(got):
            return got
        assert time.monotonic() < end, f"{what}: {got!r}"
        time.sleep(0.1)


def interacts(
    base: str,
    data_dir: Path,
    d: Any,
    element: Callable[[str], Any],
    engine: str,
    loaded: Callable[[], None] = lambda: None,
) -> None:
    """A webinar of a new organiser with a saved poll; the host on a WebSocket; ``d`` (the engine's driver,
    with ``get`` and ``execute_script``) joins as an attendee and, with real clicks and keys on
    ``element(css)``, chats publicly and privately, asks and upvotes, answers the poll and sees its results,
    raises a hand and claps, draws the PDF the host shows (pdf.js) following its page, plays the video
    the host plays within 0.3 s of the server's state, draws the host's whiteboard stroke, and clicks the call
    to action (counted: the API says so). ``loaded()`` runs once the room page has loaded (WebKit's error
    watch)."""
    org = Organiser(base, data_dir, f"olga-{engine.lower()}@example.test")
    ev = org.call(
        "POST", "/api/v1/events", {"kind": "permanent", "name": f"{engine} webinar", "roomType": "webinar"}
    )
    good = {"text": "good", "imageFileId": org.upload("good.png", png())}  # shown from a signed /play URL
    body = {**POLL, "questions": [{**POLL["questions"][0], "options": [good, {"text": "bad"}]}]}
    saved = org.call("POST", f"/api/v1/events/{ev['id']}/polls", body)
    started = org.call("POST", f"/api/v1/events/{ev['id']}/start")
    host = Host(base, started["hostToken"])

    def js(script: str, *args: Any) -> Any:
        return d.execute_script(script, *args)

    def state() -> dict[str, Any]:
        return js("return window.roomState ? JSON.parse(JSON.stringify(window.roomState)) : {};") or {}

    def texts(css: str) -> list[str]:
        return js("return [...document.querySelectorAll(arguments[0])].map((e) => e.textContent);", css)

    def shown(css: str) -> bool:
        return bool(
            js("const e = document.querySelector(arguments[0]); return !!e && !e.closest('[hidden]');", css)
        )

    try:
        name = f"{engine} Fan"
        d.get(f"{base}/room/{ev['roomId']}?name={name.replace(' ', '%20')}&email=fan@example.org&autojoin=1")
        poll(lambda: js("return !!window.roomState;"), bool, "the page")
        loaded()
        me = poll(state, lambda s: s.get("screen") == "room" and s.get("role") == "attendee", "joined", 20)
        mine = me["self"]["id"]

        # Chat: the attendee's message reaches the host, the host's reaches the page.
        element("#btn-chat").click()
        poll(lambda: shown("#chat-text"), bool, "the chat panel")
        # Shift+Enter is a new line, Enter sends; Cyrillic typed as keys
        for keys in (f"Hello from {engine}", SHIFT + ENTER, "Привет", ENTER):
            element("#chat-text").send_keys(keys)
        hello = f"Hello from {engine}\nПривет"
        got = host.event("chat", lambda e: e["text"] == hello)
        assert got["from"]["id"] == mine and "to" not in got, got
        host.ok("chat.send", text="Welcome!")
        poll(lambda: texts("#chat-list .text"), lambda t: t == [hello, "Welcome!"], "the host's message")
        # ... and a private one to the host and presenters, chosen in the composer's list.
        element("#chat-to option[value='staff']").click()
        assert js("return document.querySelector('#chat-to').value;") == "staff"
        element("#chat-text").send_keys("Just for the host", ENTER)
        got = host.event("chat", lambda e: e["text"] == "Just for the host")
        assert got["to"] == "staff" and got["from"]["id"] == mine, got
        poll(
            lambda: texts("#chat-list .private .text"), lambda t: t == ["Just for the host"], "marked private"
        )

        # Q&A: the host opens it; the attendee asks in its tab, then upvotes the question.
        host.ok("qa.open")
        poll(lambda: shown("#interact-tabs button[data-tab='qa']"), bool, "the Q&A tab")
        element("#interact-tabs button[data-tab='qa']").click()
        element("#qa-text").send_keys("Will the slides be shared?")
        element("#qa-send").click()
        q = host.event("question", lambda e: e.get("text") == "Will the slides be shared?")
        poll(
            lambda: texts("#qa-list .question .text"), lambda t: t == ["Will the slides be shared?"], "asked"
        )
        element("#qa-list .question button.vote").click()
        host.event("questionVotes", lambda e: e["votes"].get(q["id"]) == 1)
        poll(lambda: texts("#qa-list .votes"), lambda t: t == ["1"], "the vote")

        # A poll: the host launches it, the attendee's Polls tab opens with the form; answered; results shown.
        host.ok("poll.launch", poll=saved["id"])
        poll(lambda: shown("#poll-form"), bool, "the poll form")
        img = (
            "const i = document.querySelector('#poll-questions img');"
            "return i && i.complete && i.naturalWidth;"
        )
        poll(lambda: js(img), lambda w: w == 1, "the option's image")  # the 1x1 PNG, from a signed /play URL
        element('#poll-questions input[name="poll-q-1"][value="1"]').click()
        element("#poll-submit").click()
        poll(lambda: shown("#poll-thanks"), bool, "the thanks")
        host.event("pollResults", lambda e: e.get("respondents") == 1)
        host.ok("poll.close")
        host.ok("poll.showResults", shown=True)
        counts = poll(
            lambda: texts("#poll-results .poll-count"), lambda t: t == ["1 · 100%", "0 · 0%"], "the results"
        )
        assert shown("#poll-results"), counts

        # A raised hand: the host sees it in its queue; a reaction: the host gets the count.
        element("#btn-hand").click()
        got = host.event("hand", lambda e: e.get("raised") is True)
        assert got["participant"] == mine, got
        poll(state, lambda s: s["hand"]["raised"] is True, "the page's hand")
        element("#btn-react").click()
        poll(lambda: shown("#react-menu button[data-emoji='👏']"), bool, "the reactions' row")
        element("#react-menu button[data-emoji='👏']").click()
        host.event("reactions", lambda e: e["counts"].get("👏", 0) >= 1)
        poll(state, lambda s: s["reactions"]["counts"].get("👏", 0) >= 1, "the page's clap")

        # A document on the stage (issue 17): a library PDF brought into the room by the host (join token),
        # shown to everyone; this engine draws it with pdf.js (page 1 red), then follows to page 2 (green).
        def into_room(file_id: int) -> None:
            req = urllib.request.Request(
                f"{base}/api/v1/rooms/{ev['roomId']}/files",
                data=json.dumps({"fileId": file_id}).encode(),
                method="POST",
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {started['hostToken']}",
                },
            )
            with urllib.request.urlopen(req, timeout=30) as r:
                assert r.status == 201

        pdf = org.upload("deck.pdf", deck())
        into_room(pdf)
        poll(lambda: "error" not in host.call("doc.show", file=pdf), bool, "the PDF checked and shown", 20)
        for page, colour in ((1, [220, 30, 30]), (2, [30, 160, 60])):
            if page == 2:
                host.ok("doc.page", page=2)
            poll(lambda: canvas_middle(js), lambda px, c=colour: near(px, c), f"page {page} drawn", 20)
        assert state()["doc"]["page"] == 2 and state()["doc"]["pages"] == 2

        # The shared video (issue 17 item 2): the host plays a library video to everyone over its WebSocket;
        # this engine's <video> plays it within 0.3 s of where the server's state says it is.
        video = org.upload("clip.webm", clip())
        into_room(video)
        host.ok("player.load", file=video)
        m = poll(lambda: video_in_step(js), bool, "the video playing in step", 20)
        assert m["state"]["source"]["file"] == video, m
        first = m["currentTime"]  # and a second later it has played on, still in step
        m = poll(lambda: video_in_step(js), lambda m: bool(m) and m["currentTime"] > first + 1, "on", 10)
        print(f"{engine}: the video at {m['currentTime']:.3f} s, {m['diff']:+.3f} s from the state", m)
        assert not shown("#doc-view") and shown("#player-stage"), "the video took the stage"

        # The whiteboard (issue 17 item 3): the host shows it and draws a thick red line (a Yjs update made
        # with pycrdt, tests/signaling/test_board.py); this engine draws it on its canvas.
        host.ok("board.show", shown=True)
        poll(lambda: board_at(js, 800, 100), lambda px: near(px, [255, 255, 255]), "the empty board", 10)
        board = Board(host.joined)
        host.ok("board.update", update=board.draw("pen", points=(200, 450, 1400, 450), width=16))
        red = [208, 48, 48]  # the stroke's #d03030
        poll(lambda: board_at(js, 800, 450), lambda px: near(px, red), "the host's stroke drawn", 10)
        assert state()["board"]["shapes"] == 1 and not state()["board"]["canDraw"], state()["board"]
        assert not shown("#player-stage"), "the board took the stage"

        # The call to action: shown to the attendee, clicked (a real click), counted once by the server. Last:
        # its link opens a tab, and Firefox then hides this one (visibilityState 'hidden'), where the page's
        # requestAnimationFrame, which paints the board, hardly runs.
        host.ok("cta.show", text="Get the slides", button="Open", url=f"{base}/healthz")
        poll(lambda: shown("#cta-card"), bool, "the call to action")
        assert texts("#cta-card-text") == ["Get the slides"] and texts("#cta-card-go") == ["Open"]
        element("#cta-card-go").click()
        host.event("ctaClicks", lambda e: e["clicks"] == 1)

        def clicks() -> Any:
            return [h["ctaClicks"] for h in org.call("GET", "/api/v1/history")["items"]]

        poll(clicks, lambda c: c == [1], "the click in the history", 15)
    finally:
        host.close()
