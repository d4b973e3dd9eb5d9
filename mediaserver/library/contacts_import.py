"""Contact import into the address book from CSV, XLSX and legacy XLS files (R-ACC-6, R-FILE-5).

:func:`parse_contacts` reads the bytes of an uploaded file and returns an :class:`ImportResult`: the
contacts it could read and, separately, the rows it skipped with the reason (invalid or missing e-mail,
duplicate e-mail). A file it cannot read at all raises :class:`ImportRefused` whose ``code`` is stable
and whose ``message`` names the problem for the person.

R-FILE-5 (seed FAQ: "XLS and CSV files are saved in a Windows encoding by default, and that causes the
problems"): CSV text is decoded from UTF-8 (with or without BOM), UTF-16/32 with BOM, UTF-16 without BOM
(recognised by its zero bytes), or a legacy code page among cp1251, koi8-r, cp866, cp1252 and cp1250.
The legacy code page is chosen by scoring each decoding for plausible text (letters of one script per
word, sensible upper/lower case, Russian letter frequencies, Latin accents that one language uses
together, no box-drawing or stray symbols), with charset-normalizer's guess as a tie-breaker. Limits:
a file whose only non-ASCII text reads plausibly in two code pages is ambiguous; ties between cp1252
and cp1250 (e.g. "è"/"č") go to cp1252, and if the best two readings stay too close to call among the
Cyrillic code pages the file is refused with advice to save it as UTF-8 rather than garbling names.
XLS files carry their own CODEPAGE record, which is honoured; Excel 5/95 files without one have their
8-bit strings detected like CSV text. XLSX and Excel 97+ XLS store Unicode and need no detection.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import math
import re
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mediaserver import addresses

MAX_IMPORT_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000
# Issue 14 finding 2 (a 1.5 KB workbook declaring A1:XFD100000 made openpyxl pad every row to 16,384 cells,
# ~13 GB): what a file may make the reader build is bounded before and while it is read.
MAX_COLUMNS = 256  # columns read from a row (Excel 2003's A..IV); cells past them are not read
MAX_CELLS = 2_000_000  # filled cells of the sheet or CSV read
MAX_UNPACKED = 160 * 1024 * 1024  # an XLSX's parts unpacked, all together
MAX_RATIO = 100  # unpacked to packed size of one XLSX part (of over 1 MB unpacked); Excel's are ~5-20
MAX_PARTS = 1000  # entries of an XLSX's ZIP archive
EXTENSIONS = ("csv", "txt", "xls", "xlsx")
LEGACY_ENCODINGS = ("cp1251", "cp1252", "koi8_r", "cp866", "cp1250")


class ImportRefused(Exception):
    """A file that cannot be imported at all. ``code`` is stable, ``message`` names the problem.

    Codes: ``unknown_format`` (extension), ``too_large``, ``empty_file``, ``binary_file``,
    ``bad_spreadsheet``, ``unknown_encoding``, ``no_email_column``, ``no_rows`` (and ``import_failed`` from
    :mod:`import_worker` when its worker fails otherwise than on its limits).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class ContactRow:
    """One contact; ``line`` is the 1-based line (CSV) or row (spreadsheet) it came from."""

    name: str
    email: str
    phone: str = ""
    company: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    line: int = 0


@dataclass
class ImportResult:
    """The contacts read, the rows skipped as ``(line, reason)``, and how the file was read."""

    rows: list[ContactRow]
    skipped: list[tuple[int, str]]
    format: str  # "csv", "xlsx" or "xls"
    encoding: str | None  # the text encoding used (CSV, old XLS), None when the format is Unicode


# ---------------------------------------------------------------------------------------------- entry


def parse_contacts(data: bytes, filename: str) -> ImportResult:
    """Read contacts from ``data``; the extension of ``filename`` must be csv, txt, xls or xlsx."""
    check_file(data, filename)
    if data.startswith(b"PK\x03\x04"):
        table, fmt, encoding = _read_xlsx(data), "xlsx", None
    elif data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        table, encoding = _read_xls(data)
        fmt = "xls"
    else:
        _refuse_binary(data)
        text, encoding = decode_text(data)
        table, fmt = _read_csv(text), "csv"
    return _contacts(table, fmt, encoding)


