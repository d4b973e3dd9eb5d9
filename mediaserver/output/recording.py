"""Recording an event's room (R-REC-1, -2, -3, R-ROOM-14; webhooks recording.started / recording.ready,
R-API-2).

Where it sits: a :class:`~mediaserver.output.capture.RoomCapture` (the native core's *recorder transport*, one
per recording) gets a consumer for every audio and video track of the room, like a subscriber that never goes
on the network; its packets (rewritten, unencrypted) gather in a buffer in the core. A task here drains that
buffer every 200 ms and appends the records to a raw file under ``data_dir/recordings`` in a worker thread
(the event loop never waits on the disk, the media thread never writes a file). When the recording stops (the
host, the API, the end of the session, or the trial's limit) the transport is closed and
:func:`mediaserver.output.recfile.convert` turns the raw file into one WebM in a worker thread; the WebM
becomes a file of the account's library (``source = "recording"``) and a
:class:`~mediaserver.store.models.Recording` row, and ``recording.ready`` is queued in the same transaction.

R-REC-3, presenters-only mode is never recorded: while the room is in that mode the recorder's consumers are
paused in the core, and whatever was already on its way is drained and dropped; the stretch is cut out of the
recording (a break record, see mediaserver.output.recfile), and key frames are asked for when recording
resumes. A muted track's consumer is paused too (nothing of it is recorded while muted).

R-REC-2, the allowance: the plan's ``recording_minutes`` (mediaserver.billing.plans.Limits) is the length of
recordings the account may keep; deleting a recording frees its minutes. A recording cannot *start* once the
allowance is used up (403 ``recording_limit_reached``); a paid account's recording that runs out of allowance
during the event goes on to the end of the event (the Russian original: "Система даст вам возможность
продолжить запись до окончания мероприятия"). The free trial records at most 30 minutes in all: its recording
stops by itself at the limit. Recordings are library files, so their bytes count against the storage quota
(R-FILE-1) like uploads; a recording is never cut short for storage (R-REC-2 again), uploads are refused while
the quota is full.

rooms.py knows nothing of files or formats: a room calls the small interface of :class:`RecordingService`
(``start``, ``stop``, ``track_added``, ``track_removed``, ``sync``, ``room_ended``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.billing import plans, subscription
from mediaserver.errors import ControlError
from mediaserver.library.recordings import describe, used_seconds
from mediaserver.library.storage import Storage
from mediaserver.outbox import webhooks
from mediaserver.output import recfile
from mediaserver.output.capture import RoomCapture
from mediaserver.store.db import Database, utcnow
from mediaserver.store.models import Account, Event, EventSession, LibraryFile, Recording

if TYPE_CHECKING:
    from mediaserver.rtc.rooms import Room, Track

log = logging.getLogger("mediaserver.output.recording")

# : R-REC-2 / R-ACC-1: the free trial records at most this long in all (the service's trial_seconds, which
# tests : may lower)
TRIAL_SECONDS = plans.PLANS["trial"].recording_minutes * 60
DRAIN_EVERY = 0.2
BUFFER_BYTES = 8 << 20  # the core's buffer per recording: 8 MB is > 10 s of several HD streams
VIDEO_BUDGET = 6_000_000  # no bandwidth estimate on a recorder: the top simulcast layer up to this


@dataclass
class Recorder:
    """One running recording of one room."""

    room: Room
    rec_id: int
    account_id: int
    cap: RoomCapture  # cap.paused: presenters-only mode (R-REC-3)
    raw: Path
    limit: float | None  # seconds of recording left (the trial); None: to the end
    pending: list[bytes] = field(default_factory=list)
    recorded: float = 0.0  # seconds recorded before the current stretch
    since: float | None = None  # monotonic start of the current (unpaused) stretch
    task: asyncio.Task[None] | None = None
    stopping: bool = False

    def elapsed(self) -> float:
        return self.recorded + (time.monotonic() - self.since if self.since is not None else 0.0)


class RecordingService:
    def __init__(
        self, db: Database, data_dir: str | Path, public_url: str = "", files_dir: str | Path = ""
    ) -> None:
        self.db = db
        self.dir = Path(data_dir) / "recordings"  # the raw records while recording: this node's own
        self.storage = Storage(files_dir or Path(data_dir) / "files")  # the finished files: the library's
        self.public_url = public_url
        self.trial_seconds: float = TRIAL_SECONDS
        self.drain_every = DRAIN_EVERY
        self.active: dict[str, Recorder] = {}
        self._starting: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._io = ThreadPoolExecutor(1, thread_name_prefix="rec-io")  # appends, in order
        self._convert = ThreadPoolExecutor(1, thread_name_prefix="rec-webm")  # conversions, one at a time

    # ---------------------------------------------------------------- the room's interface

    def is_recording(self, room: Room) -> bool:
        r = self.active.get(room.name)
        return r is not None and r.room is room

    async def start(self, room: Room, s: AsyncSession | None = None, by: str = "host") -> dict[str, Any]:
        """Start recording an event's live room (R-REC-1). With ``s``, in the caller's transaction (the
        automatic start of an event, R-REC-1 "start recording automatically"); else in a transaction of its
        own."""
        if room.name in self.active or room.name in self._starting:
            raise ControlError("already_recording", "this room is already being recorded", 409)
        if room.settings.state != "live":
            raise ControlError("not_live", "a recording starts once the session is live", 409)
        self._starting.add(room.name)
        try:
            if s is None:
                async with self.db.tx() as own:
                    return await self._start(own, room, by)
            return await self._start(s, room, by)
        finally:
            self._starting.discard(room.name)

    async def _start(self, s: AsyncSession, room: Room, by: str) -> dict[str, Any]:
        ev = await s.scalar(select(Event).where(Event.room_id == room.name))
        if ev is None:
            raise ControlError(
                "not_an_event",
                "only an event's room can be recorded: a recording goes to the file "
                "library of the event's account (R-REC-1)",
                409,
            )
        account = await s.get(Account, ev.account_id)
        assert account is not None
        parent = await s.get(Account, account.parent_id) if account.parent_id else None
        lim = subscription.account_limits(account, parent)
        allowance = lim.recording_minutes * 60.0
        trial = (parent or account).plan == "trial"
        if trial:
            allowance = min(allowance, self.trial_seconds)
        used = await used_seconds(s, account.id)
        if used >= allowance:
            raise ControlError(
                "recording_limit_reached",
                f"the recording allowance is used up ({used / 60:.1f} of {allowance / 60:.0f} minutes"
                f"{', the free trial records at most 30 minutes' if trial else ''}): delete "
                "recordings or add recording minutes to record again (R-REC-2)",
                403,
            )
        session_id = await s.scalar(
            select(EventSession.id).where(EventSession.event_id == ev.id, EventSession.ended_at.is_(None))
        )
        now = utcnow()
        rec = Recording(
            account_id=account.id,
            event_id=ev.id,
            session_id=session_id,
            status="recording",
            name=f"{ev.name} {now:%Y-%m-%d %H:%M}"[:200],
            started_at=now,
            duration=0.0,
            size=0,
            language=room.settings.language,
            stop_reason="",
        )  # R-ROOM-14: the language now
        s.add(rec)
        await s.flush()
        await webhooks.emit(
            s,
            account.id,
            "recording.started",
            {
                "recording": describe(rec),
                "startedBy": by,
                "event": webhooks.public_ref(ev),
            },
        )
        # R-REC-2: the trial stops at its limit; a paid account records to the end of the event
        self._activate(room, rec.id, account.id, allowance - used if trial else None)
        return describe(rec, self.public_url)

    def _activate(self, room: Room, rec_id: int, account_id: int, limit: float | None) -> None:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        cap = RoomCapture(room.media, BUFFER_BYTES, VIDEO_BUDGET, f"recording {rec_id}")  # the room's worker
        raw = self.dir / f"rec-{rec_id}-{secrets.token_hex(4)}.raw"
        raw.touch(mode=0o600)  # the server's own (issue 14 finding 11)
        r = Recorder(room, rec_id, account_id, cap, raw, limit)
        cap.paused = self._mode_paused(room)
        r.since = None if cap.paused else time.monotonic()
        self.active[room.name] = r
        try:
            for t in list(room.tracks.values()):
                cap.add(t)
        except Exception:
            self.active.pop(room.name, None)
            cap.close()
            raise
        r.task = self._spawn(self._run(r))
        room.set_recording(True)
        log.info("room %s: recording %d started (%d tracks)", room.name, rec_id, len(cap.consumers))

    async def stop(self, room: Room, reason: str = "host", s: AsyncSession | None = None) -> dict[str, Any]:
        """Stop the room's recording: the transport closes now; the WebM is made in the background and the
        recording is "ready" (webhook recording.ready) when it is in the library. With ``s``, the row is
        updated in the caller's transaction (on SQLite a second transaction would wait for the first)."""
        r = self.active.get(room.name)
        if r is None or r.room is not room or r.stopping:
            raise ControlError("not_recording", "this room is not being recorded", 409)
        return await self._stop(r, reason, s)

    def track_added(self, room: Room, track: Track) -> None:
        r = self.active.get(room.name)
        if r is not None and r.room is room and not r.stopping:
            r.cap.add(track)

    def track_removed(self, room: Room, track: Track) -> None:
        """The track's producer is closed: the core closed its recorder consumer too; forget it."""
        r = self.active.get(room.name)
        if r is not None and r.room is room:
            r.cap.remove(
                track
            )  # the stage may go back to another source, at a key frame (mediaserver.output.recfile)

    def sync(self, room: Room) -> None:
        """The room's audio mode or a track's mute changed: pause or resume what is recorded (R-REC-3)."""
        r = self.active.get(room.name)
        if r is None or r.room is not room or r.stopping:
            return
        paused = self._mode_paused(room)
        if paused != r.cap.paused:
            if paused:  # what came before the switch is kept; the stretch itself is left out
                self._drain_now(r)
                r.recorded += time.monotonic() - (r.since or time.monotonic())
                r.since = None
            else:
                self._drain_now(r, keep=False)
                r.pending.append(recfile.break_marker())
                r.since = time.monotonic()
            r.cap.paused = paused
            log.info(
                "room %s: recording %d %s (audio mode %s)",
                room.name,
                r.rec_id,
                "paused" if paused else "resumed",
                room.settings.audio_mode,
            )
        r.cap.apply_all(resume_key=True)

    def room_ended(self, room: Room) -> None:
        r = self.active.get(room.name)
        if r is not None and r.room is room and not r.stopping:
            self._spawn(self._stop(r, "ended"))

    # ---------------------------------------------------------------- inside

    @staticmethod
    def _mode_paused(room: Room) -> bool:
        return room.settings.audio_mode == "presenters"  # R-REC-3

    @staticmethod
    def _drain_now(r: Recorder, keep: bool = True) -> None:
        for blob in r.cap.drain():
            if keep and not r.cap.paused:
                r.pending.append(blob)

    async def _flush(self, r: Recorder) -> None:
        if not r.pending:
            return
        data, r.pending = b"".join(r.pending), []
        await asyncio.get_running_loop().run_in_executor(self._io, _append, r.raw, data)

    async def _run(self, r: Recorder) -> None:
        while True:
            await asyncio.sleep(self.drain_every)
            try:
                self._drain_now(r)
                await self._flush(r)
            except Exception:
                log.exception("recording %d: drain failed", r.rec_id)
            if r.limit is not None and r.elapsed() >= r.limit and not r.stopping:
                log.info("recording %d: the trial's %d s are used up; stopping (R-REC-2)", r.rec_id, r.limit)
                self._spawn(self._stop(r, "trial_limit"))
                return

    async def _stop(self, r: Recorder, reason: str, s: AsyncSession | None = None) -> dict[str, Any]:
        r.stopping = True
        if r.task is not None and r.task is not asyncio.current_task():
            r.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await r.task
        try:
            self._drain_now(r)
        except Exception:
            log.exception("recording %d: last drain failed", r.rec_id)
        r.cap.close()
        if r.since is not None:
            r.recorded += time.monotonic() - r.since
            r.since = None
        if self.active.get(r.room.name) is r:
            del self.active[r.room.name]
        r.room.set_recording(False)
        await self._flush(r)
        await asyncio.get_running_loop().run_in_executor(
            self._io, recfile.save_meta, _meta_path(r.raw), r.cap.metas
        )
        if s is None:
            async with self.db.tx() as own:
                out = await self._stopped(own, r, reason)
        else:
            out = await self._stopped(s, r, reason)
        log.info("room %s: recording %d stopped (%s, %.1f s)", r.room.name, r.rec_id, reason, r.recorded)
        self._spawn(self._finish(r))
        return out

    async def _stopped(self, s: AsyncSession, r: Recorder, reason: str) -> dict[str, Any]:
        rec = await s.get(Recording, r.rec_id)
        if rec is None:
            return {"id": r.rec_id, "status": "processing"}
        rec.status, rec.ended_at, rec.stop_reason = "processing", utcnow(), reason
        return describe(rec, self.public_url)

    async def _finish(self, r: Recorder) -> None:
        """The raw file to a WebM in the library (off the event loop), then recording.ready."""
        key = "rec-" + secrets.token_urlsafe(12)
        out = self.storage.path(key)
        try:
            self.storage.create(key)
            conv = await asyncio.get_running_loop().run_in_executor(
                self._convert, recfile.convert, r.raw, r.cap.metas, out
            )
            size = out.stat().st_size
            async with self.db.tx() as s:
                rec = await s.get(Recording, r.rec_id)
                if rec is None:  # deleted meanwhile
                    out.unlink(missing_ok=True)
                    return
                f = await _library_file(s, rec.account_id, rec.name, key, size)
                rec.file_id, rec.status, rec.duration, rec.size = f.id, "ready", conv.duration, size
                ev = await s.get(Event, rec.event_id) if rec.event_id else None
                await webhooks.emit(
                    s,
                    rec.account_id,
                    "recording.ready",
                    {
                        "recording": describe(rec, self.public_url),
                        "event": {"id": ev.id, "name": ev.name, "roomId": ev.room_id} if ev else None,
                        "video": {"width": conv.width, "height": conv.height, "frames": conv.video_frames},
                        "audioTracks": conv.audio_tracks,
                    },
                )
            log.info(
                "recording %d ready: %.1f s, %d bytes, %dx%d",
                r.rec_id,
                conv.duration,
                size,
                conv.width,
                conv.height,
            )
        except Exception as e:
            out.unlink(missing_ok=True)
            log.warning("recording %d could not be made into a WebM: %s", r.rec_id, e)
            async with self.db.tx() as s:
                rec = await s.get(Recording, r.rec_id)
                if rec is not None:
                    rec.status = "failed"
                    rec.stop_reason = (rec.stop_reason + f"; {e}")[:32]
        finally:
            r.raw.unlink(missing_ok=True)
            _meta_path(r.raw).unlink(missing_ok=True)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def trim(self, s: AsyncSession, rec: Recording, start: float, end: float) -> Recording:
        """R-REC-4: a new recording (and library file) of [start, end) of a ready one, cut at key frames."""
        if rec.status != "ready" or rec.file_id is None:
            raise ControlError("not_ready", "only a ready recording can be trimmed", 409)
        f = await s.get(LibraryFile, rec.file_id)
        if f is None:
            raise ControlError("not_ready", "the recording's file is gone", 409)
        if not 0 <= start < end or start >= rec.duration:
            raise ControlError(
                "bad_request",
                f"'start' and 'end' must satisfy 0 <= start < end and start < "
                f"{rec.duration:.3f} (the recording's length)",
            )
        key = "rec-" + secrets.token_urlsafe(12)
        out = self.storage.create(key)
        cut, duration = await asyncio.get_running_loop().run_in_executor(
            self._convert, recfile.trim, self.storage.path(f.storage_key), out, start, end
        )
        size = out.stat().st_size
        nf = await _library_file(s, rec.account_id, rec.name + " (trimmed)", key, size)
        new = Recording(
            account_id=rec.account_id,
            event_id=rec.event_id,
            session_id=rec.session_id,
            file_id=nf.id,
            name=(rec.name + " (trimmed)")[:200],
            status="ready",
            language=rec.language,
            # the span it covers (what was on the stage then is its track: issue 17 item 4)
            started_at=rec.started_at + dt.timedelta(seconds=cut),
            ended_at=rec.started_at + dt.timedelta(seconds=cut + duration),
            duration=duration,
            size=size,
            stop_reason="trim",
            trimmed_from=rec.id,
        )
        s.add(new)
        await s.flush()
        return new

    async def close(self) -> None:
        """At shutdown: stop what records (their WebMs are made) and wait for the conversions."""
        for r in list(self.active.values()):
            with contextlib.suppress(Exception):
                await self._stop(r, "shutdown")
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self._io.shutdown(wait=True)
        self._convert.shutdown(wait=True)


def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


def _meta_path(raw: Path) -> Path:
    return raw.with_suffix(".json")


def _file_name(name: str) -> str:
    clean = "".join(c if c.isalnum() or c in " -_()." else "_" for c in name).strip() or "recording"
    return clean[:240] + ".webm"


async def _library_file(s: AsyncSession, account_id: int, name: str, key: str, size: int) -> LibraryFile:
    """A recording's stored video as a complete file of the account's library (source 'recording')."""
    f = LibraryFile(
        account_id=account_id,
        name=_file_name(name),
        size=size,
        status="complete",
        source="recording",
        storage_key=key,
    )
    s.add(f)
    await s.flush()
    return f
