"""The HTTP server's routes: pages, the WebSocket, WHIP/WHEP, and the operator's endpoints (/healthz,
/metrics, /openapi.json). The /api/v1 operations, instant rooms and join tokens among them, add their own
(signaling.api.routes)."""

from __future__ import annotations

import hmac
import ipaddress

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from signaling import keys, pages
from signaling.api.openapi import render
from signaling.errors import SignalError, json_error
from signaling.realtime import fanout, whip
from signaling.realtime.ws import websocket

# a reverse proxy's headers: the peer is not the client (any one of them marks a relayed request, issue 15)
FORWARDED = ("Forwarded", "X-Forwarded-For", "X-Real-IP", "X-Forwarded-Proto", "X-Forwarded-Host")


def _loopback(request: web.Request) -> bool:
    """The client is on this machine: a loopback peer, and not a reverse proxy relaying someone else (a
    request from a proxy on this machine carries its forwarding headers; from a trusted proxy the remote is
    already the client it names: hardening.behind, issue 15)."""
    try:
        ip = ipaddress.ip_address((request.remote or "").split("%")[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback and not any(h in request.headers for h in FORWARDED)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus metrics. Issue 14 finding 18: with ``metrics_token`` set, only to
    'Authorization: Bearer <metrics_token>' (401 otherwise); without, only to clients on this machine (403
    otherwise, and to anything relayed by a reverse proxy)."""
    token = request.app[keys.SETTINGS].metrics_token
    if token:
        auth = request.headers.get("Authorization", "")
        given = auth[7:].strip() if auth.startswith("Bearer ") else ""
        if not given or not hmac.compare_digest(given.encode(), token.encode()):
            resp = json_error(
                SignalError("unauthorized", "/metrics needs 'Authorization: Bearer <metrics_token>'", 401)
            )
            resp.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return resp
    elif not _loopback(request):
        return json_error(
            SignalError(
                "forbidden", "/metrics answers this machine only; set metrics_token to scrape it", 403
            )
        )
    body = generate_latest(request.app[keys.REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def health(request: web.Request) -> web.Response:
    """Liveness, for anyone: it says nothing else (issue 14 finding 18: no ports, no counts)."""
    return web.json_response({"status": "ok"})


async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(text=render(), content_type="application/json")


def add_routes(app: web.Application) -> None:
    pages.add_routes(app)
    fanout.install(app, app[keys.FANOUT])
    app.router.add_get("/ws", websocket)
    whip.add_routes(app)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", health)
    app.router.add_get("/openapi.json", openapi_json)
