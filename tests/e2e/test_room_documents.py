"""The document on the stage in headless Chromium (issue 17, R-MEDIA-8) against a real `mediaserver serve`:
the host uploads a PDF into the room from the Present panel and shows it; an attendee's page draws it with
pdf.js (the vendored copy) and follows the host's page within a second; a late joiner on a phone opens on the
current page; with "attendees browse on their own" the attendee turns pages alone, and turning it off brings
them back; a DOCX is converted on upload and shown the same way (LibreOffice); the whiteboard shown from the
Present panel takes it off everyone's stage, and so does stopping. Each page of the test PDF has its own
colour, read from the canvas."""

from __future__ import annotations

import io
import time
from typing import Any

import pytest

from tests.api.conftest import smtp  # noqa: F401  (the real SMTP server fixture of `served`)
from tests.api.test_documents import docx, needs_office
from tests.e2e import browser
from tests.e2e.test_room_access import (  # noqa: F401
    Organiser,
    click,
    host_link,
    join_as,
    served,
    shot,
    upload,
    wait,
)
from tests.e2e.test_room_page import errors, viewport

_why = browser.missing()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"Chromium end-to-end tests need a browser: {_why}")

COLOURS = [(220, 30, 30), (30, 160, 60), (40, 60, 220)]  # page 1 red, 2 green, 3 blue


def deck() -> bytes:
    from PIL import Image

    pages = [Image.new("RGB", (400, 300), c) for c in COLOURS]
    out = io.BytesIO()
    pages[0].save(out, "PDF", save_all=True, append_images=pages[1:], resolution=72)
    return out.getvalue()


def doc_state(d: Any) -> dict[str, Any]:
    return d.execute_script(
        "const s = window.roomState.doc, c = document.querySelector('#doc-canvas');"
        "let px = null;"
        "if (c && c.width) {"
        "  const p = c.getContext('2d').getImageData(c.width >> 1, c.height >> 1, 1, 1).data;"
        "  px = [p[0], p[1], p[2]]; }"
        "return {...s, px, visible: !document.querySelector('#doc-view').hidden};"
    )


def showing(d: Any, page: int, own: bool = False, timeout: float = 15) -> dict[str, Any]:
    """Wait until the page draws page ``page`` of the deck (its colour in the canvas's middle)."""
    want = COLOURS[page - 1]

    def ok(d: Any) -> dict[str, Any] | None:
        s = doc_state(d)
        close = s["px"] is not None and all(abs(a - b) < 40 for a, b in zip(s["px"], want, strict=True))
        return s if s["visible"] and s["page"] == page and s["own"] is own and close else None

    return wait(d, ok, f"page {page} drawn", timeout)


@pytest.mark.timeout(150)
def test_the_host_presents_a_pdf_and_everyone_follows(served, tmp_path):  # noqa: F811
    org = Organiser(served)
    ev = org.event(name="Slides talk")
    pdf = tmp_path / "deck.pdf"
    pdf.write_bytes(deck())
    with browser.chromium() as host, browser.chromium() as ann, browser.chromium() as bob:
        viewport(host, 1280, 800)
        viewport(ann, 1280, 800)
        join_as(host, host_link(served, ev), "Olga", "host")
        join_as(ann, f"{served}/room/{ev['roomId']}", "Ann", "attendee")
        assert ann.execute_script("return document.querySelector('#btn-present').hidden;")  # staff only

        # the host uploads the PDF into the room from the Present panel and shows it
        click(host, "#btn-present")
        host.execute_script("document.querySelector('#present-upload').hidden = false;")
        host.find_element("css selector", "#present-upload").send_keys(str(pdf))
        ready = "#present-files li[data-status=ready] button[data-show-doc]"  # a PDF is checked first
        wait(host, lambda d: d.execute_script(f"return !!document.querySelector('{ready}');"), "listed", 20)
        click(host, ready)
        showing(host, 1)
        first = showing(ann, 1)
        assert first["name"] == "deck.pdf" and first["pages"] == 3 and first["free"] is False
        assert ann.execute_script("return document.querySelector('#doc-staff').hidden;")  # no controls

        # the host turns the page: the attendee follows within a second
        click(host, "#doc-next")
        start = time.monotonic()
        showing(ann, 2, timeout=5)
        took = time.monotonic() - start
        assert took < 1.0, took
        showing(host, 2)

        # a late joiner on a phone opens on the current page
        viewport(bob, 390, 844, phone=True)
        join_as(bob, f"{served}/room/{ev['roomId']}", "Bob", "attendee")
        showing(bob, 2)
        shot(bob, "room-document-phone-390x844.png")

        # attendees browse on their own, then come back when it is turned off
        click(host, "#doc-free")
        wait(ann, lambda d: doc_state(d)["free"], "free browsing")
        click(ann, "#doc-own-next")
        showing(ann, 3, own=True)
        assert doc_state(host)["page"] == 2 and doc_state(bob)["page"] == 2
        shot(ann, "room-document-1280x800.png")
        click(host, "#doc-free")
        showing(ann, 2)

        # an office document: converted by LibreOffice on upload (listed as converting, then shown)
        needs_office()
        report = tmp_path / "report.docx"
        report.write_bytes(docx(2))
        host.find_element("css selector", "#present-upload").send_keys(str(report))
        button = (
            "return [...document.querySelectorAll('#present-files li')].filter((li) => li.dataset.status === "
            "'ready' && li.querySelector('.pname').textContent === 'report.docx').map((li) => "
            "li.querySelector('button'))[0] || null;"
        )
        wait(host, lambda d: d.execute_script(button), "report.docx converted", 60)
        host.execute_script(button.replace("return ", "return (").replace(" || null;", ").click();"))
        wait(
            ann,
            lambda d: (lambda s: s["name"] == "report.docx" and s["pages"] == 2 and s["rendered"])(
                doc_state(d)
            ),
            "the converted document drawn",
        )

        # the Present panel's whiteboard takes the document off everyone's stage, then leaves it
        click(host, "#present-board")
        for d in (ann, bob):
            wait(d, lambda d: d.execute_script("return window.roomState.board.open;"), "the board opened")
            assert not doc_state(d)["visible"]
        click(host, "#present-board-off")
        wait(ann, lambda d: not d.execute_script("return window.roomState.board.open;"), "the board closed")

        # shown again, then stopped
        host.execute_script(button.replace("return ", "return (").replace(" || null;", ").click();"))
        showing_name = "the document again"
        wait(ann, lambda d: doc_state(d)["visible"] and doc_state(d)["name"] == "report.docx", showing_name)
        click(host, "#doc-stop")
        for d in (ann, bob):
            wait(d, lambda d: not doc_state(d)["visible"], "the document gone")

        # a document of the organiser's library, brought into the room from the Present panel
        upload(org, "annual.pdf", deck())
        host.execute_script("document.querySelector('#present-library').open = true;")
        bring = "#present-library-files button[data-attach]"
        wait(host, lambda d: d.execute_script(f"return !!document.querySelector('{bring}');"), "the library")
        assert host.execute_script(
            "return document.querySelector('#present-library-files').textContent;"
        ) == ("annual.pdfBring into the room")
        click(host, bring)
        listed = "return [...document.querySelectorAll('#present-files .pname')].map((e) => e.textContent);"
        wait(host, lambda d: "annual.pdf" in d.execute_script(listed), "in the room's documents")
        for d in (host, ann, bob):
            assert not errors(d), "console errors"
