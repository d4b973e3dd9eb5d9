"""The document worker process (issue 17, R-MEDIA-8), started by :mod:`mediaserver.library.convert`:

``python -S -m mediaserver.library.convert_child convert SRC OUTDIR EXT MEMORY_BYTES CPU_SECONDS MAX_PAGES
THUMB_WIDTH`` checks the file's signature against its extension, converts an office file to
``OUTDIR/document.pdf`` with LibreOffice headless (``soffice``, its own throwaway profile under OUTDIR, the
import filter of the extension forced so that a damaged file is refused rather than read as plain text), opens
the PDF with pypdfium2 (readable, not protected by a password, at most MAX_PAGES pages) and renders page
images one by one (``OUTDIR/page-<n>-w<THUMB_WIDTH>.png``). It writes one JSON object a line on stdout:
``{"pages": n}`` once the PDF is usable, ``{"ready": k}`` after each page image, then ``{"done": true}``, or
``{"refused": {"code", "message"}}`` (the file's fault), or ``{"error": ...}`` (ours).

``... render PDF PAGE WIDTH FORMAT OUT MEMORY_BYTES CPU_SECONDS`` renders one page at another width or in
another format (png, webp) and writes ``{"done": true}``.

The process first limits its own address space (RLIMIT_AS) and CPU time; LibreOffice inherits both. The
server starts it in a process group of its own and kills the whole group when its wall-clock time is up.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

import pypdfium2

# The import filter LibreOffice must read each office extension with (names from its filter registry,
# /usr/lib/libreoffice/share/registry/*.xcd): without it a damaged DOCX is "converted" as plain text.
FILTERS: dict[str, str] = {
    "doc": "MS Word 97",
    "docx": "MS Word 2007 XML",
    "odt": "writer8",
    "pages": "Apple Pages",
    "txt": "Text (encoded):UTF8,LF,,",
    "ppt": "MS PowerPoint 97",
    "pptx": "Impress MS PowerPoint 2007 XML",
    "odp": "impress8",
    "key": "Apple Keynote",
    "ods": "calc8",
    "xlsx": "Calc MS Excel 2007 XML",
    "numbers": "Apple Numbers",
}
_ZIP = (b"PK\x03\x04",)  # OOXML, OpenDocument and iWork files are ZIP archives
_OLE = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)  # Word 97 and PowerPoint 97 files are OLE2 compound files
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "doc": _OLE,
    "ppt": _OLE,
    **{ext: _ZIP for ext in ("docx", "pptx", "xlsx", "odt", "odp", "ods", "key", "pages", "numbers")},
}
MAX_PIXELS_HIGH = 4096  # a page image is never taller than this (a 1 x 10000 pt page at 1920 px wide)


class Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _say(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _limit(kind: int, value: int) -> None:
    hard = resource.getrlimit(kind)[1]
    value = value if hard == resource.RLIM_INFINITY else min(value, hard)
    resource.setrlimit(kind, (value, value))


def check_signature(path: Path, ext: str) -> None:
    """Refuse a file whose first bytes cannot be a file of its extension (renamed, truncated, not one)."""
    with open(path, "rb") as f:
        head = f.read(1024)
    if not head:
        raise Refused("corrupt", "the file is empty")
    if ext == "pdf":
        if b"%PDF-" not in head:
            raise Refused("corrupt", "the file is not a PDF (it does not start like one): it is damaged")
        return
    if ext == "txt":
        return
    if not head.startswith(SIGNATURES[ext]):
        raise Refused(
            "corrupt",
            f"the file is not a valid {ext.upper()} document: it is damaged or has the wrong extension",
        )


def to_pdf(src: Path, out: Path, ext: str, memory_mb: int) -> Path:
    """LibreOffice headless converts ``src`` (an office file of extension ``ext``) to ``out/document.pdf``."""
    work = Path(tempfile.mkdtemp(prefix="work-", dir=out))
    try:
        source = work / f"document.{ext}"
        shutil.copyfile(src, source)
        soffice = shutil.which("soffice") or shutil.which("libreoffice")
        if soffice is None:  # the operator's to fix (docs/operations.md); the person is told what works
            print(
                "LibreOffice (soffice) is not installed: apt-get install libreoffice-*-nogui", file=sys.stderr
            )
            raise Refused(
                "unsupported",
                f"this server cannot convert {ext.upper()} files (LibreOffice is not installed): "
                "upload a PDF",
            )
        with open(work / "soffice.log", "wb") as logf:
            proc = subprocess.run(
                [
                    soffice,
                    f"-env:UserInstallation={(work / 'profile').as_uri()}",  # a throwaway profile
                    "--headless",
                    "--norestore",
                    "--nolockcheck",
                    f"--infilter={FILTERS[ext]}",
                    "--convert-to",
                    "pdf",
                    "--outdir",
                    str(work),
                    str(source),
                ],
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                env={**os.environ, "HOME": str(work)},
                cwd=work,
            )
        made = work / "document.pdf"
        if proc.returncode < 0:  # killed: by its CPU or memory limit
            raise Refused(
                "too_large",
                "converting the file needs more memory or time than a conversion may use: "
                "split it into smaller files or save it as PDF",
            )
        if not made.is_file() or made.stat().st_size == 0:
            log = (work / "soffice.log").read_bytes()[-2000:].decode("utf-8", "replace").splitlines()
            said = "; ".join(line.strip() for line in log if line.startswith("Error"))[-300:]
            # LibreOffice says the same ("source file could not be loaded") when RLIMIT_AS stops it
            raise Refused(
                "corrupt",
                f"LibreOffice could not read the file as {ext.upper()}: it is damaged or not such a "
                f"document, or needs more than the {memory_mb} MB of memory a conversion may use "
                f"({said or 'no output'})",
            )
        pdf = out / "document.pdf"
        os.replace(made, pdf)
        return pdf
    finally:
        shutil.rmtree(work, ignore_errors=True)


def open_pdf(path: Path, max_pages: int) -> pypdfium2.PdfDocument:
    """The PDF opened by PDFium: refused when damaged, protected by a password, empty or too long."""
    try:
        pdf = pypdfium2.PdfDocument(str(path))
    except pypdfium2.PdfiumError as e:
        if "password" in str(e).lower():
            raise Refused(
                "encrypted", "the PDF is protected by a password: save it without one and upload it again"
            ) from None
        raise Refused("corrupt", f"the file is not a readable PDF: it is damaged ({e})") from None
    pages = len(pdf)
    if pages == 0:
        raise Refused("corrupt", "the document has no pages")
    if pages > max_pages:
        raise Refused(
            "too_many_pages",
            f"the document has {pages} pages; at most {max_pages} pages can be shown: split it",
        )
    return pdf


def render(pdf: pypdfium2.PdfDocument, index: int, width: int, fmt: str, out: Path) -> None:
    """Page ``index`` (from 0) of ``pdf`` as an image ``width`` pixels wide (at most MAX_PIXELS_HIGH high)."""
    page = pdf[index]
    w, h = page.get_size()
    scale = min(width / max(w, 1.0), MAX_PIXELS_HIGH / max(h, 1.0))
    image = page.render(scale=scale).to_pil()
    tmp = out.with_name(out.name + ".tmp")
    image.save(tmp, format="WEBP" if fmt == "webp" else "PNG")
    os.replace(tmp, out)  # a reader never sees half an image


def convert(argv: list[str]) -> None:
    src, out, ext = Path(argv[0]), Path(argv[1]), argv[2]
    max_pages, thumb = int(argv[5]), int(argv[6])
    check_signature(src, ext)
    pdf_path = src if ext == "pdf" else to_pdf(src, out, ext, int(argv[3]) // (1024 * 1024))
    pdf = open_pdf(pdf_path, max_pages)
    _say({"pages": len(pdf)})
    for i in range(len(pdf)):
        render(pdf, i, thumb, "png", out / f"page-{i + 1}-w{thumb}.png")
        _say({"ready": i + 1})
    _say({"done": True})


def main(argv: list[str]) -> None:
    mode, rest = argv[0], argv[1:]
    memory, cpu = (int(rest[3]), int(rest[4])) if mode == "convert" else (int(rest[5]), int(rest[6]))
    _limit(resource.RLIMIT_AS, memory)
    _limit(resource.RLIMIT_CPU, cpu)
    _limit(resource.RLIMIT_CORE, 0)
    try:
        if mode == "convert":
            convert(rest)
        else:
            pdf = pypdfium2.PdfDocument(rest[0])
            render(pdf, int(rest[1]) - 1, int(rest[2]), rest[3], Path(rest[4]))
            _say({"done": True})
    except Refused as e:
        _say({"refused": {"code": e.code, "message": e.message}})
    except MemoryError:
        _say({"limit": "memory"})
    except Exception as e:  # a bug, or LibreOffice missing: the server's fault, told as such
        traceback.print_exc()
        _say({"error": f"{type(e).__name__}: {e}"[:500]})


if __name__ == "__main__":
    main(sys.argv[1:])
