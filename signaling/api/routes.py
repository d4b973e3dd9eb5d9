"""The control plane's /api/v1 routes: importing the operation modules registers them on API."""

from __future__ import annotations

from aiohttp import web

from signaling.api import (  # noqa: F401  (their @API operations)
    accounts,
    board,
    chat,
    cluster,
    documents,
    events,
    library,
    ondemand,
    polls,
    recordings,
    rooms,
    rsvp,
    stage,
    statistics,
    streams,
    tickets,
)
from signaling.api.framework import API


def add_control_routes(app: web.Application) -> None:
    API.install(app)
    library.add_upload_routes(app)
    ondemand.add_routes(app)
    recordings.add_routes(app)
    rsvp.add_routes(app)
