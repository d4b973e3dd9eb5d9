"""Reading the common parts of an HTTP request: the Bearer credential and a JSON object body."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from signaling.errors import SignalError


def bearer(request: web.Request) -> str:
    """The credential of an ``Authorization: Bearer`` header, or a 401."""
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer ") or not auth[7:].strip():
        raise SignalError("unauthorized", "an 'Authorization: Bearer <token>' header is required", 401)
    return auth[7:].strip()


async def json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object (an empty body is ``{}``), or a 400."""
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError as e:
        raise SignalError("bad_json", "the body must be a JSON object") from e
    if not isinstance(body, dict):
        raise SignalError("bad_request", "the body must be a JSON object")
    return body