_BLANK = re.compile(rb"[ \t\r\n\x00\xef\xbb\xbf\xff\xfe]*")


def check_file(data: bytes, filename: str, bounded: bool = False) -> None:
    """The checks that read nothing: the extension, the size, and an XLSX's declared part sizes and sheet
    dimensions (issue 14 finding 2); raises ImportRefused. Cheap enough for the server process itself with
    ``bounded``: then an archive whose central directory is large (or ZIP64) is left to the import worker."""
    ext = filename.rpartition(".")[2].lower() if "." in filename else ""
    if ext not in EXTENSIONS:
        shown = f".{ext}" if ext else "a file without an extension"
        raise ImportRefused("unknown_format", f"{shown} cannot be imported: use a CSV, XLS or XLSX file")
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportRefused("too_large", f"the file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB")
    if _BLANK.fullmatch(data):  # not data.strip(): no copy of the file in the server process
        raise ImportRefused("empty_file", "the file is empty")
    if data.startswith(b"PK\x03\x04") and (not bounded or _small_directory(data)):
        _check_workbook(data)


# ------------------------------------------------------------------------------------------- decoding

_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"GIF8": "a GIF image",
    b"\xff\xd8\xff": "a JPEG image",
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip archive",
    b"\x7fELF": "a program",
    b"MZ": "a Windows program",
    b"Rar!": "a RAR archive",
    b"7z\xbc\xaf": "a 7-Zip archive",
    b"{\\rtf": "an RTF document",
}

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _refuse_binary(data: bytes) -> None:
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            raise ImportRefused(
                "binary_file", f"this is {what}, not a contact list: use a CSV, XLS or XLSX file"
            )
    head = data[:4096]
    if any(head.startswith(bom) for bom, _ in _BOMS) or _utf16_without_bom(head):
        return
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 13))
    if b"\x00" in head or controls > len(head) // 100:
        raise ImportRefused(
            "binary_file", "the file holds binary data, not text: use a CSV, XLS or XLSX file"
        )


