"""The control plane's /api/v1 routes: importing the operation modules registers them on API."""
from __future__ import annotations

from aiohttp import web

from . import (  # noqa: F401  (their @API operations)
    control,
    events_api,
    library_api,
    ondemand_api,
    recordings_api,
    rsvp,
    streams_api,
    tickets_api,
)
from .api import API


def add_control_routes(app: web.Application) -> None:
    API.install(app)
    library_api.add_upload_routes(app)
    ondemand_api.add_routes(app)
    recordings_api.add_routes(app)
    rsvp.add_routes(app)
