"""The shared player's videos in the database (issue 17 item 2): which files a room's event may play, and
their signed ``/play`` URLs (mediaserver.events.ondemand, served with Range requests by
signaling/api/ondemand.py).

A room plays a finished video file (R-FILE-4's video extensions) of its own event: one uploaded into the
event's room (R-FILE-2), or the event's own video or a file of its timeline. A file of another event, or of
the library that the event does not use, does not exist for the room (404), whoever asks."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mediaserver.errors import ControlError
from mediaserver.events import automation, entry, ondemand
from mediaserver.library import files
from mediaserver.store.db import Database
from mediaserver.store.models import LibraryFile, RoomFile

URL_TTL = 24 * 3600  # seconds a video's signed URL works: longer than any session's video


class Videos:
    """The rooms' :class:`mediaserver.interaction.player.VideoSource`."""

    def __init__(self, db: Database, secret: str, youtube_api: str) -> None:
        self.db = db
        self.secret = secret
        self.youtube_api = youtube_api

    async def video(self, room_id: str, file_id: int) -> dict[str, Any]:
        async with self.db.read_only() as s:
            ev = await entry.event_of_room(s, room_id)
            if ev is None:
                raise ControlError("no_event", "library videos belong to an event: this room has none", 409)
            f = await s.get(LibraryFile, file_id)
            ours = f is not None and (
                ev.video_file_id == f.id
                or f.id in automation.file_ids(ev)
                or await s.scalar(
                    select(RoomFile.file_id).where(RoomFile.file_id == f.id, RoomFile.event_id == ev.id)
                )
                is not None
            )
            if f is None or not ours or f.status != "complete":
                raise ControlError(
                    "not_found", f"this event has no file {file_id}: upload it into the room", 404
                )
            kind = files.video_type(f.name)
            if kind is None:
                raise ControlError(
                    "not_video",
                    f"{f.name!r} is not a video (the player takes {', '.join(sorted(files.VIDEO_TYPES))})",
                    400,
                )
            return {"file": f.id, "name": f.name, "type": kind, "event": ev.id}

    def url(self, file_id: int, event_id: int) -> str:
        token, _ = ondemand.sign_watch(self.secret, file_id, event_id, URL_TTL)
        return f"/play/{token}"
