"""Live streaming of an event's room to an RTMP service (R-REC-6: YouTube, Facebook; R-API-2 "RTMP export"),
with the live indicator every participant sees.

Where it sits: a :class:`~mediaserver.output.capture.RoomCapture` takes the room's tracks off the native core
as a recording does (presenters-only mode and muted tracks are paused there: what attendees may not hear is
not streamed either, R-ROOM-2); a task here drains it every 100 ms into the queue of a thread of the stream's
own, where :class:`~mediaserver.output.livefeed.LiveFeed` re-encodes one picture and one sound to H.264/AAC
and pushes FLV over RTMP. The event loop never encodes and the media thread never waits on the network.

One stream per room at a time (the host or the API names the target: the service's ingest URL and stream key).
It ends when the host or the API stops it, when the session ends, or when the service goes away (status
``failed`` with the reason); webhooks ``stream.started`` and ``stream.stopped`` say so. The stream key is a
secret: it is never shown back, logged or put in a webhook.

rooms.py knows nothing of RTMP: a room calls the small interface of :class:`StreamingService` (``start``,
``stop``, ``track_added``, ``track_removed``, ``sync``, ``room_ended``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import secrets
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver import outbound
from mediaserver.errors import ControlError
from mediaserver.outbox import webhooks
from mediaserver.output.capture import RoomCapture
from mediaserver.output.livefeed import LiveFeed
from mediaserver.store.db import Database
from mediaserver.store.models import Event

if TYPE_CHECKING:
    from mediaserver.rtc.rooms import Room, Track

log = logging.getLogger("mediaserver.output.streaming")

TICK = 0.1
BUFFER_BYTES = 4 << 20
VIDEO_BUDGET = 6_000_000
BACKLOG = 100  # drained blobs (10 s) the encoder may fall behind before packets are dropped
SCHEMES = ("rtmp", "rtmps")
PORTS = {"rtmp": 1935, "rtmps": 443}


def check_target(url: Any, key: Any = None) -> tuple[str, str]:
    """The full RTMP URL (ingest URL + stream key) and what may be shown of it (without the key); a clear
    ControlError for anything else."""
    if not isinstance(url, str) or not url.strip():
        raise ControlError(
            "bad_stream_target",
            "'url' is required: the RTMP ingest URL of the service (e.g. rtmp://a.rtmp.youtube.com/live2)",
        )
    if key is not None and (
        not isinstance(key, str)
        or not key.strip()
        or len(key) > 512
        or any(c.isspace() or ord(c) < 32 for c in key)
    ):
        raise ControlError(
            "bad_stream_target", "'key' (the stream key) must be a non-empty string without spaces"
        )
    url = url.strip()
    if len(url) > 1024:
        raise ControlError("bad_stream_target", "'url' is too long (at most 1024 characters)")
    try:
        u = urllib.parse.urlsplit(url)
        port = u.port
    except ValueError as e:
        raise ControlError("bad_stream_target", f"'url' is not a URL: {e}") from None
    if u.scheme not in SCHEMES or not u.hostname:
        raise ControlError(
            "bad_stream_target",
            "'url' must be an rtmp:// or rtmps:// URL with a host "
            f"(got {u.scheme + '://' if u.scheme else 'no scheme'})",
        )
    if any(c.isspace() for c in url) or u.query or u.fragment:
        raise ControlError("bad_stream_target", "'url' must not contain spaces, a query or a fragment")
    full = url.rstrip("/") + "/" + key.strip() if key else url
    path = urllib.parse.urlsplit(full).path.strip("/")
    if "/" not in path:
        raise ControlError(
            "bad_stream_target",
            "the RTMP target needs an application and a stream key: "
            "rtmp://host/app/KEY, or 'url' rtmp://host/app with 'key'",
        )
    shown = f"{u.scheme}://{u.hostname}{':' + str(port) if port else ''}/{path.rsplit('/', 1)[0]}/…"
    return full, shown


@dataclass
class LiveStream:
    """One running stream of one room."""

    room: Room
    id: str
    event_id: int
    account_id: int
    target: str  # shown: the URL without its key
    cap: RoomCapture
    feed: LiveFeed
    started_by: str
    started_at: float = field(default_factory=time.time)
    inbox: queue.Queue[tuple[str, Any]] = field(default_factory=queue.Queue)
    status: str = "connecting"  # connecting -> live -> stopped | failed
    error: str = ""
    dropped: int = 0  # blobs left out because the encoder fell behind
    thread: threading.Thread | None = None
    task: asyncio.Task[None] | None = None
    relay: Relay | None = None
    stopping: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "eventId": self.event_id,
            "roomId": self.room.name,
            "target": self.target,
            "status": self.status,
            "error": self.error or None,
            "startedBy": self.started_by,
            "startedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_at)),
            "videoFrames": self.feed.video_frames,
            "stageFrames": self.feed.stage_frames,
            "audioSeconds": round(self.feed.audio_blocks * 0.1, 1),
        }


class StreamingService:
    def __init__(
        self,
        db: Database,
        size: tuple[int, int] = (1280, 720),
        video_kbps: int = 2500,
        policy: outbound.Policy | None = None,
    ) -> None:
        self.db = db
        self.policy = policy if policy is not None else outbound.Policy()
        self.size, self.video_kbps = size, video_kbps
        self.active: dict[str, LiveStream] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # ---------------------------------------------------------------- the room's interface

    def current(self, room: Room) -> LiveStream | None:
        ls = self.active.get(room.name)
        return ls if ls is not None and ls.room is room else None

    def described(self, room: Room | None) -> dict[str, Any]:
        """The room's current stream as the API shows it; ControlError (404) when the room (None: not in
        memory) is not being streamed."""
        ls = self.current(room) if room is not None else None
        if ls is None:
            raise ControlError("not_found", "the event's room is not being streamed", 404)
        return ls.describe()

    async def start(
        self, room: Room, url: Any, key: Any = None, by: str = "host", s: AsyncSession | None = None
    ) -> dict[str, Any]:
        """Start streaming an event's live room to an RTMP target (R-REC-6). With ``s``, in the caller's
        transaction (the API's), else in one of its own (the host's action in the room)."""
        full, shown = check_target(url, key)
        u = urllib.parse.urlsplit(full)
        # issue 14 finding 5: the host must be one the server may connect to (checked again at connect time)
        await self.policy.vet(u.hostname or "", u.port or PORTS[u.scheme], "the stream's host")
        if room.name in self.active:
            raise ControlError(
                "already_streaming", "this room is already being streamed: stop that stream first", 409
            )
        if room.settings.state != "live":
            raise ControlError("not_live", "a live stream starts once the session is live", 409)
        self.active[room.name] = None  # type: ignore[assignment]   # claims the room while the event is looked up
        ls: LiveStream | None = None

        async def begin(s: AsyncSession) -> LiveStream:
            ev = await s.scalar(select(Event).where(Event.room_id == room.name))
            if ev is None:
                raise ControlError("not_an_event", "only an event's room can be streamed (R-REC-6)", 409)
            nonlocal ls
            ls = self._launch(room, ev.id, ev.account_id, full, shown, by)
            await webhooks.emit(
                s,
                ev.account_id,
                "stream.started",
                {"stream": ls.describe(), "event": {"id": ev.id, "name": ev.name, "roomId": ev.room_id}},
            )
            return ls

        try:
            if s is None:
                async with self.db.tx() as own:
                    ls = await begin(own)
            else:
                ls = await begin(s)
        except BaseException:
            if ls is not None:
                await self._stop(ls, "failed", notify=False)
            if self.active.get(room.name) is None:
                self.active.pop(room.name, None)
            raise
        return ls.describe()

    async def stop(self, room: Room, reason: str = "host", s: AsyncSession | None = None) -> dict[str, Any]:
        """Stop the room's stream; with ``s``, its webhook goes in the caller's transaction."""
        ls = self.current(room)
        if ls is None or ls.stopping:
            raise ControlError("not_streaming", "this room is not being streamed", 409)
        return await self._stop(ls, reason, s=s)

    def track_added(self, room: Room, track: Track) -> None:
        ls = self.current(room)
        if ls is not None and not ls.stopping:
            self._add(ls, track)

    def track_removed(self, room: Room, track: Track) -> None:
        ls = self.current(room)
        if ls is not None:
            ls.cap.remove(track)

    def sync(self, room: Room) -> None:
        """A mute or the audio mode changed: presenters-only mode is not streamed (R-ROOM-2)."""
        ls = self.current(room)
        if ls is None or ls.stopping:
            return
        ls.cap.paused = room.settings.audio_mode == "presenters"
        ls.cap.apply_all(resume_key=True)

    def room_ended(self, room: Room) -> None:
        ls = self.current(room)
        if ls is not None and not ls.stopping:
            self._spawn(self._stop(ls, "ended"))

    # ---------------------------------------------------------------- inside

    def _launch(
        self, room: Room, event_id: int, account_id: int, full: str, shown: str, by: str
    ) -> LiveStream:
        sid = secrets.token_hex(6)
        cap = RoomCapture(room.media, BUFFER_BYTES, VIDEO_BUDGET, f"stream {sid}")  # the room's worker
        feed = LiveFeed(full, size=self.size, video_bps=self.video_kbps * 1000)
        ls = LiveStream(room, sid, event_id, account_id, shown, cap, feed, by)
        cap.paused = room.settings.audio_mode == "presenters"
        try:
            for t in list(room.tracks.values()):
                self._add(ls, t)
        except Exception:
            cap.close()
            raise
        self.active[room.name] = ls
        ls.task = self._spawn(self._run(ls))
        room.set_streaming(True)
        log.info(
            "room %s: stream %s to %s started by %s (%d tracks)",
            room.name,
            sid,
            shown,
            by,
            len(cap.consumers),
        )
        return ls

    @staticmethod
    def _add(ls: LiveStream, t: Track) -> None:
        meta = ls.cap.add(t)
        if meta is not None:
            ls.inbox.put(("meta", meta))

    def _drain(self, ls: LiveStream) -> None:
        for blob in ls.cap.drain():
            if ls.inbox.qsize() >= BACKLOG:  # the encoder fell behind: drop, then restart at key frames
                ls.dropped += 1
                for c in ls.cap.consumers.values():
                    if c.track.kind == "video":
                        ls.cap.media.request_keyframe(c.track.producer_id)
                continue
            ls.inbox.put(("data", blob))

    async def _connect(self, ls: LiveStream) -> None:
        """Connect to the service (a checked address, finding 5), then start the encoder's thread, which
        reaches the service through the relay. A failure is said coarsely: no OS error text."""
        try:
            ls.relay = await Relay.open(self.policy, ls.feed.url)
        except Exception as e:
            why = e.reason if isinstance(e, RelayFailed) else outbound.failure(e)
            ls.error = f"could not connect to {ls.target}: {why}"
            ls.status = "failed"
            return
        ls.feed.url = ls.relay.url
        ls.thread = threading.Thread(target=_pump, args=(ls,), name=f"stream-{ls.id}", daemon=True)
        ls.thread.start()

    async def _run(self, ls: LiveStream) -> None:
        await self._connect(ls)
        while True:
            await asyncio.sleep(TICK)
            try:
                self._drain(ls)
            except Exception:
                log.exception("stream %s: drain failed", ls.id)
            ls.inbox.put(("tick", time.monotonic_ns() // 1000))
            if ls.status == "failed" and not ls.stopping:
                log.warning("room %s: stream %s to %s failed: %s", ls.room.name, ls.id, ls.target, ls.error)
                self._spawn(self._stop(ls, "failed"))
                return

    async def _stop(
        self, ls: LiveStream, reason: str, notify: bool = True, s: AsyncSession | None = None
    ) -> dict[str, Any]:
        ls.stopping = True
        if ls.task is not None and ls.task is not asyncio.current_task():
            ls.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ls.task
        with contextlib.suppress(Exception):
            self._drain(ls)
        ls.cap.close()
        if self.active.get(ls.room.name) is ls:
            del self.active[ls.room.name]
        ls.room.set_streaming(False)
        ls.inbox.put(("stop", time.monotonic_ns() // 1000))
        if ls.thread is not None:  # the encoder flushes and closes the connection
            await asyncio.get_running_loop().run_in_executor(None, ls.thread.join, 15)
        if ls.relay is not None:
            await ls.relay.close()
        if ls.status != "failed":
            ls.status = "stopped"
        out = {**ls.describe(), "stopReason": reason}
        if not notify:
            return out

        async def tell(s: AsyncSession) -> None:
            ev = await s.get(Event, ls.event_id)
            await webhooks.emit(
                s,
                ls.account_id,
                "stream.stopped",
                {
                    "stream": out,
                    "event": {"id": ev.id, "name": ev.name, "roomId": ev.room_id} if ev else None,
                },
            )

        try:
            if s is None:
                async with self.db.tx() as own:
                    await tell(own)
            else:
                await tell(s)
        except Exception:
            log.exception("stream %s: the stream.stopped webhook could not be queued", ls.id)
        log.info(
            "room %s: stream %s stopped (%s; %d frames, %d blobs dropped)",
            ls.room.name,
            ls.id,
            reason,
            ls.feed.video_frames,
            ls.dropped,
        )
        return out

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        """At shutdown: end every stream cleanly."""
        for ls in list(self.active.values()):
            if ls is not None and not ls.stopping:
                with contextlib.suppress(Exception):
                    await self._stop(ls, "shutdown")
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _pump(ls: LiveStream) -> None:
    """The stream's thread: connect, then encode what the queue brings until stopped or the link breaks."""
    feed = ls.feed
    try:
        feed.open()
    except Exception as e:
        ls.error = f"could not connect to {ls.target}: {_reason(e, True)}"
        ls.status = "failed"
        return
    ls.status = "live"
    while True:
        kind, item = ls.inbox.get()
        try:
            if kind == "meta":
                feed.add_track(item)
            elif kind == "data":
                feed.feed(item)
            elif kind == "tick":
                feed.tick(item)
            elif kind == "stop":
                feed.close(item)
                return
        except Exception as e:  # the service went away (broken pipe) or the encoder failed
            ls.error = f"the stream to {ls.target} broke: {_reason(e, False)}"
            ls.status = "failed"
            with contextlib.suppress(Exception):
                feed.close()
            while True:  # keep the queue from growing until the service notices
                if ls.inbox.get()[0] == "stop":
                    return