def _utf16_without_bom(head: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' when every other byte is zero, as in ASCII-heavy UTF-16 text."""
    if len(head) < 4 or len(head) % 2:
        return None
    even, odd = head[0::2], head[1::2]
    if odd.count(0) >= len(odd) * 0.6 and even.count(0) == 0:
        return "utf-16-le"
    if even.count(0) >= len(even) * 0.6 and odd.count(0) == 0:
        return "utf-16-be"
    return None


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode CSV bytes; return ``(text, encoding)`` or raise ImportRefused('unknown_encoding')."""
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(enc).lstrip("\ufeff"), enc
            except UnicodeDecodeError as e:
                raise ImportRefused(
                    "unknown_encoding",
                    f"the file starts with a {enc.upper()} marker but is not valid {enc.upper()} "
                    f"(byte {e.start})",
                ) from None
    wide = _utf16_without_bom(data[:4096])
    if wide:
        try:
            return data.decode(wide), wide
        except UnicodeDecodeError:
            pass
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if _utf8_trusted(data, text):
            return text, "utf-8"
    return _decode_legacy(data)


def _utf8_trusted(data: bytes, text: str) -> bool:
    """Valid UTF-8 is UTF-8 - except a short text whose few non-ASCII bytes happen to form valid sequences:
    cp866 "яна" (EF AD A0) is UTF-8 U+FB60, "цой" a CJK character. With under 16 non-ASCII characters, a
    decoding to unassigned or private characters is not trusted (the legacy code pages decide), and one to
    characters outside the Latin, Cyrillic and Greek scripts is refused as ambiguous when a legacy code page
    reads the bytes as plausible Cyrillic. (Real UTF-8 Cyrillic or accented Latin is always trusted.)"""
    wide = [c for c in text if not c.isascii()]
    if len(wide) >= 16:
        return True
    if any(unicodedata.category(c) in ("Cn", "Co", "Cs") for c in wide):
        return False
    if all(
        unicodedata.name(c, "").startswith(("LATIN", "CYRILLIC", "GREEK"))
        or unicodedata.category(c)[0] in "PZSN"
        for c in wide
    ):
        return True
    try:
        legacy, enc = _decode_legacy(data)
    except ImportRefused:
        return True
    if _cyrillic(legacy) and plausibility(legacy) > plausibility(text):
        raise ImportRefused(
            "unknown_encoding",
            _ENCODING_ADVICE.format(what=f"the file's encoding cannot be told apart (utf-8 or {enc})"),
        )
    return True


def _decode_legacy(data: bytes) -> tuple[str, str]:
    decoded: dict[str, str] = {}
    for enc in LEGACY_ENCODINGS:
        try:
            decoded[enc] = data.decode(enc)
        except UnicodeDecodeError:
            continue
    guess = _charset_normalizer_guess(data)
    scores = {
        enc: plausibility(text) + (0.1 if enc == guess else 0.0) + _PRIOR[enc]
        for enc, text in decoded.items()
    }
    ranked = sorted(scores, key=scores.__getitem__, reverse=True)
    best = ranked[0] if ranked else None
    if best is None or scores[best] <= 0:
        raise ImportRefused(
            "unknown_encoding",
            _ENCODING_ADVICE.format(what="the text is neither UTF-8 nor a Windows/DOS code page we can read"),
        )
    for other in ranked[1:]:
        close = scores[best] - scores[other] < 1.0
        if (
            close
            and _cyrillic(decoded[best])
            and decoded[other] != decoded[best]
            and _cyrillic(decoded[other])
        ):
            raise ImportRefused(
                "unknown_encoding",
                _ENCODING_ADVICE.format(
                    what=f"the file's code page cannot be told apart ({best} or {other})"
                ),
            )
    return decoded[best], best


_ENCODING_ADVICE = (
    '{what}; save the file as CSV UTF-8 (in Excel: File > Save As > "CSV UTF-8", '
    "or Tools > Web Options > Encoding > Unicode (UTF-8)) and import it again"
)
_PRIOR = {"cp1251": 0.2, "cp1252": 0.15, "koi8_r": 0.1, "cp866": 0.05, "cp1250": 0.0}


def _charset_normalizer_guess(data: bytes) -> str | None:
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=list(LEGACY_ENCODINGS)).best()
    return best.encoding if best is not None else None


def _cyrillic(text: str) -> bool:
    return any("\u0400" <= c <= "\u04ff" for c in text)


# Russian letter frequencies (per cent), for telling Cyrillic code pages apart.
_RU_FREQ = dict(
    zip(
        "оеаинтсрвлкмдпуяыьгзбчйхжшюцщэфъё",
        (
            10.97,
            8.45,
            8.01,
            7.35,
            6.70,
            6.26,
            5.47,
            4.73,
            4.54,
            4.40,
            3.49,
            3.21,
            2.98,
            2.81,
            2.62,
            2.01,
            1.90,
            1.74,
            1.70,
            1.65,
            1.59,
            1.44,
            1.21,
            0.97,
            0.94,
            0.73,
            0.64,
            0.48,
            0.36,
            0.32,
            0.26,
            0.04,
            0.60,
        ),
        strict=True,
    )
)
# "ё" is rare in running text (printed as "е") but written in names (Пётр, Фёдор, Семён, Алёна, Артём, Ёлкин):
# it counts as often as "ю" here, or a koi8-r "ФЁДОР" reads better as cp1251 "жідпт".
_CYR_EXTRA = set("іїєґўІЇЄҐЎ")  # Ukrainian and Belarusian letters of cp1251
# Serbian and Macedonian letters of cp1251 (0x80-0xBF): in a Russian-language list they are what another code
# page's Cyrillic letters turn into (cp866 "Пётр" read as cp1251 is "Џсва").
_CYR_SERBIAN = set("ЂЃЉЊЌЋЏђѓљњќћџЈјЅѕ")
# Common Russian first names and their everyday forms: a contact list is full of them, and a whole word that
# is one tips a close call between code pages (koi8-r "ЮЛЯ" reads as cp1251 "амс", a plausible but unknown
# word).
_NAMES = set(
    """александр саша алексей лёша алёша андрей анатолий антон аркадий арсений артём артемий борис вадим
валентин валерий василий вася виктор виталий владимир вова владислав влад вячеслав геннадий георгий глеб
григорий гриша даниил данила денис дмитрий дима евгений женя егор иван ваня игорь илья кирилл константин костя
лев леонид максим макар марк матвей михаил миша никита николай коля олег павел паша пётр петя роман рома
руслан семён сергей серёжа станислав степан тимофей тимур фёдор федя юрий юра яков ярослав алина алла алёна
алиса анастасия настя ангелина анна аня антонина валентина валерия варвара вера вероника виктория вика галина
дарья даша диана евгения екатерина катя елена лена елизавета лиза жанна зинаида зоя инна ирина ира карина кира
кристина ксения лариса лидия любовь люба людмила маргарита рита марина мария маша надежда надя наталья наташа
нина оксана ольга оля полина раиса светлана света софия софья соня таисия тамара татьяна таня ульяна юлия юля
яна""".split()
)
_TYPOGRAPHIC = set("«»—–№’‘“”„…•\u00a0©®°")
# Accented Latin letters each language uses: a word's accents must all fit one language.
_LANGS = [
    set(s)
    for s in (
        "éèêëàâçîïôùûüÿœæ",
        "äöüß",
        "áéíóúñü",
        "áâãàçéêíóôõú",
        "àèéìíòóù",
        "åäöé",
        "æøåé",
        "ąćęłńóśźż",
        "áčďéěíňóřšťúůýž",
        "áäčďéíĺľňóôŕšťúýž",
        "áéíóöőúüű",
        "čćđšž",
        "ăâîșțşţ",
        "äöõüšž",
        "āčēģīķļņšūž",
        "ąčęėįšųūž",
        "çğıöşü",
        "áðéíóúýþæö",
    )
]
_WORD = re.compile(r"[^\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]+")


def _case_ok(word: str) -> bool:
    letters = [c for c in word if c.isalpha()]
    if len(letters) < 2:
        return True
    rest = letters[1:]
    return all(c.islower() for c in rest) or all(c.isupper() for c in letters)


def plausibility(text: str) -> float:
    """Score how much ``text`` looks like real names and words; garbled decodings score low or negative.

    Only words with non-ASCII characters count, since ASCII reads the same in every candidate.
    """
    score = 0.0
    for word in _WORD.findall(text):
        if word.isascii():
            continue
        cyr = lat = junk = 0
        word_score = 0.0
        accents = set()
        for c in word:
            if c.isascii():
                lat += c.isalpha()
                continue
            lower = c.lower()
            if lower in _RU_FREQ:
                cyr += 1
                word_score += 1.0 + 0.4 * math.log(_RU_FREQ[lower] / 3.03 + 0.01)
            elif c in _CYR_EXTRA:
                cyr += 1
                word_score += 0.6
            elif c in _CYR_SERBIAN:
                cyr += 1
                word_score -= 1.0
            elif c.isalpha() and unicodedata.name(c, "").startswith("LATIN"):
                lat += 1
                accents.add(lower)
                word_score += 0.7
            elif c in _TYPOGRAPHIC:
                continue
            elif c.isalpha():
                cyr += "CYRILLIC" in unicodedata.name(c, "")
                word_score += 0.1  # rare letters (Serbian Cyrillic in cp1251, Greek …)
            else:
                junk += 1
        word_score -= 3.0 * junk
        if cyr and lat:
            word_score -= 4.0
        if not _case_ok(word):
            word_score -= 3.0
        if cyr and word.lstrip("«„“\"'")[:1].lower() in ("ъ", "ь", "ы"):
            word_score -= 2.0
        if accents and not any(accents <= lang for lang in _LANGS):
            word_score -= 2.0
        if cyr and word.lower() in _NAMES:
            word_score += 1.5
        score += word_score
    return score


# ---------------------------------------------------------------------------------------------- tables

Table = list[tuple[int, list[str]]]  # (1-based line or row number, cells)


def _read_csv(text: str) -> Table:
    first, _, rest = text.partition("\n")
    start = 1
    if re.fullmatch(r"sep=.\r?", first):  # Excel's "sep=;" hint line names the delimiter
        delimiter, text, start = first[4], rest, 2
    else:
        delimiter = _delimiter("\n".join(text.splitlines()[:50]))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    table = _Rows("file")
    offset = start - 1
    try:
        for cells in reader:
            table.add(start, cells)
            start = reader.line_num + 1 + offset
    except csv.Error as e:
        raise ImportRefused(
            "bad_spreadsheet", f"the CSV text is malformed near line {reader.line_num}: {e}"
        ) from None
    return table.rows


def _delimiter(sample: str) -> str:
    """The delimiter among , ; tab | that splits the sample's lines into the most consistent columns."""
    best, best_key = ",", (0.0, 0)
    for d in (",", ";", "\t", "|"):
        rows = [
            r for r in csv.reader(io.StringIO(sample, newline=""), delimiter=d) if any(x.strip() for x in r)
        ]
        if not rows:
            continue
        counts = [len(r) for r in rows]
        width = max(set(counts), key=counts.count)
        if width < 2:
            continue
        key = (counts.count(width) / len(counts), width)
        if key > best_key:
            best, best_key = d, key
    return best


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value).strip()


