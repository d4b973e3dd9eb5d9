"""Issue 14 finding 2: contact-import memory bombs. A 1.5 KB .xlsx declaring the dimension A1:XFD100000
made openpyxl pad every row to 16,384 cells in the server process (~132 KB a row, ~13 GB at 100,000 rows):
the whole server died, media included. Each test drives `mediaserver serve` as a process through the
contacts-import API and reads the server's memory from /proc/<pid>/status (VmRSS now, VmHWM the peak)
before and after."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import xlwt

from mediaserver.config import ConfigError, load
from tests.conftest import API_KEY, SECRET, mail_spool, serve, signed_up

MB = 1024 * 1024
KEYS = {"MEDIASERVER_SECRET": SECRET, "MEDIASERVER_API_KEY": API_KEY}

_NS = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_PARTS = {
    "[Content_Types].xml": b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    b'<Default Extension="xml" ContentType="application/xml"/>'
    b'<Override PartName="/xl/workbook.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    b'<Override PartName="/xl/worksheets/sheet1.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
    "_rels/.rels": b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" Target="xl/workbook.xml" '
    b'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>'
    b"</Relationships>",
    "xl/workbook.xml": b'<?xml version="1.0" encoding="UTF-8"?><workbook ' + _NS + b" "
    b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    b'<sheets><sheet name="Contacts" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" Target="worksheets/sheet1.xml" '
    b'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"/>'
    b"</Relationships>",
}


def _row(n: int, *cells: tuple[str, str]) -> bytes:
    """A sheet row of inline-string cells given as (column letters, text)."""
    return b'<row r="%d">%s</row>' % (
        n,
        b"".join(
            b'<c r="%s%d" t="inlineStr"><is><t>%s</t></is></c>' % (col.encode(), n, text.encode())
            for col, text in cells
        ),
    )


def _workbook(rows: list[bytes], dimension: str | None = None, padding: int = 0) -> bytes:
    """A minimal .xlsx written with zipfile: one sheet of ``rows``, its declared ``dimension`` if any, and
    with ``padding`` a last row whose one cell holds that many bytes of text (streamed, so a huge part costs
    no memory here; a reader keeps a cell's text whole)."""
    head = b'<?xml version="1.0" encoding="UTF-8"?><worksheet ' + _NS + b">"
    if dimension:
        head += b'<dimension ref="%s"/>' % dimension.encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in _PARTS.items():
            z.writestr(name, body)
        with z.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(head + b"<sheetData>" + b"".join(rows))
            if padding:
                sheet.write(b'<row r="%d"><c r="B%d" t="inlineStr"><is><t>' % ((len(rows) + 1,) * 2))
                chunk = b"A" * MB
                for _ in range(padding // MB):
                    sheet.write(chunk)
                sheet.write(b"</t></is></c></row>")
            sheet.write(b"</sheetData></worksheet>")
    return out.getvalue()


PEOPLE = [_row(1, ("A", "E-mail"), ("B", "Name"))] + [
    _row(n, ("A", f"p{n}@example.test"), ("B", f"Person {n}")) for n in range(2, 5)
]


def _memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of process ``pid`` in bytes."""
    got = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            got[key] = int(value.split()[0]) * 1024
    return got


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            kids += [int(k) for k in (task / "children").read_text().split()]
        except FileNotFoundError:
            pass
    return kids


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[str, int]]:
    """`mediaserver serve` in a process of its own with the default import limits: (base URL, pid). One per
    test, so that no test's peak (VmHWM) hides another's."""
    with serve(tmp_path, **KEYS) as (base, proc, _log):
        DATA[base] = tmp_path / "data"
        yield base, proc.pid


DATA: dict[str, Path] = {}  # the data directory of each served base URL (its mail spool: no SMTP here)


async def _signed_up(base: str) -> aiohttp.ClientSession:
    """A new account, activated through the link its sign-up mail carries (issue 14 finding 22)."""
    email = f"o-{uuid.uuid4().hex[:8]}@example.test"
    spool = mail_spool(DATA[base])
    cookie = await asyncio.to_thread(signed_up, base, email, "correct horse battery", spool)
    return aiohttp.ClientSession(base_url=base, headers={"Cookie": cookie})


async def _import(http: aiohttp.ClientSession, name: str, data: bytes) -> tuple[int, dict, float]:
    """(status, JSON answer, seconds) of one import through the API."""
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    start = time.monotonic()
    async with http.post("/api/v1/contacts/import", data=form) as r:
        got = await r.json()
        return r.status, got, time.monotonic() - start


async def _answers(http: aiohttp.ClientSession) -> None:
    """The server still answers: the address book lists, a small import works."""
    async with http.get("/api/v1/contacts?limit=1") as r:
        assert r.status == 200, await r.text()
    one = f"email\nsmall-{uuid.uuid4().hex[:6]}@example.test\n".encode()
    status, got, _ = await _import(http, "small.csv", one)
    assert (status, got.get("imported")) == (201, 1), got


async def _refused_small_and_fast(
    base: str, pid: int, name: str, data: bytes, status: int, *words: str, seconds: float = 1.0
) -> None:
    """Upload ``data`` after a warm-up import; it is refused with ``status`` naming ``words`` in under
    ``seconds``, the server's RSS and its peak grow by under 20 MB, and it keeps answering."""
    http = await _signed_up(base)
    try:
        await _answers(http)  # warm: the import path's code is loaded before measuring
        before = _memory(pid)
        got_status, got, took = await _import(http, name, data)
        after = _memory(pid)
        assert got_status == status, got
        message = got["error"]["message"]
        assert got["error"]["code"] == "too_large" and all(w in message for w in words), got
        assert took < seconds, f"refused after {took:.2f} s"
        assert after["VmRSS"] - before["VmRSS"] < 20 * MB, (before, after)
        assert after["VmHWM"] - before["VmHWM"] < 20 * MB, (before, after)
        await _answers(http)
    finally:
        await http.close()


async def test_a_workbook_declaring_a1_xfd100000_is_refused_at_once_without_growing_the_server(server):
    """Issue 14 finding 2, the review's workbook: 1.5 KB declaring 16,384 columns by 100,000 rows, with a few
    rows and the last at row 100,000, so that every row in between was built 16,384 cells wide."""
    last = _row(100_000, ("A", "last@example.test"), ("B", "Last"))
    data = _workbook([*PEOPLE, last], "A1:XFD100000")
    assert len(data) < 2000
    await _refused_small_and_fast(
        *server, "bomb.xlsx", data, 413, "16,384 columns", "A1:XFD100000", "2,000,000"
    )


async def test_a_sheet_part_unpacking_to_hundreds_of_mb_is_refused_unread(server):
    """Issue 14 finding 2: a ZIP bomb, a sheet part of 300 MB deflated to ~300 KB."""
    data = _workbook(PEOPLE, "A1:B5", padding=300 * MB)
    assert len(data) < 1 * MB
    await _refused_small_and_fast(
        *server, "bomb.xlsx", data, 413, "xl/worksheets/sheet1.xml", "unpacks to 300 MB", "160 MB"
    )


async def test_a_sheet_part_compressed_1000_to_1_is_refused_as_a_zip_bomb(server):
    """Issue 14 finding 2: under the unpacked-size limit, but packed as no real workbook is."""
    data = _workbook(PEOPLE, "A1:B5", padding=100 * MB)
    await _refused_small_and_fast(
        *server, "bomb.xlsx", data, 413, "xl/worksheets/sheet1.xml", "ZIP bomb", "100:1"
    )


async def test_cells_far_right_without_a_dimension_do_not_pad_rows(server):
    """Issue 14 finding 2 without the declaration: each row's last cell at column XFD made openpyxl build the
    row 16,384 wide. Columns past the 256th are not read: the contacts import, the server does not grow."""
    base, pid = server
    rows = [_row(1, ("A", "E-mail"), ("B", "Name"), ("XFD", "far"))] + [
        _row(n, ("A", f"wide{n}@example.test"), ("B", f"Wide {n}"), ("XFD", "x")) for n in range(2, 2002)
    ]
    http = await _signed_up(base)
    try:
        await _answers(http)
        before = _memory(pid)
        status, got, _ = await _import(http, "wide.xlsx", _workbook(rows))
        after = _memory(pid)
        assert (status, got.get("imported"), got.get("skipped")) == (201, 2000, []), got
        assert after["VmHWM"] - before["VmHWM"] < 20 * MB, (before, after)
        async with http.get("/api/v1/contacts?limit=1") as r:
            assert (await r.json())["total"] == 2001
    finally:
        await http.close()


async def test_an_xls_with_one_cell_at_iv60000_does_not_pad_the_sheet(server):
    """Issue 14 finding 2 in the XLS reader: xlrd padded every row to the sheet's widest, so one cell at
    IV60000 built 60,000 rows of 256 cells. Rows are read as long as their last cell now."""
    base, pid = server
    book = xlwt.Workbook()
    sheet = book.add_sheet("Contacts")
    for r, (email, name) in enumerate(
        [("E-mail", "Name"), ("x1@example.test", "X 1"), ("x2@example.test", "X 2")]
    ):
        sheet.write(r, 0, email)
        sheet.write(r, 1, name)
    sheet.write(59_999, 255, "far")
    out = io.BytesIO()
    book.save(out)
    http = await _signed_up(base)
    try:
        await _answers(http)
        before = _memory(pid)
        status, got, _ = await _import(http, "far.xls", out.getvalue())
        after = _memory(pid)
        assert (status, got.get("imported"), got.get("format")) == (201, 2, "xls"), got
        assert after["VmHWM"] - before["VmHWM"] < 20 * MB, (before, after)
    finally:
        await http.close()


def _wide_csv() -> bytes:
    """~15 MB of CSV within the fixed limits (100,000 rows, 1.8 million cells) that takes ~350 MB to read."""
    lines = ["email," + ",".join(f"c{i}" for i in range(17))]
    lines += [
        f"u{n}@example.test," + ",".join(f"v{n % 997:03d}x{i:02d}" for i in range(17)) for n in range(100_000)
    ]
    return ("\n".join(lines) + "\n").encode()


async def test_a_reader_over_its_memory_limit_is_stopped_and_refused_and_the_server_answers(tmp_path):
    """Issue 14 finding 2: the file is read in a worker process under RLIMIT_AS (import_memory_mb); a file
    needing more is refused with 413 naming the limit, the worker is gone, the server neither grows nor
    stops, and the next import works."""
    with serve(tmp_path, MEDIASERVER_IMPORT_MEMORY_MB="100", **KEYS) as (base, proc, _log):
        DATA[base] = tmp_path / "data"
        http = await _signed_up(base)
        try:
            await _answers(http)
            before = _memory(proc.pid)
            status, got, _ = await _import(http, "wide.csv", _wide_csv())
            after = _memory(proc.pid)
            assert status == 413, got
            assert got["error"]["code"] == "too_large" and "100 MB of memory" in got["error"]["message"], got
            # the upload (15 MB) is buffered while received, ~2-3 times over; reading it took ~350 MB
            assert after["VmHWM"] - before["VmHWM"] < 100 * MB, (before, after)
            assert _children(proc.pid) == []
            assert proc.poll() is None
            await _answers(http)
        finally:
            await http.close()


async def test_a_reader_over_its_time_limit_is_killed_and_refused(tmp_path):
    """Issue 14 finding 2: import_timeout bounds the worker's wall-clock time; it is killed, the file
    refused with 413 naming the limit, and the server answers. (The wide CSV takes seconds of CPU to read.)"""
    with serve(tmp_path, MEDIASERVER_IMPORT_TIMEOUT="0.5", **KEYS) as (base, proc, _log):
        DATA[base] = tmp_path / "data"
        http = await _signed_up(base)
        try:
            status, got, took = await _import(http, "wide.csv", _wide_csv())
            assert status == 413, got
            assert got["error"]["code"] == "too_large" and "0.5 s" in got["error"]["message"], got
            assert took < 5
            assert _children(proc.pid) == []
            async with http.get("/api/v1/contacts?limit=1") as r:
                assert (r.status, (await r.json())["total"]) == (200, 0)
        finally:
            await http.close()


def test_import_limits_out_of_range_stop_the_start():
    """A worker memory below 64 MB or a non-positive import timeout is refused when the settings load."""
    for env in ({"MEDIASERVER_IMPORT_MEMORY_MB": "10"}, {"MEDIASERVER_IMPORT_TIMEOUT": "0"}):
        with pytest.raises(ConfigError, match="import_"):
            load(env=env)
