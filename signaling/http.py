"""HTTP endpoints: WHIP ingest (RFC 9725), WHEP egress, the token API, health and /metrics."""
from __future__ import annotations

import hmac
import logging
import secrets
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mediaserver import events, sdp, tokens
from mediaserver.room_rules import check_person, entry_status
from mediaserver.rooms import Participant, RoomManager

from . import keys
from .errors import SignalError, classify, json_error
from .openapi import render
from .ws import websocket

log = logging.getLogger("signaling.http")
STATIC = Path(__file__).parent / "static"
SDK = Path(__file__).resolve().parent.parent / "sdk" / "js"
MAX_SDP = 64 * 1024


def _bearer(request: web.Request) -> str:
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer ") or not auth[7:].strip():
        raise SignalError("unauthorized", "an 'Authorization: Bearer <token>' header is required", 401)
    return auth[7:].strip()


async def _sdp_body(request: web.Request) -> str:
    ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if ctype != "application/sdp":
        raise SignalError("unsupported_media_type", "the body must be an SDP offer (Content-Type: application/sdp)", 415)
    if request.content_length is not None and request.content_length > MAX_SDP:
        raise SignalError("too_large", f"SDP larger than {MAX_SDP} bytes", 413)
    body = b""
    while True:                          # the whole body, however it was chunked, up to the limit
        chunk = await request.content.read(MAX_SDP + 1 - len(body))
        if not chunk:
            break
        body += chunk
        if len(body) > MAX_SDP:
            raise SignalError("too_large", f"SDP larger than {MAX_SDP} bytes", 413)
    try:
        return body.decode()
    except UnicodeDecodeError as e:
        raise SignalError("bad_sdp", "SDP must be UTF-8 text") from e


def _grant(request: web.Request) -> tokens.Grant:
    grant = tokens.verify(request.app[keys.SETTINGS].secret, _bearer(request))
    room = request.match_info["room"]
    if grant.room != room:
        raise SignalError("forbidden", f"the token is for room {grant.room!r}, not {room!r}", 403)
    return grant


async def _sessions(request: web.Request, kind: str) -> web.Response:
    """POST /whip/{room} and /whep/{room}: offer in, 201 with the answer and a resource Location out."""
    try:
        grant = _grant(request)
        if kind == "whip" and not grant.can_publish:
            raise SignalError("forbidden", f"role {grant.role!r} may not publish", 403)
        offer = await _sdp_body(request)
        sdp.parse(offer)                 # a bad offer is refused before anyone is told someone joined
        rooms: RoomManager = request.app[keys.ROOMS]
        room = rooms.get(grant.room)
        p = room.join(grant, kind=kind)
        try:
            answer = room.publish(p, offer)[0] if kind == "whip" else room.view(p, offer)
        except Exception:
            room.leave(p)
            raise
        rid = secrets.token_urlsafe(12)
        request.app[keys.RESOURCES][rid] = (kind, p)
        resources = request.app[keys.RESOURCES]
        p.on_leave.append(lambda _p: resources.pop(rid, None))   # removed, ended or gone: the resource goes
        _watch(request.app, rid, p)
        location = f"/{kind}/{grant.room}/{rid}"
        return web.Response(status=201, text=answer, content_type="application/sdp",
                            headers={"Location": location, "ETag": f'"{rid}"'})
    except Exception as e:
        return json_error(classify(e))


def _watch(app: web.Application, rid: str, p: Participant) -> None:
    """End a WHIP/WHEP session when DTLS closes or fails, or ICE consent expires (the peer vanished)."""
    transport = next(iter(p.publish_transports.values()), None) or p.viewer_transport
    if transport is None:
        return

    def on_change(t: Any) -> None:
        gone = t.dtls_state in ("closed", "failed") or t.ice_state == "disconnected"
        if gone and app[keys.RESOURCES].get(rid, (None, None))[1] is p:
            del app[keys.RESOURCES][rid]
            p.room.leave(p)

    transport.listeners.append(on_change)


async def whip(request: web.Request) -> web.Response:
    return await _sessions(request, "whip")


async def whep(request: web.Request) -> web.Response:
    return await _sessions(request, "whep")


async def delete_resource(request: web.Request) -> web.Response:
    try:
        grant = _grant(request)
        kind = request.path.split("/")[1]
        found_kind, p = request.app[keys.RESOURCES].get(request.match_info["rid"], (None, None))
        if p is None or found_kind != kind or p.room.name != grant.room:
            raise SignalError("not_found", "no such session", 404)
        if p.identity != grant.identity and grant.role != "host":
            raise SignalError("forbidden", "only the session's owner or a host may end it", 403)
        request.app[keys.RESOURCES].pop(request.match_info["rid"], None)
        p.room.leave(p)
        return web.Response(status=200)
    except Exception as e:
        return json_error(classify(e))