def _reason(e: Exception, opening: bool) -> str:
    """Coarse (issue 14 finding 5): what kind of failure, not the OS's or FFmpeg's text. The relay reached
    the service already, so a failed opening is the service refusing the RTMP handshake or the key."""
    if isinstance(e, (OSError, EOFError)):  # FFmpeg's I/O errors (PyAV raises these subclasses)
        return "the service refused the stream" if opening else "the connection was lost"
    return "encoder error"


class RelayFailed(Exception):
    """The relay process could not connect to the service; ``reason`` is coarse."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Relay:
    """The stream's connection to the service (issue 14 finding 5): the name is resolved and every address
    checked here, then mediaserver.output.relay, a process of its own, connects to a checked address (TLS for
    rtmps, the certificate verified for the service's name) and relays what the encoder sends to a one-time
    listener on loopback. FFmpeg never resolves the service's name, so what was checked is what is reached."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str) -> None:
        self.proc, self.url = proc, url

    @classmethod
    async def open(cls, policy: outbound.Policy, url: str) -> Relay:
        u = urllib.parse.urlsplit(url)
        host, port = u.hostname or "", u.port or PORTS[u.scheme]
        addresses = await policy.addresses(host, port)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mediaserver.output.relay",
            host,
            str(port),
            "1" if u.scheme == "rtmps" else "0",
            *addresses,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            first = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().split()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        if first[:1] != ["ok"] or len(first) != 2:
            await proc.wait()
            raise RelayFailed(" ".join(first[1:]) or "connection failed")
        return cls(proc, f"rtmp://127.0.0.1:{int(first[1])}{u.path}")

    async def close(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.proc.wait()
