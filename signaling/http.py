"""The HTTP server's routes: pages, the WebSocket, WHIP/WHEP, and the operator's endpoints (/healthz,
/metrics, /openapi.json). The /api/v1 operations, instant rooms and join tokens among them, add their own
(signaling.api.routes)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from signaling import keys, pages
from signaling.api.openapi import render
from signaling.realtime import whip
from signaling.realtime.ws import websocket


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[keys.REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def health(request: web.Request) -> web.Response:
    media = request.app[keys.MEDIA]
    return web.json_response(
        {"status": "ok", "rtc_port": media.port, "rooms": len(request.app[keys.ROOMS].rooms)}
    )


async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(text=render(), content_type="application/json")


def add_routes(app: web.Application) -> None:
    pages.add_routes(app)
    app.router.add_get("/ws", websocket)
    whip.add_routes(app)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", health)
    app.router.add_get("/openapi.json", openapi_json)
