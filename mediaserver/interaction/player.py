"""The shared video player (issue 17 item 2, R-MEDIA-8): a video of the room's event or a YouTube video,
played, paused and seeked by the host and presenters, followed by everyone.

The state is small and complete: the source, whether it plays, the position (seconds into the video) at a
moment of the server's clock (``at``, milliseconds of :func:`server_ms`), and the rate. Every change appends
ONE ``player`` event carrying the whole state, so a client never needs an earlier one: where it should be
now is ``position + (serverNow - at) / 1000 * rate`` while playing, ``position`` when paused. Clients
estimate their offset to the server's clock with the protocol's ``time.sync`` (answered by the WebSocket
handler from the same :func:`server_ms`), and correct their drift themselves (the room page: seek beyond
1 s, adjust the playback rate below it). A late joiner gets the state in its snapshot.

A library video is a finished video file (R-FILE-4's video extensions) of the room's event: uploaded into
its room (R-FILE-2), or the event's own video or timeline file. The room has no database, so
``player.load`` with a file is awaited while the room's :class:`VideoSource` (player_store.Videos, wired by
the composition root) reads it; the browsers stream it from a signed ``/play`` URL with Range requests. A
YouTube video is named by its 11-character id or one of YouTube's URLs, checked strictly here
(:func:`youtube_id`).

Issue 19 (failover): an edge keeps a standby copy of the state from the owner's log (:meth:`Player.mirror`;
the source as the owner holds it rides on ``Entry.standby``: a library video's event, for fresh URLs).
"""

from __future__ import annotations

import math
import re
import time
import urllib.parse
from collections.abc import Awaitable
from typing import Any, Protocol

from mediaserver.errors import ControlError
from mediaserver.interaction.feature import Feature, Handler
from mediaserver.interaction.log import Entry, RoomLog
from mediaserver.interaction.members import Member, require_staff, who

POSITION_MAX = 24 * 3600.0  # seconds: no video of a webinar is longer than a day
RATE_MIN, RATE_MAX = 0.25, 2.0  # what both <video> and YouTube's player accept
_YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_YOUTUBE_HOSTS = frozenset(
    {"youtube.com", "www.youtube.com", "m.youtube.com", "youtube-nocookie.com", "www.youtube-nocookie.com"}
)
_YOUTUBE_PATHS = ("/embed/", "/shorts/", "/live/", "/v/")

# the server's clock: wall time that never goes back (time.time() at start, then the monotonic clock), so a
# state's ``at`` and the ``time.sync`` answers agree even if the system's clock is stepped meanwhile
_EPOCH = time.time() - time.monotonic()


def server_ms() -> float:
    """Milliseconds of the server's clock (about the Unix epoch's), to the microsecond."""
    return round((_EPOCH + time.monotonic()) * 1000.0, 3)


def youtube_id(value: Any) -> str:
    """The video id of a YouTube id or URL (``watch?v=``, ``youtu.be/``, ``/embed/``, ``/shorts/``,
    ``/live/``); ControlError ``bad_youtube`` (400) for anything else."""
    bad = ControlError(
        "bad_youtube",
        "'youtube' must be a YouTube video id (11 letters, digits, - or _) or a "
        "https://www.youtube.com/watch?v= or https://youtu.be/ link",
    )
    if not isinstance(value, str) or len(value) > 300:
        raise bad
    text: str = value.strip()
    if _YOUTUBE_ID.fullmatch(text):
        return text
    try:
        u = urllib.parse.urlsplit(text)
        host = (u.hostname or "").lower()
    except ValueError:
        raise bad from None
    if u.scheme not in ("http", "https") or u.username or u.password or u.port not in (None, 80, 443):
        raise bad
    found = ""
    if host == "youtu.be":
        found = u.path[1:]
    elif host in _YOUTUBE_HOSTS:
        if u.path == "/watch":
            got = urllib.parse.parse_qs(u.query).get("v") or [""]
            found = got[0]
        else:
            prefix = next((p for p in _YOUTUBE_PATHS if u.path.startswith(p)), None)
            found = u.path[len(prefix) :] if prefix else ""
    found = found.rstrip("/")
    if not _YOUTUBE_ID.fullmatch(found):
        raise bad
    return found


