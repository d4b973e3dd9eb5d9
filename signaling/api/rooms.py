"""Instant rooms and join tokens: POST /api/v1/rooms, GET /api/v1/rooms/{id}, POST /api/v1/rooms/{id}/join and
POST /api/v1/tokens (R-ROOM-1, -6, -7, -9)."""
from __future__ import annotations

import hmac
import secrets
from typing import Any

from aiohttp import web

from mediaserver.events import lifecycle, registration
from mediaserver.rtc import tokens
from mediaserver.rtc.room_rules import check_person, entry_status
from signaling import keys
from signaling.errors import SignalError, classify, json_error
from signaling.parse import bearer, json_object


async def issue_token(request: web.Request) -> web.Response:
    """POST /api/v1/tokens {room, role, name, ttl?} with the API key: a signed join token."""
    try:
        key = bearer(request)
        if not hmac.compare_digest(key.encode(), request.app[keys.SETTINGS].api_key.encode()):
            raise SignalError("unauthorized", "invalid API key", 401)
        try:
            body = await request.json()
        except ValueError as e:
            raise SignalError("bad_json", "the body must be a JSON object") from e
        if not isinstance(body, dict):
            raise SignalError("bad_request", "the body must be a JSON object")
        room, role, name = body.get("room"), body.get("role", "presenter"), body.get("name", "guest")
        ttl = body.get("ttl", 3600)
        if not isinstance(room, str) or not room or len(room) > 128:
            raise SignalError("bad_request", "'room' must be a non-empty string of at most 128 characters")
        if role not in tokens.ROLES:
            raise SignalError("bad_request", f"'role' must be one of {', '.join(tokens.ROLES)}")
        if not isinstance(name, str) or len(name) > 128:
            raise SignalError("bad_request", "'name' must be a string of at most 128 characters")
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= 7 * 86400:
            raise SignalError("bad_request", "'ttl' must be an integer number of seconds between 1 and 604800")
        identity = body.get("identity") or secrets.token_hex(6)
        token = tokens.issue(request.app[keys.SETTINGS].secret, room, role, name, str(identity), ttl)
        return web.json_response({"token": token, "room": room, "role": role}, status=201)
    except Exception as e:
        return json_error(classify(e))




async def create_room(request: web.Request) -> web.Response:
    """POST /api/v1/rooms: a new room with its 9-digit ID, host and presenter keys (R-ROOM-1, -7)."""
    try:
        settings = request.app[keys.SETTINGS]
        if not settings.open_room_creation:
            key = bearer(request)
            if not hmac.compare_digest(key.encode(), settings.api_key.encode()):
                raise SignalError("unauthorized", "invalid API key", 401)
        body = await json_object(request)
        room = request.app[keys.ROOMS].create(
            body.get("type", "webinar"), body.get("name", ""), body.get("capacity"), body.get("language", "en"),
            body.get("agenda", ""), body.get("message", ""), body.get("start", "instant"), body.get("audioMode"),
            body.get("cameraLimit"))
        st = room.settings
        return web.json_response({**st.public(), "hostKey": st.host_key, "presenterKey": st.presenter_key,
                                  "hostUrl": f"/room/{st.id}?host={st.host_key}",
                                  "presenterUrl": f"/room/{st.id}?presenter={st.presenter_key}"}, status=201)
    except Exception as e:
        return json_error(classify(e))




def _room(request: web.Request) -> Any:
    room = request.app[keys.ROOMS].find(request.match_info["id"])
    if room is None or room.settings.adhoc:
        raise SignalError("not_found", "there is no room with this ID; check the 9 digits", 404)
    return room




async def event_of(request: web.Request) -> Any:
    """The event that owns this room ID, if any (events keep their room ID while no room is in memory)."""
    rid = request.match_info["id"]
    if not (rid.isdigit() and len(rid) == 9):
        return None
    async with request.app[keys.DB].read() as s:
        return await lifecycle.event_by_room(s, rid)




async def room_info(request: web.Request) -> web.Response:
    try:
        room = request.app[keys.ROOMS].find(request.match_info["id"])
        ev = await event_of(request) if room is None else None
        if ev is not None:               # an event's room before its first join: the lobby to be
            return web.json_response({"id": ev.room_id, "name": ev.name, "type": ev.room_type, "language": ev.language,
                                      "agenda": ev.agenda, "message": ev.lobby_message, "locked": False,
                                      "state": {"planned": "lobby"}.get(ev.status, "ended" if ev.status == "done"
                                                                         else "live"),
                                      "url": f"/room/{ev.room_id}", "participants": 0, "access": ev.access,
                                      "event": True})
        room = _room(request)
        info = {**room.settings.public(), "participants": room.seated()}
        info.pop("pin")                  # the dial-in PIN is for the people let in, not for anyone with the ID
        return web.json_response(info)
    except Exception as e:
        return json_error(classify(e))




async def join_room(request: web.Request) -> web.Response:
    """POST /api/v1/rooms/{id}/join {name, email, hostKey?, presenterKey?}: a join token (R-ROOM-7). An event's
    room goes through the event's access rules (password, token, registration; R-ROOM-6, -9)."""
    try:
        if await event_of(request) is not None:
            body = await json_object(request)
            async with request.app[keys.DB].tx() as s:
                ev = await lifecycle.event_by_room(s, request.match_info["id"])
                settings = request.app[keys.SETTINGS]
                result = await registration.join(s, ev, body, request.app[keys.ROOMS], settings.secret,
                                           settings.watch_url_ttl)
            return web.json_response(result)
        room = _room(request)
        body = await json_object(request)
        name, email = check_person(body.get("name"), body.get("email"))
        st = room.settings
        role = "attendee"
        for field, value in (("hostKey", st.host_key), ("presenterKey", st.presenter_key)):
            given = body.get(field)
            if given is not None:
                if not isinstance(given, str) or not hmac.compare_digest(given.encode(), value.encode()):
                    raise SignalError("forbidden", f"this {field} does not open this room", 403)
                role = "host" if field == "hostKey" else "presenter"
                break
        entry_status(st, role, 0)        # refuse a locked or ended room now, with a clear reason
        token = tokens.issue(request.app[keys.SETTINGS].secret, st.id, role, name,
                             f"{email}#{secrets.token_hex(4)}", 6 * 3600)
        return web.json_response({"token": token, "role": role, "room": st.public()})
    except Exception as e:
        return json_error(classify(e))




def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/rooms", create_room)
    app.router.add_get("/api/v1/rooms/{id}", room_info)
    app.router.add_post("/api/v1/rooms/{id}/join", join_room)
    app.router.add_post("/api/v1/tokens", issue_token)
