"""Contact import through the HTTP API (R-FILE-5, R-ACC-6), on SQLite and PostgreSQL: real XLSX (openpyxl) and
XLS (Excel 5/95 BIFF5 with and without its CODEPAGE record, and BIFF8 by xlwt) workbooks, CSVs in koi8-r and
cp866 (DOS) as old Russian tools save them, each with the Cyrillic names intact in the address book; and texts
that cannot be read for sure - undecodable bytes, a code page that cannot be told apart, legacy bytes that
happen to be valid UTF-8 - refused with a message naming the problem, importing nothing."""

from __future__ import annotations

import io

import aiohttp
import openpyxl
import pytest
import xlwt

from tests.api.conftest import call, signup
from tests.control.biff5 import biff5_xls

PEOPLE = [
    ("Пётр", "Ёлкин", "petr@example.test", "+7 495 000-00-01", 'ООО "Ромашка"'),
    ("Ольга", "Щукина", "olga@example.test", "+7 903 111-22-33", "Консерватория"),
    ("Фёдор", "Достоевский", "fedor@example.test", "", "Эра"),
]
HEADER = ("Имя", "Фамилия", "E-mail", "Телефон", "Компания")
NAMES = {f"{first} {last}" for first, last, *_ in PEOPLE}


async def _import(http, name: str, data: bytes, status: int, headers: dict | None = None) -> dict:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    return await call(http, "POST", "/api/v1/contacts/import", status, data=form, headers=headers or {})


async def _book(http) -> dict[str, dict]:
    got = await call(http, "GET", "/api/v1/contacts?limit=100", 200)
    return {c["name"]: c for c in got["items"]}


def _csv(encoding: str, delimiter: str = ";") -> bytes:
    lines = [delimiter.join(HEADER)] + [delimiter.join(p) for p in PEOPLE]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


async def _imported_intact(http, got: dict, fmt: str, encoding: str | None) -> None:
    assert (got["imported"], got["format"], got["encoding"], got["skipped"]) == (3, fmt, encoding, []), got
    book = await _book(http)
    assert set(book) == NAMES
    petr = book["Пётр Ёлкин"]
    assert (petr["email"], petr["phone"], petr["company"]) == (
        "petr@example.test",
        "+7 495 000-00-01",
        'ООО "Ромашка"',
    )
    assert book["Фёдор Достоевский"]["company"] == "Эра"


def _xlsx() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Контакты"
    sheet.append(list(HEADER))
    for row in PEOPLE:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_xlsx_workbook_imports_with_cyrillic_names_intact(api):
    http, _ = await signup(api)
    await _imported_intact(http, await _import(http, "контакты.xlsx", _xlsx(), 201), "xlsx", None)


@pytest.mark.parametrize(
    "encoding,codepage", [("cp1251", 1251), ("koi8_r", 20866), ("cp866", 866), ("cp1251", None)]
)
async def test_excel_95_xls_imports_with_cyrillic_names_intact(api, encoding, codepage):
    """BIFF5 stores 8-bit strings: its CODEPAGE record is honoured; without one the code page is detected."""
    http, _ = await signup(api)
    data = biff5_xls([list(HEADER), *[list(p) for p in PEOPLE]], encoding, codepage)
    await _imported_intact(http, await _import(http, "old.xls", data, 201), "xls", encoding)


async def test_excel_97_xls_imports_with_cyrillic_names_intact(api):
    http, _ = await signup(api)
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("Контакты")
    for r, row in enumerate([HEADER, *PEOPLE]):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    out = io.BytesIO()
    book.save(out)
    await _imported_intact(http, await _import(http, "new.xls", out.getvalue(), 201), "xls", None)


@pytest.mark.parametrize("encoding,delimiter", [("koi8_r", ";"), ("cp866", ","), ("koi8_r", "\t")])
async def test_koi8r_and_cp866_csv_import_with_cyrillic_names_intact(api, encoding, delimiter):
    http, _ = await signup(api)
    got = await _import(http, "contacts.csv", _csv(encoding, delimiter), 201)
    await _imported_intact(http, got, "csv", encoding)


async def test_one_short_legacy_name_is_read_right_or_refused_never_garbled(api):
    """Short texts are where code pages look alike: a single koi8-r "ФЁДОР" once read as cp1251 "жідпт", a
    cp866 "Пётр" as cp1251 "Џсва"; they import intact now."""
    http, _ = await signup(api)
    for n, (name, encoding) in enumerate((("ФЁДОР", "koi8_r"), ("Пётр", "cp866"), ("семён", "koi8_r"))):
        got = await _import(http, "one.csv", f"{name},p{n}@example.test\r\n".encode(encoding), 201)
        assert (got["imported"], got["encoding"]) == (1, encoding), got
    assert set(await _book(http)) == {"ФЁДОР", "Пётр", "семён"}


@pytest.mark.parametrize(
    "data,problem",
    [
        # bytes that read as no plausible text in any code page
        (
            b"email;name\r\nx@example.test;" + bytes(range(0x80, 0x100)) * 3 + b"\r\n",
            "neither UTF-8 nor a Windows/DOS code page",
        ),
        # one short all-caps koi8-r name that reads as well as a lowercase cp1251 word ("ЮЛЯ" / "амс")
        ("ЮЛЯ,yulia@example.test\r\n".encode("koi8_r"), "cannot be told apart (koi8_r or cp1251)"),
        # cp866 "яна" is also valid UTF-8 (one Arabic presentation form): neither reading is safe
        ("яна,yana@example.test\r\n".encode("cp866"), "cannot be told apart (utf-8 or cp866)"),
        # a UTF-8 marker in front of text that is not UTF-8
        (
            b"\xef\xbb\xbfname,email\r\n" + "Иван,i@example.test\r\n".encode("cp1251"),
            "UTF-8-SIG marker but is not valid",
        ),
    ],
    ids=["undecodable", "ambiguous-code-page", "ambiguous-utf8", "false-bom"],
)
async def test_unreadable_or_ambiguous_text_is_refused_naming_the_problem(api, data, problem):
    http, _ = await signup(api)
    err = await _import(http, "contacts.csv", data, 400)
    assert err["error"]["code"] == "unknown_encoding" and problem in err["error"]["message"], err
    if "marker" not in problem:
        assert "UTF-8" in err["error"]["message"]  # and what to do about it
    assert await _book(http) == {}


async def test_a_large_import_with_an_idempotency_key_runs_once(api):
    """Over the 1 MB cap of JSON bodies: the buffered multipart body still reaches the import, and its
    retry with the same key (a new multipart boundary) is answered from the first import."""
    http, _ = await signup(api)
    rows = "".join(f"Контакт {n};c{n}@example.test;Компания {n}\r\n" for n in range(25_000))
    data = ("Имя;E-mail;Компания\r\n" + rows).encode("cp1251")
    assert len(data) > 1024 * 1024
    key = {"Idempotency-Key": "big-import-1"}
    await _import(api.client(), "big.csv", data, 401, key)  # buffered for nobody signed out
    first = await _import(http, "big.csv", data, 201, key)
    assert (first["imported"], first["encoding"]) == (25_000, "cp1251")
    assert await _import(http, "big.csv", data, 201, key) == first
    assert (await call(http, "GET", "/api/v1/contacts?limit=1", 200))["total"] == 25_000
