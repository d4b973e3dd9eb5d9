"""A published recording's replay (issue 17 item 4: recordings keep what was presented; R-REC-4's public
link): its watch page plays the WebM beside what was on the room's stage then, the document at its page and
zoom, the shared video where it was, the whiteboard as it was drawn. This module gives that page its track,
the stage's changes (mediaserver.events.stage_history) and the board's steps (mediaserver.events.board_steps)
with times from the recording's start, and the files the track shows, under the recording's public token:
the token opens only the documents and videos that were on the stage during the recording, nothing else of
the account's library. A YouTube video is given by its id (the page plays it through YouTube's IFrame API)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.errors import ControlError
from mediaserver.events import board_steps, stage_history
from mediaserver.library import documents, files, recordings
from mediaserver.library.storage import Storage
from mediaserver.store.models import Document, LibraryFile, Recording


@dataclass
class Asset:
    """A file a watch page reads: where it is and its Content-Type."""

    path: Path
    content_type: str


def _doc_file(stage: dict[str, Any]) -> int | None:
    doc = stage.get("doc") or {}
    fid = (doc.get("file") or {}).get("id")
    return fid if isinstance(fid, int) else None


def _video_file(stage: dict[str, Any]) -> int | None:
    src = (stage.get("player") or {}).get("source") or {}
    fid = src.get("file") if src.get("kind") == "file" else None
    return fid if isinstance(fid, int) else None


def _public(stage: dict[str, Any], base: str) -> dict[str, Any]:
    """A stage as the watch page reads it: the files' links are the replay's, under the public token."""
    out = dict(stage)
    fid = _doc_file(stage)
    if fid is not None:
        doc = dict(stage["doc"])
        doc["file"] = {**doc["file"], "url": f"{base}/files/{fid}/pdf"}
        out["doc"] = doc
    vid = _video_file(stage)
    if vid is not None:
        player = dict(stage["player"])
        player["source"] = {**player["source"], "url": f"{base}/files/{vid}"}
        out["player"] = player
    return out


async def track(s: AsyncSession, token: str) -> dict[str, Any]:
    """The watch page's track of the recording published under ``token`` (404 once unpublished): its name,
    start and duration, the stage's changes ``[{t, stage}]`` and the board's steps ``[{t, update}]``."""
    rec, _ = await recordings.published(s, token)
    base = f"/r/{token}"
    stage = await stage_history.for_recording(s, rec)
    return {
        "name": rec.name,
        "language": rec.language,
        "startedAt": rec.started_at.isoformat(),
        "duration": round(rec.duration, 3),
        "video": f"{base}/video",
        "stage": [{"t": c["t"], "stage": _public(c["stage"], base)} for c in stage],
        "board": await board_steps.for_recording(s, rec),
    }


async def _shown(s: AsyncSession, rec: Recording, file_id: int, kind: str) -> bool:
    for c in await stage_history.for_recording(s, rec):
        if (_doc_file(c["stage"]) if kind == "pdf" else _video_file(c["stage"])) == file_id:
            return True
    return False


async def asset(s: AsyncSession, store: Storage, token: str, file_id: int, kind: str) -> Asset:
    """A file on the stage during the recording published under ``token``: ``kind`` ``pdf``, a document's
    PDF, or ``video``, a library video. 404 for a file the recording's stage did not show (or gone since),
    409 for a document whose PDF is not ready, 410 when its bytes are missing."""
    rec, _ = await recordings.published(s, token)
    f = await s.get(LibraryFile, file_id)
    if f is None or f.status != "complete" or not await _shown(s, rec, file_id, kind):
        raise ControlError("not_found", "no such file in this recording", 404)
    if kind == "pdf":
        state = await s.get(Document, f.id)
        if state is not None:
            documents.pdf_ready(documents.Doc(f, state))
        path, ctype = documents.pdf_path(store, f), "application/pdf"
    else:
        path, ctype = store.path(f.storage_key), files.video_type(f.name) or "application/octet-stream"
    if not path.is_file():
        raise ControlError("gone", "the file is missing on the server", 410)
    return Asset(path, ctype)
