"""The file library's rules (R-FILE-1..4) at every edge."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mediaserver.library.files import (
    ALLOWED_EXTENSIONS,
    EXTENSIONS,
    GB,
    LIBRARY_MAX_FILE,
    MB,
    PLAN_QUOTAS,
    ROOM_MAX_FILE,
    FileRefused,
    check_name,
    check_upload,
    extension,
    max_file_size,
    storage_quota,
)

SEED_FAQ = next(
    (
        p
        for p in (
            Path(__file__).resolve().parents[3] / "shared/spec/seed-faq-ru.txt",
            Path("/work/shared/spec/seed-faq-ru.txt"),
        )
        if p.exists()
    ),
    None,
)


def refused(code: str, *args, **kw) -> FileRefused:
    with pytest.raises(FileRefused) as info:
        check_upload(*args, **kw)
    assert info.value.code == code
    return info.value


def test_extension_list_is_the_russian_originals():
    """R-FILE-4: the 38 extensions, in the original's order (checked against the seed FAQ when present)."""
    assert len(EXTENSIONS) == 38 == len(ALLOWED_EXTENSIONS)
    assert EXTENSIONS[0] == "asf" and EXTENSIONS[-1] == "xlsx"
    if SEED_FAQ is not None:
        line = next(
            x for x in SEED_FAQ.read_text(encoding="utf-8").splitlines() if x.startswith("Расширения файлов")
        )
        listed = [e.strip() for e in line.split(":", 1)[1].strip().rstrip(".").split(",")]
        assert tuple(listed) == EXTENSIONS


@pytest.mark.parametrize("ext", EXTENSIONS)
def test_every_listed_extension_is_accepted_in_any_case(ext):
    check_upload(f"file.{ext}", 10, 0, 500 * MB, False)
    check_upload(f"FILE.{ext.upper()}", 10, 0, 500 * MB, True)


@pytest.mark.parametrize(
    "name",
    [
        "slides.xls",
        "archive.zip",
        "run.exe",
        "notes.csv",
        "photo.jpeg",
        "movie.mp4.exe",
        "image.gif",
        "doc.pdf.",
        "README",
        "video.m4a",
    ],
)
def test_unlisted_extensions_are_refused(name):
    """R-FILE-4: xls, csv and jpeg are not in the original's list, so they are refused too."""
    e = refused("bad_extension", name, 10, 0, GB, False)
    assert e.status == 415
    assert "accepted: asf, avi" in e.message


def test_extension_helper():
    assert extension("a.B.PdF") == "pdf"
    assert extension("noext") == ""
    assert extension(".pdf") == "pdf"
    assert extension("trailing.") == ""


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "../etc/x.pdf",
        "dir\\x.pdf",
        "a\x00b.pdf",
        "line\nbreak.pdf",
        "x" * 252 + ".pdf",
        "ф" * 126 + ".pdf",
    ],
)
def test_bad_names(name):
    with pytest.raises(FileRefused) as info:
        check_name(name)
    assert info.value.code == "bad_name" and info.value.status == 400


def test_longest_name_and_unicode_names_pass():
    check_name("x" * 251 + ".pdf")  # exactly 255 bytes
    check_name("Презентация квартал 3.pptx")
    check_name("ф" * 125 + ".pdf")  # 250 + 4 bytes


def test_per_file_limits():
    """R-FILE-2: 500 MB into the library, 50 MB straight into a room; exactly the limit passes."""
    assert LIBRARY_MAX_FILE == 500 * 1024 * 1024 and ROOM_MAX_FILE == 50 * 1024 * 1024
    assert max_file_size(False) == LIBRARY_MAX_FILE and max_file_size(True) == ROOM_MAX_FILE
    check_upload("big.mp4", LIBRARY_MAX_FILE, 0, 2 * GB, into_room=False)
    check_upload("room.mp4", ROOM_MAX_FILE, 0, 2 * GB, into_room=True)
    e = refused("file_too_large", "big.mp4", LIBRARY_MAX_FILE + 1, 0, 2 * GB, into_room=False)
    assert e.status == 413 and "500 MB" in e.message and "file library" in e.message
    e = refused("file_too_large", "room.mp4", ROOM_MAX_FILE + 1, 0, 2 * GB, into_room=True)
    assert "50 MB" in e.message and "room" in e.message


def test_negative_size_is_refused_and_empty_file_accepted():
    refused("bad_size", "a.txt", -1, 0, GB, False)
    check_upload("a.txt", 0, 0, GB, False)


def test_overshoot_rule():
    """R-FILE-3: with 1 MB (even 1 byte) left, a 500 MB upload is accepted; at or over quota, refused."""
    quota = 500 * MB
    check_upload("a.mp4", LIBRARY_MAX_FILE, quota - MB, quota, False)  # the original's "1 MB left" example
    check_upload("a.mp4", LIBRARY_MAX_FILE, quota - 1, quota, False)
    e = refused("quota_full", "a.mp4", 1, quota, quota, False)
    assert e.status == 403 and "delete files" in e.message
    after_overshoot = quota - 1 + LIBRARY_MAX_FILE
    refused("quota_full", "a.txt", 0, after_overshoot, quota, False)
    # deleting files until some space is free makes uploads possible again
    check_upload("a.mp4", 10 * MB, quota - 10, quota, False)


def test_per_file_limit_still_applies_when_space_is_left():
    """The overshoot rule never lifts the per-file limit."""
    refused("file_too_large", "a.mp4", LIBRARY_MAX_FILE + 1, 0, 2 * GB, False)


def test_order_of_checks():
    """The extension is judged first, then the size, then the quota: the most useful message wins."""
    refused("bad_extension", "a.exe", LIBRARY_MAX_FILE * 2, GB, GB, False)
    refused("file_too_large", "a.pdf", LIBRARY_MAX_FILE * 2, GB, GB, False)


def test_zero_quota_refuses_everything():
    refused("quota_full", "a.pdf", 1, 0, 0, False)


def test_plan_quotas():
    """R-FILE-1 / R-ACC-1: trial 500 MB; every plan between 500 MB and 2 GB; bought storage adds up."""
    assert storage_quota("trial") == 500 * MB
    assert all(500 * MB <= q <= 2 * GB for q in PLAN_QUOTAS.values())
    assert max(PLAN_QUOTAS.values()) == 2 * GB
    assert storage_quota("live", extra_bytes=5 * GB) == 7 * GB
    with pytest.raises(ValueError, match="unknown plan"):
        storage_quota("gold")
    with pytest.raises(ValueError):
        storage_quota("trial", -1)


def test_messages_name_sizes_in_human_units():
    e = refused("file_too_large", "x.mp4", ROOM_MAX_FILE + 3 * MB // 2, 0, GB, True)
    assert re.search(r"51\.5 MB", e.message)