class _Rows:
    """The rows of a sheet or CSV as they are read, within the limits (issue 14 finding 2): at most
    MAX_ROWS + 1 rows (a header) counting empty ones, MAX_COLUMNS columns read per row, MAX_CELLS filled
    cells. Empty rows and a row's trailing empty cells are not kept."""

    def __init__(self, what: str) -> None:
        self.what, self.count, self.cells = what, 0, 0
        self.rows: Table = []

    def add(self, number: int, values: Iterable[object]) -> None:
        self.count += 1
        if self.count > MAX_ROWS + 1:
            raise ImportRefused("too_large", f"the {self.what} has more than {MAX_ROWS} rows")
        cells = [_cell(v) for v in itertools.islice(values, MAX_COLUMNS)]
        while cells and not cells[-1]:
            cells.pop()
        if not cells:
            return
        self.cells += sum(1 for c in cells if c)
        if self.cells > MAX_CELLS:
            raise ImportRefused(
                "too_large", f"the {self.what} has more than {MAX_CELLS:,} filled cells (at row {number})"
            )
        self.rows.append((number, cells))


def _check_archive(archive: zipfile.ZipFile) -> None:
    """Refuse a ZIP archive that would unpack to too much (a ZIP bomb) before anything is unpacked (issue
    14 finding 2). The declared sizes bind: zipfile stops a part at its declared size (and fails its CRC)."""
    parts = archive.infolist()
    if len(parts) > MAX_PARTS:
        raise ImportRefused("too_large", f"the workbook has {len(parts)} parts, more than {MAX_PARTS}")
    total = 0
    for part in parts:
        if part.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            # bzip2 and LZMA decompress a read's worth without an output limit; Excel uses neither
            raise ImportRefused(
                "bad_spreadsheet",
                f"the workbook's part {part.filename[:100]} uses a compression method Excel does not "
                f"(ZIP method {part.compress_type})",
            )
        size = part.file_size
        if size > MAX_UNPACKED:
            raise ImportRefused(
                "too_large",
                f"the workbook's part {part.filename[:100]} unpacks to {_mb(size)}, more than the "
                f"{_mb(MAX_UNPACKED)} a workbook may unpack to",
            )
        if size > 1024 * 1024 and size > MAX_RATIO * max(part.compress_size, 1):
            raise ImportRefused(
                "too_large",
                f"the workbook's part {part.filename[:100]} is compressed "
                f"{size // max(part.compress_size, 1):,}:1 ({_mb(size)} packed into {part.compress_size:,} "
                f"bytes), more than the {MAX_RATIO}:1 of a real workbook (a ZIP bomb)",
            )
        total += size
    if total > MAX_UNPACKED:
        raise ImportRefused(
            "too_large",
            f"the workbook unpacks to {_mb(total)}, more than the {_mb(MAX_UNPACKED)} a workbook may "
            "unpack to",
        )


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):,.0f} MB" if size >= 1024 * 1024 else f"{size:,} bytes"


