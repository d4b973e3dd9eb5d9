"""Contact import (R-ACC-6, R-FILE-5) from real CSV, XLSX (openpyxl) and XLS (xlwt BIFF8, BIFF5) files."""

from __future__ import annotations

import io
import os
import zipfile

import openpyxl
import pytest
import xlwt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediaserver.library.contacts_import import ImportRefused, decode_text, parse_contacts, valid_email
from tests.control.biff5 import biff5_xls

RU_ROWS = [
    ("Иван", "Петров", "ivan@example.com"),
    ("Мария", "Сидорова", "maria@example.ru"),
    ("Пётр", "Ёлкин", "petr@example.org"),
]


def csv_bytes(rows, encoding: str, delimiter: str = ";", header=("Имя", "Фамилия", "E-mail")) -> bytes:
    lines = [delimiter.join(header)] + [delimiter.join(r) for r in rows]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def refused(code: str, data: bytes, name: str) -> ImportRefused:
    with pytest.raises(ImportRefused) as info:
        parse_contacts(data, name)
    assert info.value.code == code, info.value.message
    return info.value


# ------------------------------------------------------------------------------------------ encodings


@pytest.mark.parametrize(
    "encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "cp1251", "koi8_r", "cp866"]
)
def test_three_line_russian_csv_imports_intact(encoding):
    """R-FILE-5: a 3-line CSV of Russian names in any of these encodings keeps every name intact."""
    result = parse_contacts(csv_bytes(RU_ROWS, encoding), "contacts.csv")
    assert [(r.name, r.email) for r in result.rows] == [(f"{a} {b}", c) for a, b, c in RU_ROWS]
    assert result.skipped == [] and result.format == "csv"


@pytest.mark.parametrize("encoding", ["cp1251", "koi8_r", "cp866"])
def test_single_short_row_in_legacy_code_pages(encoding):
    """Even one short row without a header: the Cyrillic code pages are told apart."""
    for text in ("Ёлкин Пётр,p@x.ru\n", "ИВАН ПЕТРОВ,ivan@x.ru\n", "иван,i@x.ru\n", "Ольга Щукина,o@x.ru\n"):
        decoded, used = decode_text(text.encode(encoding))
        assert decoded == text, (used, decoded)


@pytest.mark.parametrize(
    "text,encoding",
    [
        ("Name,Email\nHélène Dupré,h@x.fr\n", "cp1252"),
        ("Name,Email\nJürgen Müller,j@x.de\n", "cp1252"),
        ("Name,Email\nFrançois Lefèvre,f@x.fr\n", "cp1252"),
        ("Imię,Email\nŁukasz Żółć,l@x.pl\n", "cp1250"),
        ("Jméno,Email\nAntonín Dvořák,a@x.cz\n", "cp1250"),
        ("Ім'я,Email\nОлександр Ґудзь,o@x.ua\n", "cp1251"),
    ],
)
def test_western_and_central_european_code_pages(text, encoding):
    decoded, _ = decode_text(text.encode(encoding))
    assert decoded == text


def test_utf16_tab_separated_unicode_text_from_excel():
    """Excel's "Unicode Text" export: UTF-16 LE with BOM, tab-separated, saved as .txt."""
    data = csv_bytes(RU_ROWS, "utf-16", delimiter="\t")
    assert data[:2] == b"\xff\xfe"
    result = parse_contacts(data, "export.txt")
    assert result.rows[2].name == "Пётр Ёлкин" and result.encoding == "utf-16"


def test_utf16_without_bom():
    result = parse_contacts(csv_bytes(RU_ROWS, "utf-16-le", delimiter=","), "a.csv")
    assert result.rows[0].name == "Иван Петров" and result.encoding == "utf-16-le"


def test_ambiguous_or_unreadable_text_is_refused_not_garbled():
    """Bytes that read as no plausible text in any code page are refused with the UTF-8 advice."""
    junk = bytes(range(0x80, 0x100)) * 3
    e = refused("unknown_encoding", b"email\n" + junk + b"@x.ru\n", "a.csv")
    assert "UTF-8" in e.message


