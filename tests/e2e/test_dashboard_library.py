"""The organiser's web app, Library and Tickets (issue 20 items 1 and 4), in headless Chromium against a real
`mediaserver serve` with a real SMTP server, in one browser session. The browser reaches the server through
a small TCP relay of the test's own, which cuts the connection for real in the middle of file uploads
(every connection reset, new ones refused for a while, as a dropped network does): the page asks the server
how many bytes it has and goes on from there by itself, or at once with Resume once the network is back,
or after a reload when the same file is chosen again; one upload per file, never restarted, and the stored
files are byte-identical to the originals (R-FILE-1..4); a cancelled upload gives its space back. Then a
cp1251 CSV of contacts with Cyrillic names is imported (the page shows the encoding detected and the row
refused, with why; R-FILE-5, R-ACC-6), contacts and groups are edited, the live event is streamed to
nginx-rtmp (R-REC-6), a recording made by an aiortc host is played, trimmed with a preview between the in
and out points, published, sent, unpublished (R-REC-4) and offered on demand with lead capture (R-REC-5),
the manual payment provider is linked, a ticket order confirmed, re-sent and another rejected (R-BILL-10).
Each section is checked with axe-core ("label", "button-name", "link-name") and every control of it must be
reachable with Tab, in English and Russian and on a phone's width."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import re
import socket
import struct
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.api.conftest import smtp, text_of  # noqa: F401  (the real SMTP server fixture of `served`)
from tests.conftest import serve_mailing
from tests.e2e import browser
from tests.e2e.peers import join_and_publish
from tests.e2e.rtmp_server import available, rtmp_server
from tests.e2e.test_dashboard import _wait
from tests.e2e.test_room_access import MAILBOXES, OPERATOR_KEY, Organiser, guest, shot
from tests.e2e.test_room_page import errors

_why = browser.missing()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"Chromium end-to-end tests need a browser: {_why}")

AXE = Path(__file__).resolve().parents[2] / "signaling" / "static" / "vendor" / "axe-core" / "axe.min.js"
RULES = ["label", "button-name", "link-name"]
SIZE = 11 * 1024 * 1024 + 12345  # three chunks of 4 MB, the last one short
CSV = (
    "Имя;E-mail;Телефон;Компания\r\n"
    "Иван Петров;ivan@example.test;+7 495 000-00-01;Ромашка\r\n"
    "Мария Сидорова;maria@example.test;;Консерватория\r\n"
    "Без адреса;not-an-address;;\r\n"
    "Фёдор Достоевский;fedor@example.test;;Эра\r\n"
).encode("cp1251")


class Relay:
    """A TCP relay on loopback between the browser and the server that can drop the network:
    ``cut_after(n)`` resets every connection once n more bytes went upstream, then refuses new connections
    for ``down`` seconds. It keeps what went upstream per connection, to read the HTTP requests the page
    made."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.conns: list[tuple[socket.socket, socket.socket]] = []
        self.streams: list[bytearray] = []
        self.budget: int | None = None  # bytes upstream until the cut
        self.down_until = 0.0
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_after(self, n: int, down: float = 1.5) -> None:
        with self.lock:
            self.budget, self.down = n, down

    def restore(self) -> None:
        """The network is back: new connections get through."""
        with self.lock:
            self.down_until = 0.0

    def requests(self) -> list[tuple[str, str, str | None]]:
        """(method, path, Upload-Offset) of each request, in order per connection."""
        out = []
        for data in list(self.streams):
            for m in re.finditer(
                rb"(GET|POST|PATCH|HEAD|DELETE|PUT) (/\S*) HTTP/1\.1\r\n(.*?)\r\n\r\n", data, re.S
            ):
                offset = re.search(rb"(?im)^upload-offset: *(\d+)", m.group(3))
                out.append(
                    (m.group(1).decode(), m.group(2).decode(), offset.group(1).decode() if offset else None)
                )
        return out

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if time.monotonic() < self.down_until:  # the network is down: no connection gets through
                self._reset(client)
                continue
            server = socket.create_connection(("127.0.0.1", self.target))
            stream = bytearray()
            with self.lock:
                self.conns.append((client, server))
                self.streams.append(stream)
            threading.Thread(target=self._pipe, args=(client, server, stream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, None), daemon=True).start()

    @staticmethod
    def _reset(sock: socket.socket) -> None:
        """Drop the connection: a RST once closed (no lingering). The shutdown wakes the pipe thread blocked
        in recv() on it, without which the kernel would keep the socket open until that thread let go."""
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    def _pipe(self, src: socket.socket, dst: socket.socket, stream: bytearray | None) -> None:
        try:
            while data := src.recv(65536):
                if stream is not None:
                    with self.lock:
                        if self.budget is not None:
                            self.budget -= len(data)
                            if self.budget <= 0:  # the network drops now: this chunk is lost too
                                self.budget = None
                                self.cuts += 1
                                self.down_until = time.monotonic() + self.down
                                for a, b in self.conns:
                                    self._reset(a)
                                    self._reset(b)
                                self.conns.clear()
                                return
                    stream += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()
        with self.lock:
            for a, b in self.conns:
                self._reset(a)
                self._reset(b)


