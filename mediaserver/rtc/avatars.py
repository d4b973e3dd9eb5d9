"""Avatar pictures shown instead of a camera (R-MEDIA-6): small PNG, JPEG or WebP images, kept by hash."""

from __future__ import annotations

import base64
import hashlib
from collections import OrderedDict

MAX_BYTES = 160 * 1024  # its base64 must fit a WebSocket message (256 KiB)


class AvatarError(ValueError):
    """Not an image we keep: too large, not base64, or not PNG/JPEG/WebP."""


def sniff(data: bytes) -> str:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise AvatarError("an avatar must be a PNG, JPEG or WebP image")


class AvatarStore:
    """In memory, least recently stored first out; the URL is derived from the content."""

    def __init__(self, limit: int = 2000) -> None:
        self.limit = limit
        self.items: OrderedDict[str, tuple[str, bytes]] = OrderedDict()

    def put_data_url(self, data_url: str) -> str:
        if not isinstance(data_url, str) or not data_url.startswith("data:") or "," not in data_url:
            raise AvatarError("'image' must be a data: URL of a PNG, JPEG or WebP image")
        head, b64 = data_url.split(",", 1)
        if not head.endswith(";base64"):
            raise AvatarError("the image data URL must be base64-encoded")
        if len(b64) > MAX_BYTES * 4 // 3 + 4:
            raise AvatarError(f"an avatar may be at most {MAX_BYTES // 1024} KiB")
        try:
            data = base64.b64decode(b64, validate=True)
        except ValueError as e:
            raise AvatarError("the image is not valid base64") from e
        ctype = sniff(data)
        key = hashlib.sha256(data).hexdigest()[:32]
        self.items[key] = (ctype, data)
        self.items.move_to_end(key)
        while len(self.items) > self.limit:
            self.items.popitem(last=False)
        return f"/avatars/{key}"

    def get(self, key: str) -> tuple[str, bytes] | None:
        return self.items.get(key)
