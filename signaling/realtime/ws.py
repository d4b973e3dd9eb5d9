"""The WebSocket protocol (see docs/signaling.md): JSON requests with ids, replies and notifications."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
from collections.abc import Awaitable
from typing import Any

from aiohttp import WSMsgType, web

from mediaserver.interaction.player import server_ms
from mediaserver.rtc import devices, tokens
from mediaserver.rtc.avatars import AvatarError, AvatarStore
from mediaserver.rtc.rooms import Participant, RoomManager
from signaling import keys
from signaling.errors import SignalError, classify
from signaling.realtime import fanout
from signaling.realtime.fanout import Fanout

log = logging.getLogger("signaling.realtime.ws")
MAX_MESSAGE = 256 * 1024
MAX_QUEUED = 1000  # replies and room events a client may leave unsent before it is dropped (issue 16)


class Connection:
    """One WebSocket client: at most one participant in one room."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        rooms: RoomManager,
        secret: str,
        avatars: AvatarStore | None = None,
        detected: str = devices.DESKTOP,
        fanout: Fanout | None = None,
        transport: asyncio.Transport | None = None,
    ) -> None:
        self.ws = ws
        self.fanout = fanout  # issue 16: the room's interaction comes through it, one frame per tick
        self.transport = transport
        self.dropped = False  # cut off for not reading (write_frame)
        self.detected = detected  # the device the upgrade request's headers show (devices.from_headers)
        self.rooms = rooms
        self.avatars = avatars or AvatarStore()
        self.secret = secret
        self.participant: Participant | None = None
        # messages to send, in order, and the pump's wake-up: a list and one future rather than an
        # asyncio.Queue (three deques and an Event, about 3 KB per idle connection)
        self._out: list[dict[str, Any]] = []
        self._wake: asyncio.Future[None] | None = None

    def send(self, msg: dict[str, Any]) -> None:
        """Queue a message for the client; the pump sends them in order. A client that leaves
        :data:`MAX_QUEUED` of them unsent is not reading: it is dropped (issue 16)."""
        if len(self._out) >= MAX_QUEUED:
            self._drop(f"{len(self._out)} messages queued")
            return
        self._out.append(msg)
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def write_frame(self, frame: bytes) -> bool:
        """The fan-out's frame, straight onto the transport, unless the client has :data:`fanout.LIMIT` bytes
        unread there already: then it is dropped (its memory stays bounded; it reconnects for a snapshot)."""
        t = self.transport
        if t is None or t.is_closing() or self.dropped:
            return False
        unsent = t.get_write_buffer_size()
        if unsent + len(frame) > fanout.LIMIT:
            self._drop(f"{unsent} bytes unsent")
            return False
        t.write(frame)
        return True

    def _drop(self, why: str) -> None:
        self.dropped = True
        if self.fanout is not None:
            self.fanout.dropped += 1
        log.info("dropping a websocket client that does not read (%s)", why)
        if self.transport is not None:
            self.transport.abort()

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self.send({"method": method, "params": params})

    async def pump(self) -> None:
        while True:
            if not self._out:
                self._wake = asyncio.get_running_loop().create_future()
                try:
                    await self._wake
                finally:
                    self._wake = None
                continue
            batch, self._out = self._out, []
            for msg in batch:
                if self.ws.closed:
                    return
                try:
                    await self.ws.send_json(msg)
                except ConnectionError as e:  # the client went away while we answered: nothing to tell
                    log.debug("websocket closed while sending: %s", e)
                    return

    def handle(self, msg: Any) -> dict[str, Any] | Awaitable[dict[str, Any]]:
        if not isinstance(msg, dict):
            raise SignalError("bad_request", "a message must be a JSON object")
        method, params = msg.get("method"), msg.get("params", {})
        if not isinstance(method, str):
            raise SignalError("bad_request", "missing 'method' (a string)")
        if not isinstance(params, dict):
            raise SignalError("bad_request", "'params' must be an object")
        if method == "time.sync":  # issue 17: the server's clock, before joining too (no state, cheap)
            return {"now": server_ms()}
        fn = getattr(self, "do_" + method, None)
        p = self.participant
        if fn is None and p is not None and method in p.room.interaction.methods:
            return self._interact(method, params)
        if fn is None:
            raise SignalError("unknown_method", f"unknown method {method!r}")
        if method != "join" and self.participant is None:
            raise SignalError("not_joined", "send 'join' with a token first")
        if (
            self.participant is not None
            and self.participant.room.participants.get(self.participant.id) is None
            and method not in ("leave", "join")
        ):
            self.participant = None  # removed by the host, or the session ended
            raise SignalError("not_joined", "you are no longer in the room; join again")
        reply: dict[str, Any] | Awaitable[dict[str, Any]] = fn(params)
        return reply

    def _interact(self, method: str, params: dict[str, Any]) -> dict[str, Any] | Awaitable[dict[str, Any]]:
        """A command of the room's interaction (issue 16: chat.send, hand.raise, react, ...; a few, such as
        poll.launch, read the database: their reply is awaited)."""
        p = self.participant
        assert p is not None
        if p.room.participants.get(p.id) is None:
            self.participant = None
            raise SignalError("not_joined", "you are no longer in the room; join again")
        if p.status != "joined":
            raise SignalError("not_admitted", f"you are in the {p.status}; wait until you are let in", 409)
        return p.room.command(p, method, params)

    @staticmethod
    def _sdp(params: dict[str, Any]) -> str:
        s = params.get("sdp")
        if not isinstance(s, str) or not s:
            raise SignalError("bad_request", "'sdp' must be a non-empty string")
        return s

    def do_join(self, params: dict[str, Any]) -> Awaitable[dict[str, Any]]:
        if self.participant is not None and self.participant.room.participants.get(self.participant.id):
            raise SignalError("conflict", "already joined", 409)
        token = params.get("token")
        if not isinstance(token, str):
            raise SignalError("unauthorized", "'token' (a signed join token) is required", 401)
        grant = tokens.verify(self.secret, token)
        claimed = params.get("device", devices.DESKTOP)
        if claimed not in devices.DEVICES:
            raise SignalError("bad_request", "'device' must be 'desktop' or 'mobile'")
        stay = params.get("stay", False)
        if not isinstance(stay, bool):
            raise SignalError("bad_request", "'stay' must be true or false")
        # a phone's headers make it a phone whatever it claims (R-MEDIA-1, -7, R-INT-5)
        return self._enter(grant, devices.effective(claimed, self.detected), stay)

    async def _enter(self, grant: tokens.Grant, device: str, stay: bool = False) -> dict[str, Any]:
        if grant.role == "attendee" and not stay:  # issue 19: placed by load (the staff act on the owner)
            elsewhere = await self.rooms.placed_elsewhere()
            if elsewhere is not None:
                raise SignalError(
                    "node_full",
                    "this node takes no more attendees now: join on the node named",
                    503,
                    detail={"nodes": [elsewhere]},
                )
        room = await self.rooms.enter(grant)  # an event's room may be opened from the database (finding 17)
        if self.participant is not None and self.participant.room.participants.get(self.participant.id):
            raise SignalError("conflict", "already joined", 409)
        try:
            self.participant = room.join(grant, self.notify, device=device)
        except Exception:
            self.rooms.release(room)
            raise
        try:
            owners_view = await self.rooms.joined(room, self.participant)  # issue 19: the owner's, on an edge
        except Exception:
            room.leave(self.participant)
            self.participant = None
            raise
        if self.fanout is not None:
            fan = self.fanout
            fan.register(self.participant.id, self)
            # however the participant leaves (this socket, the host's removal, the session's end), the fan-out
            # forgets it then, not when (or if) this socket closes
            self.participant.on_leave.append(lambda left: fan.unregister(left.id))
        return {
            "participant": self.participant.describe(),
            "device": self.participant.device,  # what the rules go by, so the page can follow it
            **room.view_for(self.participant),
            **owners_view,
        }

    def do_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        assert self.participant
        sources = params.get("sources")
        if sources is not None and (
            not isinstance(sources, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in sources.items())
        ):
            raise SignalError("bad_request", "'sources' must map mids to camera, microphone or screen")
        answer, tracks = self.participant.room.publish(
            self.participant, self._sdp(params), sources, params.get("screenQuality")
        )
        return {"sdp": answer, "tracks": [t.describe() for t in tracks]}

    def do_mute(self, params: dict[str, Any]) -> dict[str, Any]:
        assert self.participant
        muted = params.get("muted")
        if not isinstance(muted, bool):
            raise SignalError("bad_request", "'muted' must be true or false")
        kind = params.get("kind")
        changed = self.participant.room.self_mute(
            self.participant, kind if isinstance(kind, str) else "", muted
        )
        return {"tracks": [t.describe() for t in changed]}

    def do_setAvatar(self, params: dict[str, Any]) -> dict[str, Any]:  # noqa: N802 (the protocol's name)
        """An image shown instead of the camera (R-MEDIA-6): a data: URL, or null to remove it."""
        assert self.participant
        image = params.get("image")
        try:
            url = None if image is None else self.avatars.put_data_url(image)
        except AvatarError as e:
            raise SignalError("bad_request", str(e)) from e
        self.participant.room.set_avatar(self.participant, url)
        return {"avatar": url}

    def do_host(self, params: dict[str, Any]) -> dict[str, Any]:
        assert self.participant
        action = params.get("action")
        if not isinstance(action, str):
            raise SignalError("bad_request", "'action' (a string) is required")
        return self.participant.room.host_action(self.participant, action, params)

    def do_unpublish(self, params: dict[str, Any]) -> dict[str, Any]:
        assert self.participant
        track = params.get("track")
        if track is not None and not isinstance(track, str):
            raise SignalError("bad_request", "'track' must be a track id string")
        self.participant.room.unpublish(self.participant, track)
        return {}

    def do_subscribe(self, params: dict[str, Any]) -> dict[str, Any]:
        assert self.participant
        return {"sdp": self.participant.room.subscribe(self.participant)}

    def do_answer(self, params: dict[str, Any]) -> dict[str, Any]:
        assert self.participant
        self.participant.room.answer(self.participant, self._sdp(params))
        return {}

    def do_leave(self, params: dict[str, Any]) -> dict[str, Any]:
        self.close()
        return {}

    def close(self) -> None:
        if self.participant is not None:
            if self.fanout is not None:
                self.fanout.unregister(self.participant.id)
            self.participant.room.leave(self.participant)
            self.participant = None