async def patch_resource(request: web.Request) -> web.Response:
    # Trickle ICE and ICE restarts are not needed with an ICE-lite server (RFC 9725 section 4.3).
    resp = json_error(SignalError("not_implemented", "trickle ICE and ICE restart are not supported", 405))
    resp.headers["Allow"] = "DELETE, OPTIONS"
    return resp


async def options(request: web.Request) -> web.Response:
    return web.Response(status=204, headers={"Accept-Post": "application/sdp"})


async def issue_token(request: web.Request) -> web.Response:
    """POST /api/v1/tokens {room, role, name, ttl?} with the API key: a signed join token."""
    try:
        key = _bearer(request)
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


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError as e:
        raise SignalError("bad_json", "the body must be a JSON object") from e
    if not isinstance(body, dict):
        raise SignalError("bad_request", "the body must be a JSON object")
    return body


async def create_room(request: web.Request) -> web.Response:
    """POST /api/v1/rooms: a new room with its 9-digit ID, host and presenter keys (R-ROOM-1, -7)."""
    try:
        settings = request.app[keys.SETTINGS]
        if not settings.open_room_creation:
            key = _bearer(request)
            if not hmac.compare_digest(key.encode(), settings.api_key.encode()):
                raise SignalError("unauthorized", "invalid API key", 401)
        body = await _json_body(request)
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


async def _event_of(request: web.Request) -> Any:
    """The event that owns this room ID, if any (events keep their room ID while no room is in memory)."""
    rid = request.match_info["id"]
    if not (rid.isdigit() and len(rid) == 9):
        return None
    async with request.app[keys.DB].read() as s:
        return await events.event_by_room(s, rid)


async def room_info(request: web.Request) -> web.Response:
    try:
        room = request.app[keys.ROOMS].find(request.match_info["id"])
        ev = await _event_of(request) if room is None else None
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
        if await _event_of(request) is not None:
            body = await _json_body(request)
            async with request.app[keys.DB].tx() as s:
                ev = await events.event_by_room(s, request.match_info["id"])
                settings = request.app[keys.SETTINGS]
                result = await events.join(s, ev, body, request.app[keys.ROOMS], settings.secret,
                                           settings.watch_url_ttl)
            return web.json_response(result)
        room = _room(request)
        body = await _json_body(request)
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


async def avatar(request: web.Request) -> web.Response:
    item = request.app[keys.AVATARS].get(request.match_info["key"])
    if item is None:
        return json_error(SignalError("not_found", "no such avatar", 404))
    ctype, data = item
    return web.Response(body=data, content_type=ctype, headers={"Cache-Control": "public, max-age=86400"})


async def room_page(request: web.Request) -> web.StreamResponse:
    ev = await _event_of(request)
    if ev is not None and ev.kind == "on_demand":      # R-AUTO-2: watched on the watch page, not joined live
        raise web.HTTPFound(f"/watch/{ev.room_id}" + (f"?{request.query_string}" if request.query_string else ""))
    page = STATIC / "room.html"
    return web.FileResponse(page if page.exists() else STATIC / "demo.html")


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[keys.REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def health(request: web.Request) -> web.Response:
    media = request.app[keys.MEDIA]
    return web.json_response({"status": "ok", "rtc_port": media.port, "rooms": len(request.app[keys.ROOMS].rooms)})


async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(text=render(), content_type="application/json")


async def index(request: web.Request) -> web.FileResponse:
    page = STATIC / "index.html"
    return web.FileResponse(page if page.exists() else STATIC / "demo.html")


async def dashboard(request: web.Request) -> web.FileResponse:
    """The organisers' web dashboard: sign in, plan an event, invite, see the history (uses /api/v1)."""
    return web.FileResponse(STATIC / "dashboard.html")


async def demo(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "demo.html")


def add_routes(app: web.Application) -> None:
    app[keys.RESOURCES] = {}
    app.router.add_get("/", index)
    app.router.add_get("/demo", demo)
    app.router.add_get("/dashboard", dashboard)
    app.router.add_get("/room/{id}", room_page)
    app.router.add_get("/avatars/{key}", avatar)
    app.router.add_post("/api/v1/rooms", create_room)
    app.router.add_get("/api/v1/rooms/{id}", room_info)
    app.router.add_post("/api/v1/rooms/{id}/join", join_room)
    app.router.add_get("/ws", websocket)
    app.router.add_post("/whip/{room}", whip)
    app.router.add_post("/whep/{room}", whep)
    app.router.add_route("OPTIONS", "/whip/{room}", options)
    app.router.add_route("OPTIONS", "/whep/{room}", options)
    for kind in ("whip", "whep"):
        app.router.add_delete(f"/{kind}/{{room}}/{{rid}}", delete_resource)
        app.router.add_patch(f"/{kind}/{{room}}/{{rid}}", patch_resource)
    app.router.add_post("/api/v1/tokens", issue_token)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", health)
    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_static("/static", STATIC)
    if SDK.is_dir():
        app.router.add_static("/sdk", SDK)