CYR_UPPER, CYR_LOWER = "АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЭЮЯ", "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
FIRST = [
    "Александр",
    "Дмитрий",
    "Максим",
    "Сергей",
    "Андрей",
    "Алексей",
    "Артём",
    "Илья",
    "Кирилл",
    "Михаил",
    "Анастасия",
    "Мария",
    "Дарья",
    "Анна",
    "Елизавета",
    "Виктория",
    "Полина",
    "Екатерина",
    "Юлия",
    "Фёдор",
]
LAST = [
    "Иванов",
    "Смирнова",
    "Кузнецов",
    "Попова",
    "Васильев",
    "Петрова",
    "Соколов",
    "Михайлова",
    "Новиков",
    "Фёдорова",
    "Морозов",
    "Волкова",
    "Алексеев",
    "Лебедева",
    "Семёнов",
    "Егорова",
    "Павлов",
    "Козлова",
    "Щербаков",
    "Жуковская",
    "Цой",
    "Шевчук",
    "Юдин",
    "Эйдельман",
]
random_word = st.builds(
    lambda a, b: a + b, st.sampled_from(CYR_UPPER), st.text(CYR_LOWER, min_size=2, max_size=9)
)
person = st.tuples(
    st.one_of(st.sampled_from(FIRST), random_word), st.one_of(st.sampled_from(LAST), random_word)
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    people=st.lists(person, min_size=1, max_size=4),
    encoding=st.sampled_from(["cp1251", "utf-8", "utf-8-sig"]),
    delimiter=st.sampled_from([",", ";", "\t"]),
)
def test_random_cyrillic_names_round_trip(people, encoding, delimiter):
    """Property: Cyrillic names (real ones and random capitalised words) survive cp1251/UTF-8 CSV intact."""
    rows = [(first, last, f"user{i}@example.com") for i, (first, last) in enumerate(people)]
    result = parse_contacts(csv_bytes(rows, encoding, delimiter), "people.csv")
    assert [r.name for r in result.rows] == [f"{a} {b}" for a, b, _ in rows]


@settings(max_examples=100, deadline=None)
@given(
    people=st.lists(st.tuples(st.sampled_from(FIRST), st.sampled_from(LAST)), min_size=1, max_size=3),
    encoding=st.sampled_from(["koi8_r", "cp866"]),
)
def test_real_names_round_trip_through_koi8_and_cp866(people, encoding):
    rows = [(a, b, f"u{i}@example.com") for i, (a, b) in enumerate(people)]
    result = parse_contacts(csv_bytes(rows, encoding, ","), "people.csv")
    assert [r.name for r in result.rows] == [f"{a} {b}" for a, b, _ in rows]


# ----------------------------------------------------------------------------------------------- CSV


def test_english_header_full_columns_and_extras():
    data = (
        b"Email,First Name,Last Name,Phone,Company,Notes\n"
        b"ann@x.com,Ann,Lee,+1 555 0100,Acme,VIP\n"
        b"bob@x.com,Bob,,,\n"
    )
    result = parse_contacts(data, "people.CSV")
    ann, bob = result.rows
    assert (ann.name, ann.phone, ann.company, ann.extra, ann.line) == (
        "Ann Lee",
        "+1 555 0100",
        "Acme",
        {"Notes": "VIP"},
        2,
    )
    assert (bob.name, bob.extra) == ("Bob", {})


def test_russian_header_variants_and_patronymic():
    data = csv_bytes(
        [("Петров", "Иван", "Сергеевич", "ivan@x.ru", "+7 916 000-00-00", "ООО «Ромашка»")],
        "cp1251",
        header=("Фамилия", "Имя", "Отчество", "Электронная почта", "Телефон", "Компания"),
    )
    row = parse_contacts(data, "a.csv").rows[0]
    assert (row.name, row.phone, row.company) == (
        "Иван Сергеевич Петров",
        "+7 916 000-00-00",
        "ООО «Ромашка»",
    )


def test_fio_column_and_email_header_spelled_e_mail():
    data = "ФИО;E-mail;Организация\nИванов Иван Иванович;i@x.ru;Рога и копыта\n".encode("cp1251")
    row = parse_contacts(data, "a.csv").rows[0]
    assert (row.name, row.company) == ("Иванов Иван Иванович", "Рога и копыта")


def test_headerless_file_finds_the_email_column_by_content():
    data = "Иван Петров;ivan@x.ru\nМария Сидорова;maria@x.ru\n".encode("cp1251")
    result = parse_contacts(data, "a.csv")
    assert [(r.name, r.email, r.line) for r in result.rows] == [
        ("Иван Петров", "ivan@x.ru", 1),
        ("Мария Сидорова", "maria@x.ru", 2),
    ]


