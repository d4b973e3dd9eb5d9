"""The whiteboard drawn on the server (issue 17, R-INT-5): a saved board (one Yjs update) read with pycrdt in
the schema of mediaserver.interaction.board, each page drawn with Pillow at the board's size, saved as PNG
(one page) or PDF (every page). CPU work: the callers run it in a worker thread
(mediaserver.events.board_history)."""

from __future__ import annotations

import io
import math
from typing import Any

from PIL import Image, ImageDraw, ImageFont
from pycrdt import Array, Doc

from mediaserver.interaction.board import HEIGHT, ROOT, WIDTH

NOTE_FILL = (255, 236, 140)
PNG = "image/png"
PDF = "application/pdf"


def pages(state: bytes) -> list[list[dict[str, Any]]]:
    """The board's pages, each a list of shapes (plain dicts), from its saved state."""
    doc: Doc[Any] = Doc()
    doc.apply_update(state)
    if ROOT not in set(doc.keys()):
        return [[]]
    out = doc.get(ROOT, type=Array).to_py() or [[]]
    return [[s for s in p if isinstance(s, dict)] for p in out if isinstance(p, list)] or [[]]


def _rgb(color: Any) -> tuple[int, int, int]:
    if isinstance(color, str) and len(color) == 7 and color.startswith("#"):
        try:
            return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)
        except ValueError:
            pass
    return (0, 0, 0)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    for name in ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default()


def _arrow_head(d: ImageDraw.ImageDraw, x0: float, y0: float, x1: float, y1: float, w: int, c: Any) -> None:
    angle = math.atan2(y1 - y0, x1 - x0)
    size = 10 + 3 * w
    left = (x1 - size * math.cos(angle - 0.45), y1 - size * math.sin(angle - 0.45))
    right = (x1 - size * math.cos(angle + 0.45), y1 - size * math.sin(angle + 0.45))
    d.polygon([(x1, y1), left, right], fill=c)


def draw_page(shapes: list[dict[str, Any]]) -> Image.Image:
    """One page, WIDTH x HEIGHT, white, its shapes in order (as the editor draws them)."""
    img = Image.new("RGB", (WIDTH, HEIGHT), "white")
    d = ImageDraw.Draw(img)
    for s in shapes:
        pts = [float(v) for v in s.get("points") or [] if isinstance(v, (int, float))]
        xy = list(zip(pts[0::2], pts[1::2], strict=False))
        if not xy:
            continue
        c, w = _rgb(s.get("color")), max(1, min(64, int(s.get("width") or 2)))
        kind = s.get("type")
        (x0, y0), (x1, y1) = xy[0], xy[-1]
        box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        if kind == "pen":
            if len(xy) == 1:
                d.ellipse((x0 - w / 2, y0 - w / 2, x0 + w / 2, y0 + w / 2), fill=c)
            else:
                d.line(xy, fill=c, width=w, joint="curve")
        elif kind in ("line", "arrow"):
            d.line([(x0, y0), (x1, y1)], fill=c, width=w)
            if kind == "arrow":
                _arrow_head(d, x0, y0, x1, y1, w, c)
        elif kind == "rect":
            d.rectangle(box, outline=c, width=w)
        elif kind == "ellipse":
            d.ellipse(box, outline=c, width=w)
        elif kind == "note":
            if len(xy) == 1:
                box = (x0, y0, x0 + 200, y0 + 150)
            d.rectangle(box, fill=NOTE_FILL, outline=c, width=2)
            text = str(s.get("text", ""))
            d.multiline_text((box[0] + 10, box[1] + 10), text, fill=(0, 0, 0), font=_font(22))
        elif kind == "text":
            d.multiline_text((x0, y0), str(s.get("text", "")), fill=c, font=_font(10 + 4 * w))
    return img


def png(state: bytes, page: int = 0) -> bytes:
    """Page ``page`` (0-based; past the last: the last) as PNG."""
    all_pages = pages(state)
    out = io.BytesIO()
    draw_page(all_pages[min(max(page, 0), len(all_pages) - 1)]).save(out, "PNG", optimize=True)
    return out.getvalue()


def pdf(state: bytes) -> bytes:
    """Every page, one PDF page each."""
    images = [draw_page(p) for p in pages(state)]
    out = io.BytesIO()
    images[0].save(out, "PDF", save_all=True, append_images=images[1:], resolution=150.0)
    return out.getvalue()