def _check_dimension(sheet: str, rows: int, columns: int, ref: str) -> None:
    """Refuse a sheet whose declared dimension is over the limits before its rows are read (issue 14 finding
    2: A1:XFD100000 made every row 16,384 cells). A wide but small one (a stray cell at XFD5) is read, its
    first MAX_COLUMNS columns."""
    if rows > MAX_ROWS + 1:
        raise ImportRefused(
            "too_large", f"the sheet {sheet} declares {rows:,} rows (dimension {ref}), more than {MAX_ROWS:,}"
        )
    if rows * columns > MAX_CELLS:
        raise ImportRefused(
            "too_large",
            f"the sheet {sheet} declares {columns:,} columns by {rows:,} rows (dimension {ref}), "
            f"{rows * columns:,} cells, more than the {MAX_CELLS:,} that can be imported: delete the empty "
            "columns and rows after the last ones, or save the sheet as CSV",
        )


def _small_directory(data: bytes) -> bool:
    """Whether the ZIP archive's central directory is small enough (256 KB, ~5,000 parts) to be read in the
    server process: zipfile makes an object of every entry. False for ZIP64 and damaged archives too."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 65535))
    if end < 0 or len(data) < end + 22 or data[max(0, end - 20) : end - 16] == b"PK\x06\x07":
        return False
    entries, size = (
        int.from_bytes(data[end + 10 : end + 12], "little"),
        int.from_bytes(data[end + 12 : end + 16], "little"),
    )
    return entries != 0xFFFF and size <= 256 * 1024


_DIMENSION = re.compile(
    rb"<(?:\w+:)?dimension\s[^>]*?\bref\s*=\s*[\"']([A-Za-z]{1,3})(\d{1,7})(?::([A-Za-z]{1,3})(\d{1,7}))?"
)


def _check_workbook(data: bytes) -> None:
    """An XLSX archive's part sizes, then each sheet's declared dimension (in the first 8 KB of its part)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        raise ImportRefused("bad_spreadsheet", "the file looks like a ZIP archive but is damaged") from None
    with archive:
        if "xl/workbook.xml" not in archive.namelist():
            raise ImportRefused("binary_file", "this is a ZIP archive, not an Excel workbook (.xlsx)")
        _check_archive(archive)
        for part in archive.infolist():
            if not part.filename.endswith(".xml"):
                continue
            try:
                with archive.open(part) as f:
                    head = f.read(8192)
            except (
                zipfile.BadZipFile,
                ValueError,
                OSError,
                EOFError,
                RuntimeError,
                NotImplementedError,
                zlib.error,
            ):
                raise ImportRefused(
                    "bad_spreadsheet", f"the workbook's part {part.filename[:100]} is damaged"
                ) from None
            m = _DIMENSION.search(head)
            if m:
                first, last = m.group(1, 2), m.group(3, 4) if m.group(3) else m.group(1, 2)
                ref = b":".join(b"".join(c) for c in (first, last)).decode()
                _check_dimension(f"in {part.filename[:100]}", int(last[1]), _column(last[0].decode()), ref)


