"""Client-facing errors with a stable code and a precise message."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from mediaserver.errors import ControlError
from mediaserver.rtc.engine import MediaError
from mediaserver.rtc.rooms import RoomError
from mediaserver.rtc.sdp import SdpError
from mediaserver.rtc.tokens import TokenError


class SignalError(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        status: int = 400,
        headers: dict[str, str] | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status
        self.headers = headers or {}
        self.detail = detail or {}  # more fields of the error object, beside code and message


def classify(e: Exception) -> SignalError:
    """Turn a domain error into a SignalError (code, message, HTTP status)."""
    if isinstance(e, SignalError):
        return e
    if isinstance(e, ControlError):
        return SignalError(e.code, e.message, e.status, e.headers)
    if isinstance(e, SdpError):
        return SignalError("bad_sdp", str(e), 400)
    if isinstance(e, TokenError):
        return SignalError("unauthorized", str(e), 401)
    if isinstance(e, RoomError):
        status = {
            "forbidden": 403,
            "locked": 403,
            "removed": 403,
            "not_on_mobile": 403,
            "camera_limit": 409,
            "not_found": 404,
            "conflict": 409,
            "not_admitted": 409,
            "too_many_for_discussion": 409,
            "ended": 410,
            # issue 14 findings 7, 8, 17
            "room_full": 409,
            "track_limit": 409,
            "event_room": 409,
            "rate_limited": 429,
            "too_many_rooms": 503,
            # issue 19: a presenter on an edge node (publish on the owner), a cluster that cannot place a room
            "wrong_node": 409,
            "cluster_unavailable": 503,
            "draining": 503,
            "node_full": 503,
        }.get(e.code, 400)
        return SignalError(e.code, e.message, status, detail=e.detail)
    if isinstance(e, MediaError):
        return SignalError("media_refused", f"the media server refused the session: {e}", 400)
    raise e


def json_error(e: SignalError) -> web.Response:
    return web.json_response(
        {"error": {**e.detail, "code": e.code, "message": e.message}}, status=e.status, headers=e.headers
    )


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 400: "bad_request"}


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own refusals (unknown route, wrong method, body too large) in our JSON error shape."""
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400 or e.content_type == "application/json":
            raise
        code = _HTTP_CODES.get(e.status, "http_error")
        message = {
            404: f"no such path: {request.path}",
            405: f"{request.method} is not allowed on {request.path}",
            413: "the request body is too large",
        }.get(e.status, e.reason)
        resp = json_error(SignalError(code, message, e.status))
        for header in ("Allow",):
            if header in e.headers:
                resp.headers[header] = e.headers[header]
        return resp
