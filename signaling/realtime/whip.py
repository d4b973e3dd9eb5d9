"""WHIP ingest (RFC 9725) and WHEP egress: an SDP offer in, a session resource out, ended by DELETE or when
the peer's DTLS closes or its ICE consent expires."""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from mediaserver.rtc import devices, sdp, tokens
from mediaserver.rtc.room_rules import check_offer_sections
from mediaserver.rtc.rooms import Participant, RoomManager
from signaling import keys
from signaling.errors import SignalError, classify, json_error
from signaling.parse import bearer

MAX_SDP = 64 * 1024


async def _sdp_body(request: web.Request) -> str:
    ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if ctype != "application/sdp":
        raise SignalError(
            "unsupported_media_type", "the body must be an SDP offer (Content-Type: application/sdp)", 415
        )
    if request.content_length is not None and request.content_length > MAX_SDP:
        raise SignalError("too_large", f"SDP larger than {MAX_SDP} bytes", 413)
    body = b""
    while True:  # the whole body, however it was chunked, up to the limit
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
    return tokens.verify(request.app[keys.SETTINGS].secret, bearer(request)).for_room(
        request.match_info["room"]
    )


async def _sessions(request: web.Request, kind: str) -> web.Response:
    """POST /whip/{room} and /whep/{room}: offer in, 201 with the answer and a resource Location out."""
    try:
        grant = _grant(request)
        if kind == "whip":
            grant.publisher()
        offer = await _sdp_body(request)
        parsed = sdp.parse(offer)  # a bad offer is refused before anyone is told someone joined
        rooms: RoomManager = request.app[keys.ROOMS]
        if kind == "whip":  # issue 14 finding 8: a flood of m-sections is refused before anyone joins
            check_offer_sections(len(parsed.media))
        room = await rooms.enter(grant)
        try:
            p = room.join(grant, kind=kind, device=devices.from_headers(request.headers))
        except Exception:
            rooms.release(room)
            raise
        try:
            if kind == "whep":  # issue 19: on an edge, the owner counts the viewer in the room's seats
                await rooms.joined(room, p)
            answer = room.publish(p, offer)[0] if kind == "whip" else room.view(p, offer)
        except Exception:
            room.leave(p)
            raise
        rid = secrets.token_urlsafe(12)
        request.app[keys.RESOURCES][rid] = (kind, p)
        resources = request.app[keys.RESOURCES]
        p.on_leave.append(lambda _p: resources.pop(rid, None))  # removed, ended or gone: the resource goes
        _watch(request.app, rid, p)
        location = f"/{kind}/{grant.room}/{rid}"
        return web.Response(
            status=201,
            text=answer,
            content_type="application/sdp",
            headers={"Location": location, "ETag": f'"{rid}"'},
        )
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
        grant.may_end(p.identity)
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


def add_routes(app: web.Application) -> None:
    app[keys.RESOURCES] = {}
    app.router.add_post("/whip/{room}", whip)
    app.router.add_post("/whep/{room}", whep)
    app.router.add_route("OPTIONS", "/whip/{room}", options)
    app.router.add_route("OPTIONS", "/whep/{room}", options)
    for kind in ("whip", "whep"):
        app.router.add_delete(f"/{kind}/{{room}}/{{rid}}", delete_resource)
        app.router.add_patch(f"/{kind}/{{room}}/{{rid}}", patch_resource)