def _column(letters: str) -> int:
    n = 0
    for c in letters.upper():
        n = n * 26 + ord(c) - 64
    return n


def _read_xlsx(data: bytes) -> Table:
    import openpyxl
    from openpyxl.utils import get_column_letter

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except MemoryError:
        raise  # the import worker's memory limit: its own refusal
    except Exception as e:  # openpyxl raises many kinds on damaged workbooks
        raise ImportRefused("bad_spreadsheet", f"the Excel workbook cannot be read: {e}") from None
    try:
        for sheet in book.worksheets:
            rows, columns = sheet.max_row, sheet.max_column
            if rows is not None and columns is not None:
                first = f"{get_column_letter(sheet.min_column)}{sheet.min_row}"
                ref = f"{first}:{get_column_letter(columns)}{rows}"
                _check_dimension(repr(sheet.title[:100]), rows, columns, ref)
            # the declared dimension only pads rows: read what is there, MAX_COLUMNS wide at most
            sheet.reset_dimensions()
            table = _Rows("sheet")
            try:
                for number, values in enumerate(
                    sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True), start=1
                ):
                    table.add(number, values)
            except (ImportRefused, MemoryError):
                raise
            except Exception as e:  # a damaged sheet part
                raise ImportRefused(
                    "bad_spreadsheet", f"the sheet {sheet.title[:100]!r} cannot be read: {e}"
                ) from None
            if table.rows:
                return table.rows
        return []
    finally:
        book.close()


