"""Documents shown in rooms (issue 17 item 1, R-MEDIA-8, R-FILE-4), through the real server: files uploaded
with tus are converted to PDF by LibreOffice in a worker process (DOCX, PPTX, ODP made here by python-docx,
python-pptx and odfpy), page counts and first-page text are checked with pypdfium2, page images are served
(widths bounded, PNG and WebP, cached), PDFs are checked without LibreOffice, and what cannot be shown is
refused with a message naming the problem: a damaged file, a 501-page bomb, a conversion past its time limit
(its processes killed). Access: another account, a room's attendee (reads, does not convert), another room.

The conversions run once, on SQLite; the rest runs on SQLite and PostgreSQL. Without LibreOffice (``soffice``)
the conversion tests skip, unless MEDIASERVER_REQUIRE_OFFICE=1 (CI sets it) makes that a failure.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import aiohttp
import pypdfium2
import pytest
from PIL import Image

from tests.api.conftest import TUS, Served, call, signup, tus_send

REQUIRE_OFFICE = os.environ.get("MEDIASERVER_REQUIRE_OFFICE") == "1"
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def needs_office() -> None:
    if shutil.which("soffice") is None:
        why = (
            "LibreOffice is not installed (apt-get install libreoffice-writer-nogui and the others, .ci/run)"
        )
        if REQUIRE_OFFICE:
            pytest.fail(why + "; MEDIASERVER_REQUIRE_OFFICE=1 makes this a failure")
        pytest.skip(why)


# ---------------------------------------------------------------- documents made here


def docx(pages: int, title: str = "Quarterly report") -> bytes:
    import docx as python_docx
    from docx.enum.text import WD_BREAK

    d = python_docx.Document()
    for i in range(pages):
        d.add_paragraph(f"{title} page {i + 1}")
        if i < pages - 1:
            d.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def pptx(slides: int) -> bytes:
    import pptx as python_pptx

    p = python_pptx.Presentation()
    for i in range(slides):
        s = p.slides.add_slide(p.slide_layouts[1])
        s.shapes.title.text = f"Roadmap slide {i + 1}"
        s.placeholders[1].text = "what we build next"
    buf = io.BytesIO()
    p.save(buf)
    return buf.getvalue()


def odp(slides: int) -> bytes:
    from odf.draw import Frame, Page, TextBox
    from odf.opendocument import OpenDocumentPresentation
    from odf.style import MasterPage, PageLayout, PageLayoutProperties
    from odf.text import P

    doc = OpenDocumentPresentation()
    layout = PageLayout(name="layout")
    layout.addElement(PageLayoutProperties(pagewidth="28cm", pageheight="21cm", printorientation="landscape"))
    doc.automaticstyles.addElement(layout)
    master = MasterPage(name="master", pagelayoutname=layout)
    doc.masterstyles.addElement(master)
    for i in range(slides):
        page = Page(masterpagename=master)
        frame = Frame(width="20cm", height="3cm", x="2cm", y="2cm")
        box = TextBox()
        box.addElement(P(text=f"Impress slide {i + 1}"))
        frame.addElement(box)
        page.addElement(frame)
        doc.presentation.addElement(page)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def encrypted_pdf(tmp: Path) -> bytes:
    """A PDF that opens only with a password, made by LibreOffice's PDF export (its EncryptFile option)."""
    (tmp / "secret.txt").write_text("a secret page\n")
    options = json.dumps(
        {
            "EncryptFile": {"type": "boolean", "value": "true"},
            "DocumentOpenPassword": {"type": "string", "value": "pw"},
        }
    )
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation={(tmp / 'profile').as_uri()}",
            "--headless",
            "--convert-to",
            f"pdf:writer_pdf_Export:{options}",
            "--outdir",
            str(tmp),
            str(tmp / "secret.txt"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return (tmp / "secret.pdf").read_bytes()


def pdf(pages: int) -> bytes:
    doc = pypdfium2.PdfDocument.new()
    for _ in range(pages):
        doc.new_page(595, 842)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


# ---------------------------------------------------------------- the API


def _meta(name: str) -> str:
    return f"filename {base64.b64encode(name.encode()).decode()}"


async def upload(http: aiohttp.ClientSession, path: str, name: str, data: bytes) -> int:
    """Upload ``data`` with tus (to the library, or a room's uploads) and return the file's id."""
    async with http.post(
        path, headers={**TUS, "Upload-Length": str(len(data)), "Upload-Metadata": _meta(name)}
    ) as r:
        assert r.status == 201, await r.text()
        location = r.headers["Location"]
    await tus_send(http, location, data)
    return await _file_id(http, name)


async def _file_id(http: aiohttp.ClientSession, name: str) -> int:
    files = await call(http, "GET", "/api/v1/files?limit=100", 200)
    return next(f["id"] for f in files["items"] if f["name"] == name)


async def settled(http: aiohttp.ClientSession, url: str, timeout: float = 90) -> dict:
    """The document's status once it is ready or failed, polled for up to ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while True:
        doc = await call(http, "GET", url, 200)
        if doc["status"] != "converting" or time.monotonic() > end:
            return doc
        await asyncio.sleep(0.1)


async def fetch(http: aiohttp.ClientSession, url: str, **kw) -> tuple[int, bytes, aiohttp.ClientResponse]:
    async with http.get(url, **kw) as r:
        return r.status, await r.read(), r


def first_page_text(data: bytes) -> tuple[int, str]:
    doc = pypdfium2.PdfDocument(data)
    return len(doc), doc[0].get_textpage().get_text_range()


# ---------------------------------------------------------------- tests


@SQLITE_ONLY
async def test_office_files_convert_to_pdf_with_their_pages_text_and_images(api: Served, tmp_path: Path):
    """A DOCX, a PPTX and an ODP made here convert (LibreOffice, in a worker): their page counts and first
    pages' text read from the served PDF with pypdfium2; every page image is ready; widths and formats;
    a 501-page DOCX bomb (a few KB), a damaged DOCX and a password-protected PDF are refused with messages
    naming the problem."""
    needs_office()
    http, _ = await signup(api)
    made = {
        "report.docx": (docx(3), 3, "Quarterly report page 1"),
        "roadmap.pptx": (pptx(4), 4, "Roadmap slide 1"),
        "impress.odp": (odp(2), 2, "Impress slide 1"),
    }
    bomb = docx(501, "Bomb")
    assert len(bomb) < 64 * 1024  # small in bytes, long in pages
    ids = {name: await upload(http, "/api/v1/uploads", name, data) for name, (data, _, _) in made.items()}
    ids["bomb.docx"] = await upload(http, "/api/v1/uploads", "bomb.docx", bomb)
    # a ZIP that is no DOCX: LibreOffice must not read it as plain text (its import filter is forced)
    ids["broken.docx"] = await upload(http, "/api/v1/uploads", "broken.docx", b"PK\x03\x04" + b"\0" * 200)
    ids["secret.pdf"] = await upload(http, "/api/v1/uploads", "secret.pdf", encrypted_pdf(tmp_path))

    for name, (_, pages, text) in made.items():
        base = f"/api/v1/files/{ids[name]}/document"
        doc = await settled(http, base)
        assert (doc["status"], doc["pages"], doc["pagesReady"], doc["error"]) == ("ready", pages, pages, None)
        assert (doc["pdfUrl"], doc["pageUrl"]) == (f"{base}/pdf", f"{base}/pages/{{page}}")
        status, body, r = await fetch(http, doc["pdfUrl"])
        assert status == 200 and r.content_type == "application/pdf", (status, body[:200])
        count, first = first_page_text(body)
        assert count == pages and text in first, (name, count, first)
        status, part, r = await fetch(http, doc["pdfUrl"], headers={"Range": "bytes=0-7"})
        assert status == 206 and part == body[:8] and part.startswith(b"%PDF-")
        status, png, r = await fetch(http, f"{base}/pages/{pages}")
        assert status == 200 and r.content_type == "image/png" and png.startswith(b"\x89PNG")
        assert Image.open(io.BytesIO(png)).width == 320

    base = f"/api/v1/files/{ids['roadmap.pptx']}/document"
    status, webp, r = await fetch(http, f"{base}/pages/1?width=500&format=webp")  # rendered now, cached
    assert status == 200 and r.content_type == "image/webp"
    assert Image.open(io.BytesIO(webp)).size[0] == 560  # rounded up to a multiple of 80
    assert (await fetch(http, f"{base}/pages/1?width=500&format=webp"))[1] == webp
    assert (await call(http, "GET", f"{base}/pages/5", 404))["error"]["message"] == (
        "no page 5: the document has 4 pages"
    )
    for bad in ("width=5000", "width=10", "width=x", "format=gif"):
        assert (await call(http, "GET", f"{base}/pages/1?{bad}", 400))["error"]["code"] == "bad_request"

    doc = await settled(http, f"/api/v1/files/{ids['bomb.docx']}/document")
    assert doc["status"] == "failed" and doc["pagesReady"] == 0, doc
    assert doc["error"] == {
        "code": "too_many_pages",
        "message": "the document has 501 pages; at most 500 pages can be shown: split it",
    }
    err = await call(http, "GET", f"/api/v1/files/{ids['bomb.docx']}/document/pages/1", 409)
    assert err["error"]["code"] == "conversion_failed"
    await call(http, "GET", f"/api/v1/files/{ids['bomb.docx']}/document/pdf", 409)
    doc = await settled(http, f"/api/v1/files/{ids['broken.docx']}/document")
    assert doc["status"] == "failed" and doc["error"]["code"] == "corrupt", doc
    assert doc["error"]["message"].startswith("LibreOffice could not read the file as DOCX: it is damaged or")
    doc = await settled(http, f"/api/v1/files/{ids['secret.pdf']}/document")
    assert doc["error"] == {
        "code": "encrypted",
        "message": "the PDF is protected by a password: save it without one and upload it again",
    }
    # the converted PDF and page images live beside the file and go with it
    f = next(p for p in Path(api.settings.data_dir).rglob("*.doc") if (p / "document.pdf").is_file())
    files = await call(http, "GET", "/api/v1/files?limit=100", 200)
    for item in files["items"]:
        await call(http, "DELETE", f"/api/v1/files/{item['id']}", 204)
    assert not f.exists()


async def test_pdfs_refusals_and_who_reaches_a_document(api: Served):
    """A PDF is shown without LibreOffice; a damaged PDF or DOCX and a 501-page PDF are refused, naming the
    problem; a video is not a document (415); another account reaches nothing (404); in a room every
    participant reads the document, only its host, presenters and organiser convert it again; another
    room's token reaches nothing."""
    http, _ = await signup(api)
    handout, two = pdf(3), pdf(2)
    good = await upload(http, "/api/v1/uploads", "handout.pdf", handout)
    broken = await upload(http, "/api/v1/uploads", "broken.pdf", b"%PDF-1.7\n" + b"garbage " * 50)
    renamed = await upload(http, "/api/v1/uploads", "renamed.docx", b"just some text, not a DOCX")
    long = await upload(http, "/api/v1/uploads", "long.pdf", pdf(501))
    video = await upload(http, "/api/v1/uploads", "clip.mp4", b"\0\0\0\x18ftypmp42" + b"\0" * 64)

    doc = await settled(http, f"/api/v1/files/{good}/document")
    assert (doc["status"], doc["pages"], doc["pagesReady"]) == ("ready", 3, 3)
    status, body, r = await fetch(http, doc["pdfUrl"])
    assert status == 200 and body == handout and r.content_type == "application/pdf"
    assert r.headers["Content-Disposition"] == "inline; filename*=UTF-8''handout.pdf"
    for file_id, code, message in (
        (broken, "corrupt", "the file is not a readable PDF: it is damaged"),
        (
            renamed,
            "corrupt",
            "the file is not a valid DOCX document: it is damaged or has the wrong extension",
        ),
        (long, "too_many_pages", "the document has 501 pages; at most 500 pages can be shown: split it"),
    ):
        doc = await settled(http, f"/api/v1/files/{file_id}/document")
        assert doc["status"] == "failed" and doc["error"]["code"] == code, doc
        assert doc["error"]["message"].startswith(message), doc
    err = await call(http, "GET", f"/api/v1/files/{video}/document", 415)
    assert err["error"]["code"] == "not_a_document"
    await call(http, "POST", f"/api/v1/files/{video}/document", 415)
    await call(http, "GET", f"/api/v1/files/{video}/document/pages/1", 415)
    # converting again on demand: the PDF is checked again, and fails again the same way
    doc = await call(http, "POST", f"/api/v1/files/{long}/document", 202)
    assert doc["status"] == "converting"
    assert (await settled(http, f"/api/v1/files/{long}/document"))["error"]["code"] == "too_many_pages"

    other, _ = await signup(api)
    for path in ("", "/pdf", "/pages/1"):
        await call(other, "GET", f"/api/v1/files/{good}/document{path}", 404)
    await call(other, "POST", f"/api/v1/files/{good}/document", 404)
    async with aiohttp.ClientSession(base_url=api.base_url) as anonymous:
        await call(anonymous, "GET", f"/api/v1/files/{good}/document", 401)

    # a room's files
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Review"})
    room = ev["roomId"]
    joined = await call(
        api.client(),
        "POST",
        f"/api/v1/public/events/{room}/join",
        200,
        json={"name": "Hanna Host", "email": "host@example.test", "hostKey": ev["hostUrl"].split("host=")[1]},
    )
    host = api.client(joined["token"])
    slides = await upload_room(host, http, room, "slides.pdf", two)
    joined = await call(
        api.client(),
        "POST",
        f"/api/v1/public/events/{room}/join",
        200,
        json={"name": "Ann", "email": "a@x.test"},
    )
    attendee = api.client(joined["token"])
    base = f"/api/v1/rooms/{room}/files/{slides}/document"
    for who in (attendee, host, http):
        doc = await settled(who, base)
        assert (doc["status"], doc["pages"], doc["pdfUrl"]) == ("ready", 2, f"{base}/pdf")
        assert (await fetch(who, f"{base}/pdf"))[1] == two
        status, png, r = await fetch(who, f"{base}/pages/2")
        assert status == 200 and png.startswith(b"\x89PNG")
    assert (await call(attendee, "POST", base, 403))["error"]["code"] == "forbidden"
    assert (await call(host, "POST", base, 202))["fileId"] == slides
    # a library file is not one of the room's files
    await call(host, "GET", f"/api/v1/rooms/{room}/files/{good}/document", 404)
    other_ev = await call(other, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Else"})
    await call(other, "GET", base, 403)
    joined = await call(
        api.client(),
        "POST",
        f"/api/v1/public/events/{other_ev['roomId']}/join",
        200,
        json={"name": "Olga", "email": "o@x.test", "hostKey": other_ev["hostUrl"].split("host=")[1]},
    )
    other_host = api.client(joined["token"])
    await call(other_host, "GET", base, 403)
    await call(other_host, "GET", f"/api/v1/rooms/{other_ev['roomId']}/files/{slides}/document", 404)


async def upload_room(
    host: aiohttp.ClientSession, organiser: aiohttp.ClientSession, room: str, name: str, data: bytes
) -> int:
    async with host.post(
        f"/api/v1/rooms/{room}/uploads",
        headers={**TUS, "Upload-Length": str(len(data)), "Upload-Metadata": _meta(name)},
    ) as r:
        assert r.status == 201, await r.text()
        location = r.headers["Location"]
    await tus_send(host, location, data)
    return await _file_id(organiser, name)


def _processes_under(path: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = (
                    Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
                )
            except OSError:
                continue
            if path in cmd:
                found.append(f"{pid}: {cmd[:200]}")
    return found


@SQLITE_ONLY
@pytest.mark.parametrize("api", [{"document_timeout": 0.4}], indirect=True)
async def test_a_conversion_past_its_time_limit_is_killed_and_refused(api: Served):
    """With a 0.4 s limit (a cold LibreOffice takes ~1 s here) the conversion is refused as timed out and its
    whole process group (the worker and LibreOffice) is gone; converting again on demand times out again."""
    needs_office()
    http, _ = await signup(api)
    file_id = await upload(http, "/api/v1/uploads", "slow.pptx", pptx(30))
    url = f"/api/v1/files/{file_id}/document"
    for attempt in range(2):
        doc = await settled(http, url, timeout=30)
        assert doc["status"] == "failed", doc
        assert doc["error"] == {
            "code": "timed_out",
            "message": "converting the document took longer than the 0.4 s allowed: "
            "split it or save it as PDF",
        }
        assert _processes_under(api.settings.data_dir) == []
        if attempt == 0:
            assert (await call(http, "POST", url, 202))["status"] == "converting"


@SQLITE_ONLY
@pytest.mark.parametrize("api", [{"document_memory_mb": 256}], indirect=True)
async def test_a_conversion_is_held_to_its_memory_limit(api: Served):
    """document_memory_mb is LibreOffice's address space too: at 256 MB it cannot open a 50-slide PPTX
    (it needs ~512 MB of address space here), and the refusal says the limit may be why."""
    needs_office()
    http, _ = await signup(api)
    file_id = await upload(http, "/api/v1/uploads", "deck.pptx", pptx(50))
    doc = await settled(http, f"/api/v1/files/{file_id}/document", timeout=30)
    assert doc["status"] == "failed" and doc["error"]["code"] == "corrupt", doc
    assert "or needs more than the 256 MB of memory a conversion may use" in doc["error"]["message"]


@SQLITE_ONLY
@pytest.mark.parametrize("api", [{"document_workers": 1}], indirect=True)
async def test_a_waiting_document_is_not_ready_and_a_restart_converts_it(api: Served):
    """With one conversion at a time, a PDF uploaded behind a 50-slide PPTX waits: its status says so, its
    page and PDF are 409 not_ready. The conversions stop with the converter (its worker's process group is
    killed, nothing left running); a server started on the same database takes both up and finishes them."""
    needs_office()
    from aiohttp import web

    from mediaserver.app import build
    from signaling import keys

    http, _ = await signup(api)
    slow = await upload(http, "/api/v1/uploads", "slow.pptx", pptx(50))
    quick = await upload(http, "/api/v1/uploads", "quick.pdf", pdf(2))
    url = f"/api/v1/files/{quick}/document"
    doc = await call(http, "GET", url, 200)
    assert (doc["status"], doc["pages"], doc["pagesReady"]) == ("converting", 0, 0), doc
    for path in ("/pages/1", "/pdf"):
        err = await call(http, "GET", url + path, 409)
        assert err["error"] == {
            "code": "not_ready",
            "message": "the document is still converting (0 of ? pages ready): try again in a moment",
        }
    await api.app[keys.CONVERTER].close()  # as when the server stops
    assert _processes_under(api.settings.data_dir) == []
    for file_id in (slow, quick):
        assert (await call(http, "GET", f"/api/v1/files/{file_id}/document", 200))["status"] == "converting"

    runner = web.AppRunner(build(api.settings))  # the next start, on the same database and files
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        again = aiohttp.ClientSession(
            base_url=f"http://127.0.0.1:{runner.addresses[0][1]}", cookie_jar=http.cookie_jar
        )
        async with again:
            for file_id, pages in ((slow, 50), (quick, 2)):
                doc = await settled(again, f"/api/v1/files/{file_id}/document", timeout=60)
                assert (doc["status"], doc["pages"], doc["pagesReady"]) == ("ready", pages, pages), doc
    finally:
        await runner.cleanup()


@SQLITE_ONLY
async def test_without_libreoffice_office_files_are_refused_and_pdfs_still_shown(
    api: Served, monkeypatch, tmp_path
):
    """A server whose PATH has no soffice refuses an office file as unsupported, naming what to upload
    instead, and still shows PDFs (they never need LibreOffice)."""
    bare = tmp_path / "bin"
    bare.mkdir()
    monkeypatch.setenv("PATH", str(bare))  # the worker inherits the server's environment
    http, _ = await signup(api)
    deck = await upload(http, "/api/v1/uploads", "deck.pptx", pptx(1))
    handout = await upload(http, "/api/v1/uploads", "handout.pdf", pdf(1))
    doc = await settled(http, f"/api/v1/files/{deck}/document", timeout=30)
    assert doc["error"] == {
        "code": "unsupported",
        "message": "this server cannot convert PPTX files (LibreOffice is not installed): upload a PDF",
    }
    assert (await settled(http, f"/api/v1/files/{handout}/document"))["status"] == "ready"


async def _join(api: Served, ev: dict, name: str, email: str, host: bool = False) -> aiohttp.ClientSession:
    body = {"name": name, "email": email}
    if host:
        body["hostKey"] = ev["hostUrl"].split("host=")[1]
    joined = await call(api.client(), "POST", f"/api/v1/public/events/{ev['roomId']}/join", 200, json=body)
    return api.client(joined["token"])


async def test_one_file_in_the_rooms_of_two_events(api: Served):
    """Issue 17: a deck of the library goes into the rooms of two events of a series: each room's staff list
    it among what they may bring in (with the other events' rooms that hold it) until it is in their room,
    bring it in (again: 409 already_in_room), and each room's participants list it with its kind, download
    it and read its document's PDF and pages. Taking it out of one room, or deleting one event, leaves it
    in the other; deleting the file takes it out of both. The room's list says each file's kind (what the
    page's Present panel reads instead of its own list of extensions), for files uploaded into the room
    too."""
    http, _ = await signup(api)
    deck_pdf = pdf(2)
    deck = await upload(http, "/api/v1/uploads", "series.pdf", deck_pdf)
    clip = await upload(http, "/api/v1/uploads", "intro.mp4", b"\0\0\0\x18ftypmp42" + b"\0" * 64)
    one = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Part 1"})
    two = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Part 2"})
    host1 = await _join(api, one, "Hanna", "hanna@example.test", host=True)
    host2 = await _join(api, two, "Hugo", "hugo@example.test", host=True)
    ann1 = await _join(api, one, "Ann", "ann@example.test")
    ann2 = await _join(api, two, "Bob", "bob@example.test")
    base1, base2 = f"/api/v1/rooms/{one['roomId']}", f"/api/v1/rooms/{two['roomId']}"
    # uploaded straight into the first room (catalog.complete_upload): a document, an image, a sound
    agenda = await upload_room(host1, http, one["roomId"], "agenda.docx", b"not really a DOCX")
    photo = await upload_room(host1, http, one["roomId"], "photo.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    jingle = await upload_room(host1, http, one["roomId"], "jingle.mp3", b"ID3" + b"\0" * 64)

    async def library(host: aiohttp.ClientSession, base: str) -> list[tuple[int, str, list[int]]]:
        got = await call(host, "GET", f"{base}/library?limit=100", 200)
        assert got["total"] == len(got["items"])
        return [(f["id"], f["kind"], f["otherEventIds"]) for f in got["items"]]

    async def listed(who: aiohttp.ClientSession, base: str) -> list[tuple[int, str]]:
        got = await call(who, "GET", f"{base}/files?limit=100", 200)
        assert got["total"] == len(got["items"])
        return [(f["id"], f["kind"]) for f in got["items"]]

    assert await library(host1, base1) == [(clip, "video", []), (deck, "pdf", [])]
    got = await call(host1, "POST", f"{base1}/files", 201, json={"fileId": deck})
    assert (got["id"], got["kind"], got["uploadedBy"]) == (deck, "pdf", "host")
    err = await call(host1, "POST", f"{base1}/files", 409, json={"fileId": deck})
    assert err["error"]["code"] == "already_in_room"
    assert await library(host1, base1) == [(clip, "video", [])]
    # the next event's room: the deck (and the first room's document) may be brought in there too
    assert await library(host2, base2) == [
        (agenda, "document", [one["id"]]),
        (clip, "video", []),
        (deck, "pdf", [one["id"]]),
    ]
    assert (await call(http, "POST", f"{base2}/files", 201, json={"fileId": deck}))[
        "uploadedBy"
    ] == "organiser"
    await call(host2, "POST", f"{base2}/files", 409, json={"fileId": deck})
    assert await library(host2, base2) == [(agenda, "document", [one["id"]]), (clip, "video", [])]
    await call(host1, "POST", f"{base1}/files", 201, json={"fileId": clip})

    assert await listed(ann1, base1) == [
        (jingle, "other"),
        (photo, "image"),
        (agenda, "document"),
        (clip, "video"),
        (deck, "pdf"),
    ]
    assert await listed(ann2, base2) == [(deck, "pdf")]
    for who, base in ((ann1, base1), (ann2, base2)):
        status, body, _ = await fetch(who, f"{base}/files/{deck}/content")
        assert status == 200 and body == deck_pdf
        doc = await settled(who, f"{base}/files/{deck}/document")
        assert (doc["status"], doc["pages"], doc["pdfUrl"]) == (
            "ready",
            2,
            f"{base}/files/{deck}/document/pdf",
        )
        assert (await fetch(who, doc["pdfUrl"]))[1] == deck_pdf
        status, png, _ = await fetch(who, f"{base}/files/{deck}/document/pages/2")
        assert status == 200 and png.startswith(b"\x89PNG")
    # the library says which events' rooms hold each file
    files = {f["id"]: f for f in (await call(http, "GET", "/api/v1/files?limit=100", 200))["items"]}
    assert len(files) == 5
    assert (files[deck]["eventId"], files[deck]["eventIds"]) == (one["id"], [one["id"], two["id"]])
    assert (files[agenda]["eventId"], files[agenda]["eventIds"]) == (one["id"], [one["id"]])

    # out of the second room: still in the first
    assert (await call(ann2, "DELETE", f"{base2}/files/{deck}", 403))["error"]["code"] == "forbidden"
    await call(host2, "DELETE", f"{base2}/files/{deck}", 204)
    await call(host2, "DELETE", f"{base2}/files/{deck}", 404)
    assert await listed(ann2, base2) == []
    for path in ("/content", "/document", "/document/pdf"):
        await call(ann2, "GET", f"{base2}/files/{deck}{path}", 404)
    assert (await fetch(ann1, f"{base1}/files/{deck}/content"))[1] == deck_pdf
    assert (await library(host2, base2))[-1] == (deck, "pdf", [one["id"]])
    await call(host2, "POST", f"{base2}/files", 201, json={"fileId": deck})
    # the first event deleted: the deck stays in the second room; then the file deleted: out of every room
    await call(http, "DELETE", f"/api/v1/events/{one['id']}", 204)
    assert (await fetch(ann2, f"{base2}/files/{deck}/document/pdf"))[1] == deck_pdf
    files = {f["id"]: f for f in (await call(http, "GET", "/api/v1/files?limit=100", 200))["items"]}
    assert (files[deck]["eventIds"], files[agenda]["eventIds"], files[agenda]["eventId"]) == (
        [two["id"]],
        [],
        None,
    )
    await call(http, "DELETE", f"/api/v1/files/{deck}", 204)
    assert await listed(ann2, base2) == []
    await call(ann2, "GET", f"{base2}/files/{deck}/content", 404)