def test_invalid_missing_and_duplicate_emails_are_reported_with_their_lines():
    data = b"name,email\nA,a@x.com\nB,not-an-email\nC,\n\nD,A@X.com\nE,e@x.com\nF,f@@x.com\n"
    result = parse_contacts(data, "a.csv")
    assert [r.email for r in result.rows] == ["a@x.com", "e@x.com"]
    lines = [line for line, _ in result.skipped]
    assert lines == [3, 4, 6, 8]
    assert "invalid e-mail" in result.skipped[0][1] and "no e-mail" in result.skipped[1][1]
    assert "duplicate" in result.skipped[2][1] and "line 2" in result.skipped[2][1]


def test_quoted_fields_with_delimiters_and_newlines():
    data = b'Name;Email;Company\n"Petrov; Ivan";ivan@x.ru;"Acme\nLtd"\nAnna;anna@x.ru;B\n'
    result = parse_contacts(data, "a.csv")
    assert result.rows[0].name == "Petrov; Ivan" and result.rows[0].company == "Acme\nLtd"
    assert result.rows[1].line == 4


def test_excel_sep_hint_line():
    data = "sep=|\r\nName|Email\r\nАнна, Ольга|anna@x.ru\r\n".encode("cp1251")
    row = parse_contacts(data, "a.csv").rows[0]
    assert (row.name, row.email, row.line) == ("Анна, Ольга", "anna@x.ru", 3)


@pytest.mark.parametrize(
    "email,ok",
    [
        ("a@b.co", True),
        ("first.last+tag@sub.example.org", True),
        ("иван@почта.рф", False),
        ("a@b", False),
        ("a b@c.de", False),
        (".a@b.cd", False),
        ("a..b@c.de", False),
        ("a@b..cd", False),
        ("", False),
    ],
)
def test_email_validation(email, ok):
    assert valid_email(email) is ok


# --------------------------------------------------------------------------------------------- XLSX


def xlsx_bytes(rows) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_with_numbers_and_cyrillic():
    data = xlsx_bytes(
        [
            ("Имя", "Фамилия", "E-mail", "Телефон", "Компания"),
            ("Иван", "Петров", "ivan@x.ru", 79161234567, "Яндекс"),
            (None, None, None, None, None),
            ("Анна", None, "bad@", None, None),
        ]
    )
    result = parse_contacts(data, "book.xlsx")
    assert result.format == "xlsx" and result.encoding is None
    row = result.rows[0]
    assert (row.name, row.phone, row.company, row.line) == ("Иван Петров", "79161234567", "Яндекс", 2)
    assert result.skipped == [(4, "invalid e-mail address: bad@")]


def test_xlsx_uses_the_first_sheet_with_data():
    book = openpyxl.Workbook()
    book.active.title = "Empty"
    second = book.create_sheet("Contacts")
    second.append(["Email", "Name"])
    second.append(["z@x.com", "Zed"])
    out = io.BytesIO()
    book.save(out)
    assert [r.name for r in parse_contacts(out.getvalue(), "a.xlsx").rows] == ["Zed"]


def test_zip_that_is_not_a_workbook_is_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("readme.txt", "hello")
    e = refused("binary_file", out.getvalue(), "contacts.xlsx")
    assert "ZIP archive" in e.message