def _read_xls(data: bytes) -> tuple[Table, str | None]:
    import xlrd

    log = io.StringIO()
    try:
        try:
            book = xlrd.open_workbook(file_contents=data, logfile=log, on_demand=True, ragged_rows=True)
        except LookupError as e:
            # xlrd names Windows code pages it has no codec for "unknown_codepage_N"; map the ones we know
            m = re.search(r"unknown_codepage_(\d+)", str(e))
            if not m or int(m.group(1)) not in _EXTRA_CODEPAGES:
                raise ImportRefused(
                    "unknown_encoding",
                    _ENCODING_ADVICE.format(what=f"the workbook declares a code page we cannot read ({e})"),
                ) from None
            book = xlrd.open_workbook(
                file_contents=data,
                logfile=log,
                on_demand=True,
                ragged_rows=True,
                encoding_override=_EXTRA_CODEPAGES[int(m.group(1))],
            )
    except (ImportRefused, MemoryError):
        raise
    except Exception as e:  # xlrd raises XLRDError, CompDocError, struct errors … on damaged files
        raise ImportRefused(
            "bad_spreadsheet", f"the Excel 97-2003 workbook (.xls) cannot be read: {e}"
        ) from None
    encoding: str | None = None
    if book.biff_version < 80:
        encoding = book.encoding
        if book.codepage is None:
            # Excel 5/95 without a CODEPAGE record: xlrd read the 8-bit strings as Latin-1, which is lossless,
            # so recover the bytes and detect their code page like CSV text, then read again with it.
            raw = "\n".join(_strings(book)).encode("latin-1", "replace")
            _, encoding = decode_text(raw) if not raw.isascii() else ("", "cp1252")
            book.release_resources()
            book = xlrd.open_workbook(
                file_contents=data, logfile=log, on_demand=True, ragged_rows=True, encoding_override=encoding
            )
    try:
        for index in range(book.nsheets):
            sheet = book.sheet_by_index(index)
            if sheet.nrows > MAX_ROWS + 1:
                raise ImportRefused("too_large", f"the sheet has more than {MAX_ROWS} rows")
            # ragged rows: xlrd keeps each row as long as its last cell, not the sheet's widest (issue 14
            # finding 2)
            table = _Rows("sheet")
            for r in range(sheet.nrows):
                width = min(sheet.row_len(r), MAX_COLUMNS)
                table.add(r + 1, (_xls_cell(sheet.cell(r, c), book.datemode) for c in range(width)))
            if table.rows:
                return table.rows, encoding
            book.unload_sheet(index)
        return [], encoding
    finally:
        book.release_resources()


_EXTRA_CODEPAGES = {
    20866: "koi8_r",
    21866: "koi8_u",
    28595: "iso8859_5",
    10007: "mac_cyrillic",
    28592: "iso8859_2",
    28591: "latin_1",
}


def _strings(book: Any) -> Iterable[str]:
    """The strings in an xlrd ``Book`` (xlrd has no type information, hence ``Any``)."""
    for index in range(book.nsheets):
        sheet = book.sheet_by_index(index)
        for r in range(sheet.nrows):
            for value in sheet.row_values(r):
                if isinstance(value, str):
                    yield value