async def _reply(conn: Connection, data: str) -> dict[str, Any]:
    """The reply to one text message (a function, so that the parsed request does not outlive it). A few host
    actions (recording, R-REC-1) need the database: their result is awaited, the connection's next message
    waits for it."""
    rid = None
    try:
        msg = json.loads(data)
        rid = msg.get("id") if isinstance(msg, dict) else None
        result = conn.handle(msg)
        if inspect.isawaitable(result):
            result = await result
        return {"id": rid, "result": result}
    except json.JSONDecodeError as e:
        return {"id": None, "error": {"code": "bad_json", "message": f"not JSON: {e.msg} at {e.pos}"}}
    except Exception as e:  # domain errors become replies; anything else is a bug, logged
        try:
            err = classify(e)
        except Exception:
            log.exception("internal error handling a signaling message")
            err = SignalError("internal", "internal error", 500)
        return {"id": rid, "error": {**err.detail, "code": err.code, "message": err.message}}


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=5, max_msg_size=MAX_MESSAGE)  # a dead client is gone within ~10 s
    await ws.prepare(request)
    conn = Connection(
        ws,
        request.app[keys.ROOMS],
        request.app[keys.SETTINGS].secret,
        request.app[keys.AVATARS],
        devices.from_headers(request.headers),
        request.app[keys.FANOUT],
        request.transport,
    )
    pump = asyncio.create_task(conn.pump())
    try:
        async for raw in ws:
            if raw.type != WSMsgType.TEXT:
                # through the pump, in order with the replies; a closed socket is the pump's to shrug off
                conn.send({"error": {"code": "bad_request", "message": "only text JSON frames are accepted"}})
                continue
            conn.send(await _reply(conn, raw.data))
            # the frame would keep the last message (an SDP of a few KB) for the connection's life
            del raw
    except ConnectionError as e:  # closed by the client mid-answer: normal, not a server error
        log.debug("websocket closed by the client: %s", e)
    finally:
        conn.close()
        await asyncio.sleep(0)
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump  # its end is retrieved: never 'Task exception was never retrieved'
    return ws