def _position(value: Any) -> float:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not 0 <= value <= POSITION_MAX
    ):
        raise ControlError(
            "bad_position", f"'position' must be a number of seconds from 0 to {POSITION_MAX:.0f}"
        )
    return round(float(value), 3)


def _rate(value: Any) -> float:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not RATE_MIN <= value <= RATE_MAX
    ):
        raise ControlError("bad_rate", f"'rate' must be a number from {RATE_MIN} to {RATE_MAX}")
    return float(value)


class VideoSource(Protocol):
    """The rooms' way to their event's videos (player_store.Videos) and the YouTube API's address."""

    @property
    def youtube_api(self) -> str:
        """The URL of YouTube's IFrame API script the pages load (empty: YouTube is off)."""
        ...

    async def video(self, room_id: str, file_id: int) -> dict[str, Any]:
        """``{file, name, type, event}`` of a finished video file of the event whose room ``room_id`` is;
        ControlError (404 ``not_found``, 400 ``not_video``, 409 ``no_event``) otherwise."""
        ...

    def url(self, file_id: int, event_id: int) -> str:
        """A signed ``/play`` URL of the file (Range requests), valid for hours."""
        ...


class Player(Feature):
    key = "player"
    mirrors = frozenset({"player"})

    def __init__(self, log: RoomLog, videos: VideoSource | None = None, room_id: str = "") -> None:
        self.log = log
        self.videos = videos  # None: no event's files, and no YouTube (a room made without the application)
        self.room_id = room_id
        self.source: dict[str, Any] | None = (
            None  # {kind: file, file, name, type, event} | {kind: youtube, id}
        )
        self.playing = False
        self.position = 0.0  # seconds into the video at ``at``
        self.at = server_ms()
        self.rate = 1.0
        self.by: dict[str, str] | None = None  # who made the last change
        self._loading = 0  # a player.load waiting for the database (the last one wins)

    def commands(self) -> dict[str, Handler]:
        return {
            "player.load": self.load,
            "player.play": self.play,
            "player.pause": self.pause,
            "player.seek": self.seek,
            "player.rate": self.set_rate,
            "player.stop": self.stop,
        }

    # ---- the state ----

    def now(self, at: float | None = None) -> float:
        """Where the video is at ``at`` (the server's ms; now when None), by the state."""
        if not self.playing:
            return self.position
        t = server_ms() if at is None else at
        return round(min(POSITION_MAX, self.position + max(0.0, t - self.at) / 1000.0 * self.rate), 3)

    def state(self) -> dict[str, Any]:
        src = self.source
        if src is not None and src["kind"] == "file" and self.videos is not None:
            # a fresh signed URL each time the state is given (a late joiner's lasts as long as a new one)
            src = {k: v for k, v in src.items() if k != "event"} | {
                "url": self.videos.url(src["file"], src["event"])
            }
        return {
            "source": src,
            "playing": self.playing,
            "position": self.position,
            "at": self.at,
            "rate": self.rate,
            "by": self.by,
        }

    def _changed(self, m: Member | None) -> dict[str, Any]:
        self.by = who(m) if m is not None else None
        state = self.state()
        entry = self.log.append("player", {"player": state}, standby={"source": self.source})
        return {**state, "seq": entry.seq}

    def _set(self, position: float, playing: bool) -> None:
        self.position, self.playing, self.at = position, playing, server_ms()

    def _need_source(self) -> None:
        if self.source is None:
            raise ControlError("no_video", "no video is loaded: send 'player.load' first", 409)

    # ---- commands (the host and presenters) ----

    def load(self, m: Member, params: dict[str, Any]) -> dict[str, Any] | Awaitable[dict[str, Any]]:
        """``{file | youtube, position?, playing?, rate?}``: a video for everyone (it replaces the one
        loaded); it plays at once from ``position`` (0) unless ``playing`` is false."""
        require_staff(m, "play videos to the room")
        position = _position(params.get("position", 0))
        playing = params.get("playing", True)
        if not isinstance(playing, bool):
            raise ControlError("bad_request", "'playing' must be true or false")
        rate = _rate(params.get("rate", 1.0))
        file_id, youtube = params.get("file"), params.get("youtube")
        if (file_id is None) == (youtube is None):
            raise ControlError(
                "bad_request", "give one source: 'file' (a file id) or 'youtube' (an id or link)"
            )
        if youtube is not None:
            vid = youtube_id(youtube)
            if self.videos is None or not self.videos.youtube_api:
                raise ControlError("youtube_off", "this server does not play YouTube videos", 409)
            self._loading += 1  # an earlier file load still reading loses to this one
            return self._loaded(m, {"kind": "youtube", "id": vid}, position, playing, rate)
        if not isinstance(file_id, int) or isinstance(file_id, bool) or file_id < 1:
            raise ControlError("bad_request", "'file' must be the id of a video file of the event")
        if self.videos is None:
            raise ControlError("no_event", "library videos belong to an event: this room has none", 409)
        self._loading += 1
        return self._load_file(m, self.videos, self._loading, file_id, position, playing, rate)

    async def _load_file(
        self,
        m: Member,
        videos: VideoSource,
        ticket: int,
        file_id: int,
        position: float,
        playing: bool,
        rate: float,
    ) -> dict[str, Any]:
        got = await videos.video(self.room_id, file_id)
        if ticket != self._loading:
            raise ControlError("superseded", "another video was loaded meanwhile", 409)
        src = {
            "kind": "file",
            "file": got["file"],
            "name": got["name"],
            "type": got["type"],
            "event": got["event"],
        }
        return self._loaded(m, src, position, playing, rate)

    def _loaded(
        self, m: Member, src: dict[str, Any], position: float, playing: bool, rate: float
    ) -> dict[str, Any]:
        self.source, self.rate = src, rate
        self._set(position, playing)
        return self._changed(m)

    def play(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """``{position?}``: play on from where it is (or from ``position``)."""
        require_staff(m, "play the video")
        self._need_source()
        at = self.now() if params.get("position") is None else _position(params["position"])
        self._set(at, True)
        return self._changed(m)

    def pause(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """``{position?}``: pause where it is (or at ``position``: the presenter's own frame)."""
        require_staff(m, "pause the video")
        self._need_source()
        at = self.now() if params.get("position") is None else _position(params["position"])
        self._set(at, False)
        return self._changed(m)

    def seek(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """``{position}``: go to ``position`` seconds, playing or paused as it was."""
        require_staff(m, "seek the video")
        if "position" not in params:
            raise ControlError("bad_position", "'position' (seconds into the video) is required")
        position = _position(params["position"])
        self._need_source()
        self._set(position, self.playing)
        return self._changed(m)

    def set_rate(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """``{rate}``: the playback rate (0.25 to 2) from now on."""
        require_staff(m, "change the video's speed")
        rate = _rate(params.get("rate"))
        self._need_source()
        self._set(self.now(), self.playing)
        self.rate = rate
        return self._changed(m)

    def stop(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """The video leaves the stage (nothing loaded: nothing to do)."""
        require_staff(m, "stop the video")
        self._loading += 1  # a file load still reading is dropped
        if self.source is None:
            return {**self.state(), "seq": self.log.last_seq}
        self.source = None
        self._set(0.0, False)
        self.rate = 1.0
        return self._changed(m)

    def mirror(self, entry: Entry) -> None:
        st, sb = entry.data.get("player") or {}, entry.standby or {}
        self.source = sb.get("source") if "source" in sb else st.get("source")
        self.playing = bool(st.get("playing"))
        self.position = float(st.get("position") or 0.0)
        self.at = float(st.get("at") or server_ms())
        self.rate = float(st.get("rate") or 1.0)
        self.by = st.get("by")

    # ---- the room's life ----

    def snapshot(self, m: Member) -> dict[str, Any]:
        return {"player": self.state(), "youtubeApi": self.videos.youtube_api if self.videos else ""}

    def leave_stage(self) -> None:
        """Something else took the stage (issue 17: one presented item at a time): the video leaves it."""
        self._loading += 1
        self.ended()

    def ended(self) -> None:
        if self.source is not None:
            self.source = None
            self._set(0.0, False)
            self.rate = 1.0
            self._changed(None)