def test_damaged_xlsx_is_refused():
    data = xlsx_bytes([("Email",), ("a@x.com",)])
    refused("bad_spreadsheet", data[: len(data) // 2], "a.xlsx")


def test_xlsx_part_compressed_with_bzip2_is_refused():
    """Issue 14 finding 2: bzip2 and LZMA parts decompress without an output limit; Excel writes neither."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx_bytes([("Email",), ("a@x.com",)]))) as src:
        with zipfile.ZipFile(out, "w") as dst:
            for info in src.infolist():
                dst.writestr(info.filename, src.read(info), zipfile.ZIP_BZIP2)
    e = refused("bad_spreadsheet", out.getvalue(), "a.xlsx")
    assert "compression method" in e.message


def test_columns_past_the_256th_are_not_read():
    """Issue 14 finding 2: a row is read at most 256 cells wide, in every format."""
    header = ["Email"] + [f"c{i}" for i in range(1, 300)]
    row = ["a@x.com"] + [f"v{i}" for i in range(1, 300)]
    book = openpyxl.Workbook()
    book.active.append(header)
    book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    csv = (",".join(header) + "\n" + ",".join(row) + "\n").encode()
    for data, name in ((out.getvalue(), "a.xlsx"), (csv, "a.csv")):
        extra = parse_contacts(data, name).rows[0].extra
        assert (len(extra), extra["c255"], "c256" in extra) == (255, "v255", False), name


def test_more_than_two_million_filled_cells_are_refused():
    """Issue 14 finding 2: the cells read are bounded, not only the rows."""
    line = ",".join(["x"] * 256)
    data = ("email," + line + "\n" + "\n".join(f"a{n}@x.com," + line for n in range(7_900))).encode()
    e = refused("too_large", data, "a.csv")
    assert "2,000,000 filled cells" in e.message


# ---------------------------------------------------------------------------------------------- XLS


def test_xls_biff8_written_by_xlwt():
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("Контакты")
    for r, row in enumerate(
        [("Имя", "Фамилия", "E-mail", "Телефон"), ("Пётр", "Ёлкин", "p@x.ru", 74951234567.0)]
    ):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    out = io.BytesIO()
    book.save(out)
    result = parse_contacts(out.getvalue(), "old.xls")
    assert result.format == "xls" and result.encoding is None
    assert (result.rows[0].name, result.rows[0].phone) == ("Пётр Ёлкин", "74951234567")


ROWS_XLS = [
    ["Имя", "Фамилия", "E-mail", "Телефон"],
    ["Иван", "Петров", "ivan@x.ru", 79161234567],
    ["Ольга", "Щукина", "olga@x.ru", 79031112233],
]


@pytest.mark.parametrize(
    "encoding,codepage",
    [
        ("cp1251", 1251),
        ("cp866", 866),
        ("koi8_r", 20866),
        ("cp1251", None),
        ("koi8_r", None),
        ("cp866", None),
    ],
)
def test_xls_biff5_honours_its_code_page_or_detects_one(encoding, codepage):
    """Excel 5/95 files store 8-bit strings: the CODEPAGE record is honoured; without it, detected."""
    result = parse_contacts(biff5_xls(ROWS_XLS, encoding, codepage), "legacy.xls")
    assert [r.name for r in result.rows] == ["Иван Петров", "Ольга Щукина"]
    assert result.rows[1].phone == "79031112233"
    assert result.encoding == encoding


def test_xls_declared_code_page_wins_over_guessing():
    """A file declaring cp1252 is read as cp1252 even though its bytes would also read as Cyrillic."""
    rows = [["Name", "Email"], ["Hélène Dupré", "h@x.fr"]]
    result = parse_contacts(biff5_xls(rows, "cp1252", 1252), "a.xls")
    assert result.rows[0].name == "Hélène Dupré" and result.encoding == "cp1252"


def test_damaged_xls_is_refused():
    data = biff5_xls(ROWS_XLS, "cp1251", 1251)
    refused("bad_spreadsheet", data[:600], "a.xls")


# ----------------------------------------------------------------------------------------- refusals


def png_bytes() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    raw = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", raw)
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    "maker,name,what",
    [
        (png_bytes, "contacts.csv", "PNG image"),
        (lambda: b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "contacts.csv", "PDF"),
        (lambda: os.urandom(2048) + b"\x00\x01", "contacts.csv", "binary data"),
        (lambda: b"\x00\x00\x00\x00email\n", "contacts.txt", "binary data"),
    ],
)
def test_binary_files_are_refused(maker, name, what):
    e = refused("binary_file", maker(), name)
    assert what in e.message


@pytest.mark.parametrize("data", [b"", b"   \r\n\r\n", b"\xef\xbb\xbf", b"\xff\xfe"])
def test_empty_files_are_refused(data):
    assert "empty" in refused("empty_file", data, "a.csv").message


@pytest.mark.parametrize("name", ["contacts.vcf", "contacts.ods", "contacts", "photo.png", "c.csv.exe"])
def test_unknown_extensions_are_refused(name):
    e = refused("unknown_format", b"email\na@x.com\n", name)
    assert "CSV, XLS or XLSX" in e.message


def test_no_email_column_is_refused():
    e = refused(
        "no_email_column",
        csv_bytes([("Иван", "Петров", "+7 916")], "utf-8", header=("Имя", "Фамилия", "Телефон")),
        "a.csv",
    )
    assert "e-mail" in e.message


def test_no_valid_rows_is_refused_naming_the_lines():
    e = refused("no_rows", b"email,name\nnope,A\nalso nope,B\n", "a.csv")
    assert "line 2" in e.message and "line 3" in e.message
    refused("no_rows", b"email,name\n", "a.csv")


def test_too_large_is_refused():
    refused("too_large", b"email\n" + b"a@x.com\n" * (3 * 1024 * 1024), "a.csv")
