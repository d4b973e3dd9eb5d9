"""Tables people download (issue 16: a session's chat, a poll's answers): CSV and XLSX made the same way.

CSV is UTF-8 with a byte order mark (spreadsheets then read Cyrillic right), and a cell that a spreadsheet
would run as a formula (starting with = + - @, a tab or a carriage return) gets a leading ``'`` (CSV
injection). In XLSX every text is a string cell, never a formula, with the characters XML cannot hold
removed. The file is made in a worker thread: a long session's chat takes seconds of openpyxl, which would
otherwise hold up every room's signaling on the event loop.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from mediaserver.errors import ControlError

CSV = "text/csv; charset=utf-8"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = {"csv": CSV, "xlsx": XLSX}
_RISKY = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Export:
    """A file made for one request: the API sends it as an attachment named ``name``."""

    name: str
    content_type: str
    body: bytes


def _text(value: str) -> str:
    """Text a file can hold: a lone surrogate (JSON lets one through) becomes U+FFFD."""
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def safe_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run as a formula."""
    if not isinstance(value, str):
        return value
    value = _text(value)
    return "'" + value if value.startswith(_RISKY) else value


def _xml_text(value: str) -> str:
    """Text an XLSX cell or sheet name can hold: no control characters (XML 1.0), no lone surrogates."""
    cleaned: str = ILLEGAL_CHARACTERS_RE.sub("", _text(value))
    return cleaned


def _when(v: dt.datetime) -> str:
    """A time as ISO 8601 in UTC, to the millisecond (``...Z``)."""
    if v.tzinfo is None:
        v = v.replace(tzinfo=dt.timezone.utc)
    return v.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _csv(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(head)
    for row in rows:
        w.writerow([_when(v) if isinstance(v, dt.datetime) else safe_cell(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode()


def _xlsx(sheet: str, head: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(_xml_text(sheet).translate(str.maketrans("", "", "[]:*?/\\"))[:31] or "sheet")
    ws.append([_xml_text(h) for h in head])
    for row in rows:
        cells: list[Any] = []
        for v in row:
            if isinstance(v, str):
                cell = WriteOnlyCell(ws, value=_xml_text(v))
                cell.data_type = "s"  # "=1+1" stays text
                cells.append(cell)
            elif isinstance(v, dt.datetime):  # UTC, as Excel keeps no zone
                cells.append(v.astimezone(dt.timezone.utc).replace(tzinfo=None) if v.tzinfo else v)
            else:
                cells.append(v)
        ws.append(cells)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


async def table(
    fmt: str, name: str, head: Sequence[str], rows: Sequence[Sequence[Any]], sheet: str = ""
) -> Export:
    """``rows`` under ``head`` as ``name``.csv or ``name``.xlsx (``fmt``), made in a worker thread."""
    if fmt == "csv":
        return Export(f"{name}.csv", CSV, await asyncio.to_thread(_csv, head, rows))
    if fmt == "xlsx":
        return Export(f"{name}.xlsx", XLSX, await asyncio.to_thread(_xlsx, sheet or name, head, rows))
    raise ControlError("bad_request", "'format' must be csv or xlsx")