@pytest.fixture
def served(tmp_path, smtp) -> Iterator[str]:  # noqa: F811
    MAILBOXES.append(smtp)  # where the Organiser's sign-up mail arrives
    with serve_mailing(
        tmp_path / "server",
        smtp.port,
        MEDIASERVER_API_KEY=OPERATOR_KEY,
        MEDIASERVER_STREAM_SIZE="320x180",
        MEDIASERVER_OUTBOUND_ALLOW="127.0.0.1",  # nginx-rtmp listens on loopback
    ) as base:
        yield base


@pytest.fixture
def relay(served: str) -> Iterator[tuple[str, Relay]]:  # noqa: F811
    r = Relay(int(served.rsplit(":", 1)[1]))
    try:
        yield f"http://127.0.0.1:{r.port}", r
    finally:
        r.close()


def checked(d: Any, root: str) -> None:
    """axe-core's rules and Tab over the visible part of ``root`` (a CSS selector), as in
    test_dashboard_account.py: every visible, enabled control of root gets the focus once."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    if not d.execute_script("return !!window.axe;"):
        d.execute_script(AXE.read_text())
    found = d.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const only = {runOnly: {type: 'rule', values: arguments[1]}};"
        "axe.run(document.querySelector(arguments[0]), only)"
        ".then((r) => done(r.violations.map((v) => [v.id, v.nodes.map((n) => n.html)])),"
        "      (e) => done([['axe failed', String(e)]]));",
        root,
        RULES,
    )
    assert found == [], (root, found)
    count = d.execute_script(
        "window.__seen = new Set();"
        "if (!window.__tabbing) { window.__tabbing = true;"
        "  document.addEventListener('focusin', (e) => window.__seen.add(e.target)); }"
        "document.querySelector('.skip').focus();"
        "return [...document.querySelectorAll('a[href], button, input, select, textarea')]"
        ".filter((c) => c.getClientRects().length).length;"
    )
    # more presses than controls: a <video>'s own controls and scrolling table boxes (on a phone) take the
    # focus too
    ActionChains(d).send_keys(Keys.TAB * (2 * count + 20)).perform()
    missed = d.execute_script(
        "return [...document.querySelector(arguments[0])"
        ".querySelectorAll('a[href], button, input, select, textarea')]"
        ".filter((c) => c.getClientRects().length && !c.disabled && !window.__seen.has(c))"
        ".map((c) => c.outerHTML.slice(0, 120));",
        root,
    )
    assert missed == [], (root, missed)


async def _record(base: str, org: Organiser, ev: dict[str, Any], stay: threading.Event) -> None:
    """An aiortc host publishes into the live event's room while the API records about 4 s of it, then stays
    (for the stream) until ``stay`` is set."""
    started = org.call("POST", f"/api/v1/events/{ev['id']}/start", None, 200)
    async with aiohttp.ClientSession() as http:
        sig, conn, _ = await join_and_publish(http, base, started["hostToken"])
        try:
            await asyncio.sleep(1)
            rec = org.call("POST", f"/api/v1/events/{ev['id']}/recording/start", None, 201)
            await asyncio.sleep(4.5)
            org.call("POST", f"/api/v1/events/{ev['id']}/recording/stop", None, 200)
            end = time.monotonic() + 60
            while not stay.is_set() and time.monotonic() < end:
                await asyncio.sleep(0.2)
        finally:
            await conn.close()
            await sig.ws.close()
    end = time.time() + 30
    while org.call("GET", f"/api/v1/recordings/{rec['id']}", None, 200)["status"] != "ready":
        assert time.time() < end, "the recording did not become ready"
        await asyncio.sleep(0.3)


@pytest.mark.timeout(150)
def test_library_upload_resumes_import_recording_and_tickets(served, relay, tmp_path):  # noqa: F811
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, cutter = relay
    box = MAILBOXES[-1]
    org = Organiser(served)
    org.operator("plan", {"plan": "live"})
    email = org.call("GET", "/api/v1/me", None, 200)["user"]["email"]
    live = org.event(kind="permanent", name="Launch webinar")
    failed: list[BaseException] = []
    streamed = threading.Event()

    def record() -> None:
        try:
            asyncio.run(_record(served, org, live, streamed))
        except BaseException as e:  # shown by the test, not lost in the thread
            failed.append(e)

    recorder = threading.Thread(target=record, daemon=True)

    data = os.urandom(SIZE)
    movie = tmp_path / "Презентация запуска.mp4"
    movie.write_bytes(data)
    contacts_csv = tmp_path / "контакты.csv"
    contacts_csv.write_bytes(CSV)

    with browser.chromium() as d:
        find = d.find_element

        def shown(id_: str) -> bool:
            return bool(find(By.ID, id_).is_displayed())

        def text(id_: str) -> str:
            return str(find(By.ID, id_).text)

        def rows(body: str) -> list[list[str]]:
            return list(
                d.execute_script(
                    "return [...document.querySelectorAll(`#${arguments[0]} tr`)]"
                    ".map((r) => [...r.cells].map((c) => c.textContent));",
                    body,
                )
            )

        def click(css: str) -> None:
            """Click the element, found again if its list was drawn anew meanwhile."""

            def once() -> bool:
                try:
                    find(By.CSS_SELECTOR, css).click()
                except StaleElementReferenceException:
                    return False
                return True

            _wait(once)

        def drawn(name: str) -> bool:  # the section is shown and its lists drawn
            return (
                shown(f"section-{name}") and find(By.ID, f"section-{name}").get_attribute("aria-busy") is None
            )

        def section(name: str) -> None:
            find(By.CSS_SELECTOR, f".dash-nav a[data-section='{name}']").click()
            _wait(lambda: drawn(name))

        d.set_window_size(1280, 1000)
        d.get(base + "/dashboard")
        _wait(lambda: shown("login-view"))
        find(By.ID, "login-email").send_keys(email)
        find(By.ID, "login-password").send_keys("correct horse battery")
        find(By.ID, "login-submit").click()
        _wait(lambda: shown("section-events"))
        section("library")
        _wait(lambda: text("lib-files-note") == "No files yet.")
        assert "0 B of 2.0 GB used (0%)" == text("lib-quota-text"), text("lib-quota-text")
        checked(d, "#section-library")

        # ---- a resumable upload, the network cut in its second chunk: resumed from the server's offset
        t0 = time.monotonic()
        find(By.ID, "lib-upload-file").send_keys(str(movie))
        cutter.cut_after(6 * 1024 * 1024)
        find(By.ID, "lib-upload-start").click()
        _wait(lambda: find(By.ID, "lib-upload-box").get_attribute("data-state") == "interrupted", 20)
        assert "The connection dropped" in text("lib-upload-status"), text("lib-upload-status")
        shot(d, "dashboard-library-interrupted.png")
        try:
            _wait(lambda: find(By.ID, "lib-upload-box").get_attribute("data-state") == "done", 30)
        except AssertionError:
            print("DEBUG", text("lib-upload-status"), cutter.requests(), errors(d))
            raise
        took = time.monotonic() - t0
        assert cutter.cuts == 1
        resumed = int(find(By.ID, "lib-upload-box").get_attribute("data-resumed-from"))
        asked = cutter.requests()
        uploads = [r for r in asked if r[1].startswith("/api/v1/uploads")]
        assert [r[0] for r in uploads].count("POST") == 1, uploads  # one upload: never started again
        patches = sorted(int(r[2]) for r in uploads if r[0] == "PATCH")
        # chunks from 0 and 4 MB, the second cut off; HEAD, then on from the offset the server had (not a
        # chunk's boundary: what reached its disk), never from 0 again
        assert patches[:2] == [0, 4 * 1024 * 1024] and resumed in patches[2:], (patches, resumed)
        assert 4 * 1024 * 1024 < resumed < SIZE and resumed % (4 * 1024 * 1024), resumed
        assert "HEAD" in [r[0] for r in uploads], uploads
        assert f"{movie.name} is uploaded." == text("lib-upload-status")
        assert find(By.ID, "lib-upload-progress").get_attribute("value") == str(SIZE)
        _wait(lambda: movie.name in text("lib-files"))
        [row] = rows("lib-files")
        assert row[1:3] == ["Video", "11 MB"], row
        assert "11 MB of 2.0 GB used (0%)" == text("lib-quota-text")
        [stored] = org.call("GET", "/api/v1/files", None, 200)["items"]
        with org.opener.open(f"{served}/api/v1/files/{stored['id']}/content", timeout=30) as r:
            assert hashlib.sha256(r.read()).digest() == hashlib.sha256(data).digest()
        print(f"upload with one cut: {took:.1f} s, resumed at byte {resumed}")

        def uploads_made() -> int:
            return [r[:2] for r in cutter.requests()].count(("POST", "/api/v1/uploads"))

        def stored_intact(name: Path, content: bytes) -> None:
            files = org.call("GET", "/api/v1/files", None, 200)["items"]
            [f] = [f for f in files if f["name"] == name.name]
            with org.opener.open(f"{served}/api/v1/files/{f['id']}/content", timeout=30) as r:
                assert r.read() == content

        # ---- the network stays down: the page keeps asking, then Resume goes on at once when it is back
        second, third = tmp_path / "second.pdf", tmp_path / "third.mp3"
        more, most = os.urandom(5 * 1024 * 1024 + 7), os.urandom(5 * 1024 * 1024 + 11)
        second.write_bytes(more)
        third.write_bytes(most)
        find(By.ID, "lib-upload-file").send_keys(str(second))
        cutter.cut_after(1024 * 1024, down=60)
        find(By.ID, "lib-upload-start").click()
        _wait(lambda: "in 2 s" in text("lib-upload-status"), 10)  # its first try to go on failed too
        assert shown("lib-upload-resume")
        checked(d, "#section-library")
        cutter.restore()
        pressed = time.monotonic()
        find(By.ID, "lib-upload-resume").click()
        _wait(lambda: find(By.ID, "lib-upload-box").get_attribute("data-resumed-from"), 5)
        assert time.monotonic() - pressed < 1.2  # at once, not at the next try 2 s later
        _wait(lambda: find(By.ID, "lib-upload-box").get_attribute("data-state") == "done", 20)
        assert uploads_made() == 2  # one for each file: never started again
        stored_intact(second, more)

        # ---- cut off, then the page reloaded: the same file chosen again goes on where the server has it
        find(By.ID, "lib-upload-file").send_keys(str(third))
        cutter.cut_after(2 * 1024 * 1024, down=60)
        find(By.ID, "lib-upload-start").click()
        _wait(lambda: find(By.ID, "lib-upload-box").get_attribute("data-state") == "interrupted", 10)
        cutter.restore()
        d.refresh()
        _wait(lambda: drawn("library"))
        # its space is held meanwhile, and it cannot be downloaded yet
        assert [r[:3] for r in rows("lib-files")][0] == [third.name, "Audio", "5.0 MB (unfinished)"]
        assert "Download" not in rows("lib-files")[0][4]
        find(By.ID, "lib-upload-file").send_keys(str(third))
        find(By.ID, "lib-upload-start").click()
        _wait(lambda: find(By.ID, "lib-upload-box").get_attribute("data-state") == "done", 20)
        again = int(find(By.ID, "lib-upload-box").get_attribute("data-resumed-from"))
        assert 0 < again < len(most), again
        assert uploads_made() == 3
        stored_intact(third, most)
        _wait(lambda: len(rows("lib-files")) == 3)
        # ---- an upload cancelled after a cut: its reserved space is given back (tus termination)
        fourth = tmp_path / "fourth.webm"
        fourth.write_bytes(most)
        find(By.ID, "lib-upload-file").send_keys(str(fourth))
        cutter.cut_after(1024 * 1024, down=60)
        find(By.ID, "lib-upload-start").click()
        _wait(lambda: find(By.ID, "lib-upload-box").get_attribute("data-state") == "interrupted", 10)
        cutter.restore()
        find(By.ID, "lib-upload-cancel").click()
        _wait(lambda: text("lib-upload-status") == "The upload is cancelled and its space given back.")
        _wait(lambda: len(rows("lib-files")) == 3 and fourth.name not in text("lib-files"))
        names = [f["name"] for f in org.call("GET", "/api/v1/files", None, 200)["items"]]
        assert fourth.name not in names, names
        # deleted after a confirmation (declined first: nothing happens)
        d.execute_script("window.confirm = () => false;")
        click(f"#lib-files tr[data-id='{stored['id']}'] .lib-file-delete")
        time.sleep(0.3)
        assert movie.name in text("lib-files")
        d.execute_script("window.confirm = () => true;")
        click(f"#lib-files tr[data-id='{stored['id']}'] .lib-file-delete")
        _wait(lambda: text("lib-files-note") == f'"{movie.name}" is deleted.')
        assert [r[:3] for r in rows("lib-files")] == [
            [third.name, "Audio", "5.0 MB"],
            [second.name, "PDF", "5.0 MB"],
        ]
        assert text("lib-quota-text") == "10 MB of 2.0 GB used (0%)"
        recorder.start()  # an aiortc host's recording, made while the contacts are imported

        # ---- contacts: a cp1251 CSV with Cyrillic names; the encoding and the refused row are shown
        find(By.ID, "lib-group-name").send_keys("Клиенты")
        find(By.ID, "lib-group-add").click()
        _wait(lambda: "Клиенты" in text("lib-groups"))
        Select(find(By.ID, "lib-import-group")).select_by_visible_text("Клиенты")
        find(By.ID, "lib-import-file").send_keys(str(contacts_csv))
        find(By.ID, "lib-import-start").click()
        _wait(lambda: shown("lib-import-result"))
        assert text("lib-import-encoding") == "cp1251" and text("lib-import-format") == "CSV"
        assert text("lib-import-added") == "3" and text("lib-import-there") == "0"
        assert rows("lib-import-refused") == [["4", "invalid e-mail address: not-an-address"]]
        assert text("lib-import-status") == "Imported: 3 new contacts."
        _wait(lambda: len(rows("lib-contacts")) == 3)
        names = sorted(r[0] for r in rows("lib-contacts"))
        assert names == ["Иван Петров", "Мария Сидорова", "Фёдор Достоевский"], names
        _wait(lambda: rows("lib-groups")[0][:3] == ["Клиенты", "Yours", "3"])
        # a contact edited and one added; the group's members shown, one taken out
        click("#lib-contacts tr:nth-child(1) .lib-contact-edit")
        _wait(lambda: find(By.ID, "lib-contact-save").text == "Save the contact")
        find(By.ID, "lib-contact-company").clear()
        find(By.ID, "lib-contact-company").send_keys("Новая компания")
        find(By.ID, "lib-contact-save").click()
        _wait(lambda: any(r[3] == "Новая компания" for r in rows("lib-contacts")))
        find(By.ID, "lib-contact-name").send_keys("Анна Ахматова")
        find(By.ID, "lib-contact-email").send_keys("anna@example.test")
        find(By.ID, "lib-contact-save").click()
        _wait(lambda: len(rows("lib-contacts")) == 4)
        click("#lib-groups .lib-group-members")
        _wait(lambda: len(rows("lib-members")) == 3)
        Select(find(By.ID, "lib-member-contact")).select_by_visible_text("Анна Ахматова <anna@example.test>")
        find(By.ID, "lib-member-add").click()
        _wait(lambda: len(rows("lib-members")) == 4 and rows("lib-groups")[0][2] == "4")
        checked(d, "#section-library")
        shot(d, "dashboard-library-contacts.png")
        # one taken out of the group, one deleted from the address book, a group deleted (its contacts stay)
        click("#lib-members tr:nth-child(1) .lib-member-remove")
        _wait(lambda: len(rows("lib-members")) == 3 and rows("lib-groups")[0][2] == "3")
        click("#lib-contacts tr:nth-child(1) .lib-contact-delete")
        _wait(lambda: len(rows("lib-contacts")) == 3)
        find(By.ID, "lib-group-name").send_keys("Temporary")
        find(By.ID, "lib-group-add").click()
        _wait(lambda: "Temporary" in text("lib-groups"))
        d.execute_script(
            "[...document.querySelectorAll('#lib-groups tr')]"
            ".find((r) => r.cells[0].textContent === 'Temporary').querySelector('.lib-group-delete').click();"
        )
        _wait(lambda: "Temporary" not in text("lib-groups") and len(rows("lib-contacts")) == 3)
        assert rows("lib-groups")[0][:3] == ["Клиенты", "Yours", "3"]
        # fifty more (UTF-8, no group): the address book is paged by 50
        more_csv = tmp_path / "more.csv"
        more_csv.write_text(
            "name,email\n" + "".join(f"Guest {i:02},guest{i:02}@example.test\n" for i in range(50))
        )
        Select(find(By.ID, "lib-import-group")).select_by_value("")
        find(By.ID, "lib-import-file").send_keys(str(more_csv))
        find(By.ID, "lib-import-start").click()
        _wait(lambda: text("lib-import-status") == "Imported: 50 new contacts.")
        assert text("lib-import-encoding") == "utf-8" and rows("lib-import-refused") == [["", "none"]]
        _wait(lambda: text("lib-contacts-note") == "1–50 of 53" and len(rows("lib-contacts")) == 50)
        assert not shown("lib-contacts-prev")
        find(By.ID, "lib-contacts-next").click()
        _wait(lambda: text("lib-contacts-note") == "51–53 of 53" and len(rows("lib-contacts")) == 3)
        assert not shown("lib-contacts-next")
        find(By.ID, "lib-contacts-prev").click()
        _wait(lambda: text("lib-contacts-note") == "1–50 of 53")

        # ---- the live event streamed to an RTMP service (nginx-rtmp) while its host is in the room; the key
        # is not shown back
        def statuses() -> list[str]:
            return [r["status"] for r in org.call("GET", "/api/v1/recordings", None, 200)["items"]]

        _wait(lambda: statuses() == ["ready"], 30)  # the host stays in the room
        find(By.CSS_SELECTOR, ".dash-nav a[data-section='events']").click()
        section("library")
        if available():
            with rtmp_server(tmp_path / "nginx") as port:
                _wait(lambda: "Launch webinar" in text("lib-stream-event"))
                _wait(lambda: text("lib-stream-status") == "Not streaming.")
                checked(d, "#section-library")
                find(By.ID, "lib-stream-url").send_keys(f"rtmp://127.0.0.1:{port}/live")
                find(By.ID, "lib-stream-key").send_keys("dash-secret-key")
                find(By.ID, "lib-stream-start").click()

                def live_with_frames() -> bool:
                    find(By.ID, "lib-stream-refresh").click()
                    time.sleep(0.3)
                    got = re.search(r": live, (\d+) pictures sent", text("lib-stream-status"))
                    return bool(got and int(got.group(1)) > 0)

                _wait(live_with_frames, 20)
                assert f"rtmp://127.0.0.1:{port}/live" in text("lib-stream-status")
                assert "dash-secret-key" not in d.page_source
                assert find(By.ID, "lib-stream-key").get_attribute("value") == ""
                checked(d, "#section-library")
                find(By.ID, "lib-stream-stop").click()
                _wait(
                    lambda: find(By.ID, "lib-stream-status").get_attribute("data-status") in ("stopped", "")
                )
                assert not shown("lib-stream-stop")
        streamed.set()

        # ---- recordings: played, previewed between in and out, trimmed, published, offered with lead capture
        recorder.join(60)
        assert not recorder.is_alive() and not failed, failed
        find(By.CSS_SELECTOR, ".dash-nav a[data-section='events']").click()
        section("library")
        _wait(lambda: len(rows("lib-recs")) == 1 and rows("lib-recs")[0][1] == "Ready")
        allowance = org.call("GET", "/api/v1/me", None, 200)["limits"]["recording_minutes"]
        assert re.fullmatch(
            rf"Recordings kept: 0\.\d of the plan's {allowance} minutes\.", text("lib-recs-minutes")
        )
        click("#lib-recs .lib-rec-play")
        _wait(lambda: d.execute_script("return document.getElementById('lib-rec-video').readyState >= 1;"))
        find(By.ID, "lib-trim-in").clear()
        find(By.ID, "lib-trim-in").send_keys("1")
        find(By.ID, "lib-trim-out").clear()
        find(By.ID, "lib-trim-out").send_keys("2.5")
        d.execute_script(  # where the preview starts playing from
            "const v = document.getElementById('lib-rec-video');"
            "v.addEventListener('seeked', () => { window.__from = v.currentTime; }, {once: true});"
        )
        find(By.ID, "lib-trim-preview").click()
        _wait(
            lambda: d.execute_script("return document.getElementById('lib-rec-video').dataset.previewDone;"),
            10,
        )
        at, paused = d.execute_script(
            "const v = document.getElementById('lib-rec-video'); return [v.currentTime, v.paused];"
        )
        assert paused and abs(at - 2.5) < 0.05, (at, paused)  # the preview stopped at the out point
        assert abs(d.execute_script("return window.__from;") - 1) < 0.05  # having started at the in point
        checked(d, "#section-library")
        find(By.ID, "lib-trim-go").click()
        _wait(lambda: "A new recording of" in text("lib-trim-note"))
        _wait(lambda: len(rows("lib-recs")) == 2 and all(r[1] == "Ready" for r in rows("lib-recs")))
        recs = org.call("GET", "/api/v1/recordings", None, 200)["items"]
        cut = next(r for r in recs if r["stopReason"] == "trim")
        assert 0.5 <= cut["duration"] <= 2.6, cut
        click(f"#lib-recs tr[data-id='{cut['id']}'] .lib-rec-publish")
        _wait(
            lambda: bool(
                d.find_elements(By.CSS_SELECTOR, f"#lib-recs tr[data-id='{cut['id']}'] .lib-rec-link")
            )
        )
        public = find(By.CSS_SELECTOR, f"#lib-recs tr[data-id='{cut['id']}'] .lib-rec-link").text
        assert re.search(r"/r/[\w-]+$", public), public
        status, _ = guest(served, "GET", urllib.parse.urlsplit(public).path + "/track")
        assert status == 200
        click(f"#lib-recs tr[data-id='{cut['id']}'] .lib-rec-send")
        _wait(lambda: re.fullmatch(r"The link went to \d+ participants\.", text("lib-recs-note")))
        click(f"#lib-recs tr[data-id='{cut['id']}'] .lib-rec-unpublish")
        _wait(
            lambda: bool(
                d.find_elements(By.CSS_SELECTOR, f"#lib-recs tr[data-id='{cut['id']}'] .lib-rec-publish")
            )
        )
        assert guest(served, "GET", urllib.parse.urlsplit(public).path + "/track")[0] == 404
        # the original deleted (confirmed): its WebM leaves the file library with it
        [original] = [r for r in recs if r["id"] != cut["id"]]
        click(f"#lib-recs tr[data-id='{original['id']}'] .lib-rec-delete")
        _wait(lambda: len(rows("lib-recs")) == 1)
        assert original["fileId"] is not None
        _wait(lambda: not d.find_elements(By.CSS_SELECTOR, f"#lib-files tr[data-id='{original['fileId']}']"))
        assert [r["id"] for r in org.call("GET", "/api/v1/recordings", None, 200)["items"]] == [cut["id"]]
        click(f"#lib-recs tr[data-id='{cut['id']}'] .lib-rec-leads")
        _wait(lambda: "lead" in text("lib-recs-note") or "Leads" in text("lib-recs-note"))
        events = org.call("GET", "/api/v1/events", None, 200)["items"]
        od = next(e for e in events if e["kind"] == "on_demand")
        assert od["videoFileId"] == cut["fileId"] and od["options"]["leadCapture"] is True, od
        assert f"/watch/{od['roomId']}" in text("lib-recs-note")
        # a viewer gives a name and an address to watch it: the address lands in the event's Leads group
        status, joined = guest(
            served,
            "POST",
            f"/api/v1/public/events/{od['roomId']}/join",
            {"name": "Lena", "email": "lena@example.test"},
        )
        assert status == 200 and joined["playback"]["url"].startswith("/play/"), joined
        find(By.CSS_SELECTOR, ".dash-nav a[data-section='events']").click()
        section("library")
        leads = [r[:3] for r in rows("lib-groups") if r[1] == "Leads"]
        assert leads == [[f"Leads: {od['name']} ({od['roomId']})", "Leads", "1"]], rows("lib-groups")
        checked(d, "#section-library")
        shot(d, "dashboard-library-recordings.png")

        # ---- tickets: the manual provider linked in the page, an order confirmed, the ticket mailed
        section("tickets")
        _wait(lambda: text("tix-provider-now").startswith("No provider is linked"))
        checked(d, "#section-tickets")
        find(By.ID, "tix-instructions").send_keys("IBAN DE02 1203 0000 0000 2020 51")
        find(By.ID, "tix-provider-save").click()
        _wait(lambda: text("tix-provider-note") == "The provider is linked.")
        assert not shown("tix-secret-new")
        starts = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)).isoformat()
        paid = org.call(
            "POST",
            "/api/v1/events",
            {
                "kind": "scheduled",
                "name": "Paid masterclass",
                "startsAt": starts,
                "access": "paid",
                "ticketPrice": "25",
                "ticketCurrency": "USD",
            },
            201,
        )
        status, order = guest(
            served,
            "POST",
            f"/api/v1/public/events/{paid['roomId']}/tickets",
            {"name": "Vera", "email": "vera@example.test", "reference": "transfer 42"},
        )
        assert status == 201, order
        Select(find(By.ID, "tix-status")).select_by_value("pending")
        _wait(lambda: len(rows("tix-orders")) == 1)
        row = rows("tix-orders")[0]
        assert row[1:5] == [
            "Paid masterclass",
            "Vera <vera@example.test>",
            "25.00 USD",
            "Waiting for payment",
        ], row
        assert order["reference"] in row[5] and "transfer 42" in row[5]
        checked(d, "#section-tickets")
        click("#tix-orders .tix-confirm")
        _wait(lambda: text("tix-note") == "Vera's payment is confirmed: the ticket is sent.")
        assert rows("tix-orders") == []  # none pending now
        Select(find(By.ID, "tix-status")).select_by_value("")
        _wait(lambda: len(rows("tix-orders")) == 1 and rows("tix-orders")[0][4] == "Paid")
        [pay] = org.call("GET", f"/api/v1/events/{paid['id']}/payments", None, 200)["items"]
        assert pay["status"] == "paid" and pay["decidedBy"], pay
        _wait(lambda: any("ticket" in text_of(m).lower() for m in box.to("vera@example.test")))
        # the ticket sent again; a second payer rejected with a reason; unlinking refused while it is planned
        click("#tix-orders .tix-resend")
        _wait(lambda: text("tix-note") == "The ticket went to Vera again.")
        status, _ = guest(
            served,
            "POST",
            f"/api/v1/public/events/{paid['roomId']}/tickets",
            {"name": "Boris", "email": "boris@example.test"},
        )
        assert status == 201
        Select(find(By.ID, "tix-status")).select_by_value("pending")
        _wait(lambda: len(rows("tix-orders")) == 1 and "Boris" in rows("tix-orders")[0][2])
        click("#tix-orders .tix-reject")
        _wait(lambda: shown("tix-reject-form"))
        checked(d, "#section-tickets")
        find(By.ID, "tix-reject-reason").send_keys("no transfer arrived")
        find(By.ID, "tix-reject-go").click()
        _wait(lambda: text("tix-note") == "Boris is rejected and told so.")
        Select(find(By.ID, "tix-status")).select_by_value("refused")
        _wait(
            lambda: (
                len(rows("tix-orders")) == 1 and rows("tix-orders")[0][4] == "Rejected: no transfer arrived"
            )
        )
        pays = org.call("GET", f"/api/v1/events/{paid['id']}/payments", None, 200)["items"]
        assert sorted((p["name"], p["status"], p["ticketSentCount"]) for p in pays) == [
            ("Boris", "refused", 0),
            ("Vera", "paid", 2),
        ]
        find(By.ID, "tix-provider-unlink").click()
        _wait(lambda: text("tix-provider-error"))
        assert org.call("GET", "/api/v1/payment-provider", None, 200)["kind"] == "manual"
        # a gateway: the secret made here is shown once, masked; the page never shows it again
        Select(find(By.ID, "tix-kind")).select_by_value("gateway")
        find(By.ID, "tix-checkout").send_keys("https://pay.example.test/checkout?ref={reference}")
        find(By.ID, "tix-provider-save").click()
        _wait(lambda: shown("tix-secret-new"))
        secret = find(By.ID, "tix-secret-shown").get_attribute("value")
        assert find(By.ID, "tix-secret-shown").get_attribute("type") == "password" and len(secret) >= 16
        assert find(By.ID, "tix-secret").get_attribute("value") == ""
        checked(d, "#section-tickets")
        section("library")
        section("tickets")
        _wait(lambda: "callbacks go to" in text("tix-provider-now"))
        assert secret not in d.page_source
        shot(d, "dashboard-tickets.png")
        # in Russian, and on a phone's width nothing sticks out of the page sideways (wide tables scroll in
        # their own box)
        Select(find(By.ID, "dash-lang")).select_by_value("ru")
        _wait(lambda: text("orders-title") == "Заказы билетов" and drawn("tickets"))
        assert rows("tix-orders")[0][4] == "Отклонён: no transfer arrived"
        checked(d, "#section-tickets")

        def too_wide() -> list[str]:
            return list(
                d.execute_script(
                    "const w = document.documentElement.clientWidth;"
                    "if (document.documentElement.scrollWidth <= w) return [];"
                    "return [...document.querySelectorAll('body *')].filter((e) => e.getClientRects().length"
                    "  && e.getBoundingClientRect().right > w + 1 && !e.closest('.table-wrap, .dash-nav'))"
                    "  .map((e) => `${e.tagName}#${e.id}.${e.className}`).slice(0, 8).concat(['(page)']);"
                )
            )

        d.set_window_size(360, 740)
        for name in ("library", "tickets"):
            section(name)
            wide = browser.poll(too_wide, lambda v: not v, timeout=5, interval=0.2)
            assert not wide, (name, wide)
        section("library")
        assert text("recs-title") == "Записи" and rows("lib-contacts")[0][4] == "ИзменитьУдалить"
        checked(d, "#section-library")
        shot(d, "dashboard-library-phone.png")
        # allowed: the signed-out start's 401, no provider or stream yet (404), the failed requests of the
        # network cut
        allowed = ("/api/v1/me ", "/api/v1/payment-provider ", "/stream ", "/api/v1/uploads/")
        assert not errors(d, allow=allowed), "console errors"
