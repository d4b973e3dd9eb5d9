"""The file library's rules: accepted extensions, per-file limits and storage quotas (R-FILE-1..4).

Pure decisions, no I/O: the caller supplies the bytes already used and the account's quota, and
:func:`check_upload` either returns or raises :class:`FileRefused` with a stable code, a message for
the person and the HTTP status the API should answer with.

Sizes are binary megabytes (1 MB = 1024 * 1024 bytes), the unit file managers show; the seed FAQ says
"500 МБ" / "2 ГБ" without defining it, and the binary reading is the more lenient one.
"""

from __future__ import annotations

import unicodedata

MB = 1024 * 1024
GB = 1024 * MB

# R-FILE-2: one file at most 500 MB in the library, at most 50 MB when uploaded straight into a room.
LIBRARY_MAX_FILE = 500 * MB
ROOM_MAX_FILE = 50 * MB

# R-FILE-4, in the order and spelling of the Russian original (seed FAQ, "Расширения файлов, которые
# могут быть использованы на платформе").
EXTENSIONS: tuple[str, ...] = (
    "asf",
    "avi",
    "doc",
    "docx",
    "jpg",
    "key",
    "mkv",
    "mov",
    "mpeg",
    "mpg",
    "mp3",
    "mp4",
    "mp4v",
    "m4e",
    "m4v",
    "m4u",
    "numbers",
    "odp",
    "ods",
    "odt",
    "ogm",
    "ogv",
    "ogx",
    "pages",
    "pdf",
    "png",
    "ppt",
    "pptx",
    "qt",
    "qtm",
    "qtx",
    "txt",
    "wav",
    "webm",
    "wma",
    "wmv",
    "wmx",
    "xlsx",
)
ALLOWED_EXTENSIONS = frozenset(EXTENSIONS)

# The video types among R-FILE-4's extensions, with the Content-Type they are served with: what an on-demand
# event (R-ROOM-4, R-AUTO-2) may play. Left out although video-related: m4u and wmx (playlists / redirector
# files that point at videos, not videos), qtx and qtm (QuickTime image / media-link files), ogx (the generic
# Ogg container, registered as application/ogg, usually audio). Browsers play webm, ogv/ogm and mp4/m4v
# natively; the others can still be attached and are offered for download by the watch page.
VIDEO_TYPES: dict[str, str] = {
    "asf": "video/x-ms-asf",
    "avi": "video/x-msvideo",
    "mkv": "video/x-matroska",
    "mov": "video/quicktime",
    "qt": "video/quicktime",
    "mpeg": "video/mpeg",
    "mpg": "video/mpeg",
    "mp4": "video/mp4",
    "mp4v": "video/mp4",
    "m4v": "video/mp4",
    "m4e": "video/mp4",
    "ogm": "video/ogg",
    "ogv": "video/ogg",
    "webm": "video/webm",
    "wmv": "video/x-ms-wmv",
}
assert set(VIDEO_TYPES) <= ALLOWED_EXTENSIONS


def video_type(name: str) -> str | None:
    """The Content-Type of a library file that is a video (by its R-FILE-4 extension), else None."""
    return VIDEO_TYPES.get(extension(name))


# R-FILE-1: "from 500 MB to 2 GB depending on the plan"; the trial has 500 MB (R-ACC-1). The original
# names no figure for the plans in between: 1 GB for MyWebinars is this project's choice within that range.
PLAN_QUOTAS: dict[str, int] = {
    "trial": 500 * MB,
    "mywebinars": 1 * GB,
    "mywebinars_pro": 2 * GB,
    "live": 2 * GB,
    "automated": 2 * GB,
}

MAX_NAME_BYTES = 255


class FileRefused(Exception):
    """An upload the rules refuse: ``code`` is stable, ``message`` is for the person, ``status`` for HTTP.

    Codes: ``bad_name`` (400), ``bad_size`` (400), ``bad_extension`` (415), ``file_too_large`` (413),
    ``quota_full`` (403).
    """

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def storage_quota(plan: str, extra_bytes: int = 0) -> int:
    """The account's storage in bytes: its plan's quota plus any bought storage (R-FILE-1)."""
    try:
        base = PLAN_QUOTAS[plan]
    except KeyError:
        raise ValueError(f"unknown plan {plan!r}; known: {', '.join(PLAN_QUOTAS)}") from None
    if extra_bytes < 0:
        raise ValueError("extra storage cannot be negative")
    return base + extra_bytes


def extension(name: str) -> str:
    """The lower-case extension of a file name, without the dot ('' when there is none)."""
    base, dot, ext = name.rpartition(".")
    return ext.lower() if dot else ""


def max_file_size(into_room: bool) -> int:
    """R-FILE-2: the largest single file for the library or for a direct upload into a room."""
    return ROOM_MAX_FILE if into_room else LIBRARY_MAX_FILE


def _human(size: int) -> str:
    if size >= GB and size % GB == 0:
        return f"{size // GB} GB"
    if size >= MB:
        return f"{size / MB:.0f} MB" if size % MB == 0 else f"{size / MB:.1f} MB"
    return f"{size} bytes"


def check_name(name: str) -> None:
    """Refuse names that are empty, too long, carry a path or control characters, or a foreign extension."""
    if not name or not name.strip():
        raise FileRefused("bad_name", "the file has no name", 400)
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise FileRefused("bad_name", f"the file name is longer than {MAX_NAME_BYTES} bytes", 400)
    if "/" in name or "\\" in name or any(unicodedata.category(c) in ("Cc", "Cs") for c in name):
        raise FileRefused("bad_name", "the file name must not contain a path or control characters", 400)
    ext = extension(name)
    if ext not in ALLOWED_EXTENSIONS:
        shown = f".{ext} files are" if ext else "files without an extension are"
        raise FileRefused("bad_extension", f"{shown} not accepted; accepted: {', '.join(EXTENSIONS)}", 415)


def check_size(name: str, size: int, into_room: bool, limit: int | None = None) -> None:
    """R-FILE-2: refuse a file over the per-file limit (``limit`` lowers it, e.g. a server's own maximum); the
    message names the limit in the units people read. A direct room upload is one made through the room's
    upload endpoint (signaling.api.library), never a flag the client chooses."""
    if size < 0:
        raise FileRefused("bad_size", "the file size cannot be negative", 400)
    limit = max_file_size(into_room) if limit is None else min(limit, max_file_size(into_room))
    if size > limit:
        where = "straight into a room" if into_room else "to the file library"
        raise FileRefused(
            "file_too_large",
            f"{name} is {_human(size)}{'' if size % MB == 0 else f' ({size} bytes)'}; one file "
            f"uploaded {where} may be at most {_human(limit)} ({limit} bytes)",
            413,
        )


def check_upload(name: str, size: int, used: int, quota: int, into_room: bool) -> None:
    """Accept an upload that is about to start, or raise :class:`FileRefused`.

    ``used`` is what the account already stores; count uploads still in progress at their declared
    length so two uploads started together cannot both take the last free space. R-FILE-3: an upload
    that starts while any space is left (``used < quota``) is accepted even if it overshoots the quota;
    once the account is at or over its quota, nothing more is accepted until files are deleted.
    """
    check_name(name)
    check_size(name, size, into_room)
    if used >= quota:
        raise FileRefused(
            "quota_full",
            f"the storage is full ({_human(used)} used of {_human(quota)}); delete files to upload new ones",
            403,
        )
