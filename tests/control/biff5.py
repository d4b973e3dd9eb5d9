"""Write a minimal Excel 5/95 (BIFF5) workbook, the legacy format whose strings are 8-bit in a code page.

xlwt writes only BIFF8, where strings are Unicode; contact lists saved by old Excel or by 1C-era tools
are BIFF5 with a CODEPAGE record (or none). This writer makes such files so the tests can feed real
BIFF5 bytes to xlrd: an OLE2 compound file (v3, 512-byte sectors, no mini stream: the "Book" stream is
padded to 4096 bytes) holding BOF, CODEPAGE, BOUNDSHEET, EOF and one sheet of LABEL/NUMBER cells.
"""

from __future__ import annotations

import struct

END, FREE, FATSECT, NOSTREAM = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF


def _record(rtype: int, body: bytes) -> bytes:
    return struct.pack("<HH", rtype, len(body)) + body


def _bof(kind: int) -> bytes:
    return _record(0x0809, struct.pack("<HHHH", 0x0500, kind, 0x0DBB, 0x07CC))


def biff5_book(rows: list[list[str | float]], encoding: str, codepage: int | None) -> bytes:
    """A BIFF5 workbook stream with one sheet; strings are encoded with ``encoding``."""
    globals_ = _bof(0x0005)
    if codepage is not None:
        globals_ += _record(0x0042, struct.pack("<H", codepage))
    sheet_name = b"Sheet1"
    boundsheet_len = 4 + 7 + len(sheet_name)  # header, offset, flags, name
    sheet_offset = len(globals_) + boundsheet_len + 4  # after BOUNDSHEET and EOF
    globals_ += _record(0x0085, struct.pack("<IBBB", sheet_offset, 0, 0, len(sheet_name)) + sheet_name)
    globals_ += _record(0x000A, b"")
    sheet = _bof(0x0010)
    ncols = max(len(r) for r in rows)
    sheet += _record(0x0200, struct.pack("<HHHHH", 0, len(rows), 0, ncols, 0))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, str):
                raw = value.encode(encoding)
                sheet += _record(0x0204, struct.pack("<HHHH", r, c, 0, len(raw)) + raw)
            else:
                sheet += _record(0x0203, struct.pack("<HHHd", r, c, 0, float(value)))
    sheet += _record(0x000A, b"")
    stream = globals_ + sheet
    return stream + b"\x00" * max(0, 4096 - len(stream))


def compound_file(stream_name: str, stream: bytes) -> bytes:
    """An OLE2 compound file with one stream in regular sectors (the stream must be >= 4096 bytes)."""
    assert len(stream) >= 4096
    nsec = -(-len(stream) // 512)
    assert nsec + 2 <= 128, "one FAT sector only"
    fat = [FATSECT] + [i + 2 for i in range(nsec - 1)] + [END] + [END]
    fat += [FREE] * (128 - len(fat))
    dir_sector = 1 + nsec

    def entry(name: str, kind: int, child: int, start: int, size: int) -> bytes:
        raw = name.encode("utf-16-le") + b"\x00\x00"
        return (
            raw.ljust(64, b"\x00")
            + struct.pack("<HBB", len(raw), kind, 1)
            + struct.pack("<III", NOSTREAM, NOSTREAM, child)
            + b"\x00" * 16
            + b"\x00" * 4
            + b"\x00" * 16
            + struct.pack("<III", start, size, 0)
        )

    empty = b"\x00" * 64 + struct.pack("<HBB", 0, 0, 0) + struct.pack("<III", NOSTREAM, NOSTREAM, NOSTREAM)
    empty += b"\x00" * (128 - len(empty))
    directory = entry("Root Entry", 5, 1, END, 0) + entry(stream_name, 2, NOSTREAM, 1, len(stream))
    directory += empty * 2
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\x00" * 16
        + struct.pack("<HHHHH", 0x003E, 0x0003, 0xFFFE, 9, 6)
        + b"\x00" * 6
        + struct.pack("<IIIIIIIII", 0, 1, dir_sector, 0, 4096, END, 0, END, 0)
        + struct.pack("<I", 0)
        + struct.pack("<I", FREE) * 108
    )
    assert len(header) == 512
    body = struct.pack("<128I", *fat) + stream.ljust(nsec * 512, b"\x00") + directory
    return header + body


def biff5_xls(rows: list[list[str | float]], encoding: str, codepage: int | None) -> bytes:
    """The bytes of a .xls file in Excel 5/95 format."""
    return compound_file("Book", biff5_book(rows, encoding, codepage))