def _xls_cell(cell: Any, datemode: int) -> str:
    """An xlrd ``Cell`` as text (xlrd has no type information, hence ``Any``)."""
    import xlrd

    if cell.ctype == xlrd.XL_CELL_DATE:
        try:
            return str(xlrd.xldate.xldate_as_datetime(cell.value, datemode).isoformat())
        except Exception:
            return _cell(cell.value)
    if cell.ctype == xlrd.XL_CELL_BOOLEAN:
        return _cell(bool(cell.value))
    if cell.ctype in (xlrd.XL_CELL_ERROR, xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
        return ""
    return _cell(cell.value)


# -------------------------------------------------------------------------------------------- contacts


def _key(header: str) -> str:
    return re.sub(r"[\s._\-:*()]+", "", header.lower().replace("ё", "е"))


_HEADERS = {
    "email": {
        "email",
        "emailaddress",
        "mail",
        "emailadres",
        "электроннаяпочта",
        "эпочта",
        "элпочта",
        "почта",
        "адресэлектроннойпочты",
        "адресэлпочты",
        "емейл",
        "имейл",
        "емэйл",
    },
    "first": {"firstname", "first", "givenname", "forename", "имя"},
    "middle": {"middlename", "отчество"},
    "last": {"lastname", "last", "surname", "familyname", "фамилия"},
    "name": {
        "name",
        "fullname",
        "contact",
        "contactname",
        "displayname",
        "фио",
        "имяифамилия",
        "полноеимя",
        "фамилияимя",
        "фамилияимяотчество",
        "контакт",
        "имяфамилия",
    },
    "phone": {
        "phone",
        "phonenumber",
        "telephone",
        "tel",
        "mobile",
        "mobilephone",
        "cell",
        "телефон",
        "тел",
        "мобильный",
        "мобильныйтелефон",
        "номертелефона",
        "телефонмобильный",
        "моб",
    },
    "company": {
        "company",
        "companyname",
        "organization",
        "organisation",
        "organizationname",
        "employer",
        "компания",
        "организация",
        "фирма",
        "названиекомпании",
        "местоработы",
    },
}


def valid_email(value: str) -> bool:
    """One mailbox, parsed (mediaserver.addresses; issue 14 finding 14)."""
    return addresses.valid(value)


def _roles(header: list[str]) -> dict[int, str]:
    roles: dict[int, str] = {}
    for i, h in enumerate(header):
        k = _key(h)
        for role, names in _HEADERS.items():
            if k in names and role not in roles.values():
                roles[i] = role
                break
    return roles


def _contacts(table: Table, fmt: str, encoding: str | None) -> ImportResult:
    table = [(n, cells) for n, cells in table if any(c for c in cells)]
    if not table:
        raise ImportRefused("no_rows", "the file has no rows")
    header = table[0][1]
    roles = _roles(header)
    if "email" in roles.values():
        body = table[1:]
        names = {i: h.strip() or f"column {i + 1}" for i, h in enumerate(header)}
    else:
        email_col = _email_column(table)
        if email_col is None:
            raise ImportRefused(
                "no_email_column",
                'no column holds e-mail addresses: add a header such as "E-mail" '
                '(or "Email", "Электронная почта") over the addresses',
            )
        roles, body = {email_col: "email"}, table
        text_col = next(
            (
                i
                for i in range(max(len(c) for _, c in table))
                if i != email_col
                and all(_looks_like_name(c[i]) for _, c in table[:20] if i < len(c) and c[i])
            ),
            None,
        )
        if text_col is not None:
            roles[text_col] = "name"
        names = {}
    email_col = next(i for i, r in roles.items() if r == "email")
    rows: list[ContactRow] = []
    skipped: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    column = {r: i for i, r in roles.items()}
    for line, cells in body:

        def get(role: str, cells: list[str] = cells) -> str:
            i = column.get(role)
            return cells[i].strip() if i is not None and i < len(cells) else ""

        email = get("email")
        if not email:
            skipped.append((line, "no e-mail address"))
            continue
        if not valid_email(email):
            skipped.append((line, f"invalid e-mail address: {email[:100]}"))
            continue
        lowered = email.lower()
        if lowered in seen:
            skipped.append((line, f"duplicate e-mail address {email} (first on line {seen[lowered]})"))
            continue
        seen[lowered] = line
        name = get("name") or " ".join(p for p in (get("first"), get("middle"), get("last")) if p)
        extra = {
            names.get(i, f"column {i + 1}"): v
            for i, v in enumerate(cells)
            if i not in roles and v and i != email_col
        }
        rows.append(
            ContactRow(
                name=name, email=email, phone=get("phone"), company=get("company"), extra=extra, line=line
            )
        )
    if not rows:
        first = "; ".join(f"line {n}: {why}" for n, why in skipped[:3])
        raise ImportRefused(
            "no_rows",
            f"no row has a valid e-mail address ({first})"
            if first
            else "the file has a header but no contacts",
        )
    return ImportResult(rows=rows, skipped=skipped, format=fmt, encoding=encoding)


def _email_column(table: Table) -> int | None:
    sample = table[:50]
    width = max(len(c) for _, c in sample)
    best, best_hits = None, 0
    for i in range(width):
        hits = sum(1 for _, c in sample if i < len(c) and valid_email(c[i].strip()))
        if hits > best_hits:
            best, best_hits = i, hits
    return best if best_hits * 2 >= len(sample) else None


def _looks_like_name(value: str) -> bool:
    return "@" not in value and any(c.isalpha() for c in value) and sum(c.isdigit() for c in value) < 3
