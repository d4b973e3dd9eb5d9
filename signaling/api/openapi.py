"""The HTTP API's OpenAPI 3.1 description, built from the routes it describes.

`python -m signaling.api.openapi` prints it; docs/openapi.json is that output (a test keeps it current), and
the server serves it at GET /openapi.json.
"""

from __future__ import annotations

import json
from typing import Any

from mediaserver import __version__
from signaling.api import routes  # noqa: F401  (importing the routes registers their operations on API)
from signaling.api.framework import API

ERROR = {"$ref": "#/components/schemas/Error"}


def _err(*codes: int) -> dict[str, Any]:
    text = {
        400: "bad request or SDP",
        401: "missing, bad or expired token/key",
        403: "not allowed",
        404: "no such resource",
        405: "not supported",
        409: "conflicts with the current state",
        410: "gone (an expired upload, R-FILE-3; a file missing on the server)",
        413: "body too large",
        415: "not application/sdp",
    }
    return {
        str(c): {"description": text[c], "content": {"application/json": {"schema": ERROR}}} for c in codes
    }


def _header(name: str, required: bool, kind: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "header", "required": required, "schema": {"type": kind}}


# a published recording's public token, and a file's id, in the path
_TOKEN = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
_FILE_ID = {"name": "fileId", "in": "path", "required": True, "schema": {"type": "integer"}}


def _sdp_session(kind: str, summary: str, direction: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "operationId": f"{kind}Create",
            "security": [{"joinToken": []}],
            "parameters": [{"name": "room", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/sdp": {
                        "schema": {
                            "type": "string",
                            "description": f"an SDP offer with {direction} audio/video",
                        }
                    }
                },
            },
            "responses": {
                "201": {
                    "description": "the SDP answer; Location names the session resource",
                    "headers": {"Location": {"schema": {"type": "string"}}},
                    "content": {"application/sdp": {"schema": {"type": "string"}}},
                },
                **_err(400, 401, 403, 413, 415),
            },
        },
        "options": {
            "summary": f"{kind.upper()} preflight",
            "operationId": f"{kind}Options",
            "parameters": [{"name": "room", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"204": {"description": "Accept-Post: application/sdp"}},
        },
    }


def _resource(kind: str) -> dict[str, Any]:
    params = [
        {"name": "room", "in": "path", "required": True, "schema": {"type": "string"}},
        {"name": "rid", "in": "path", "required": True, "schema": {"type": "string"}},
    ]
    return {
        "delete": {
            "summary": f"end a {kind.upper()} session (its owner or a host)",
            "operationId": f"{kind}Delete",
            "security": [{"joinToken": []}],
            "parameters": params,
            "responses": {"200": {"description": "ended"}, **_err(401, 403, 404)},
        },
        "patch": {
            "summary": "trickle ICE / ICE restart: not needed with an ICE-lite server",
            "operationId": f"{kind}Patch",
            "parameters": params,
            "responses": _err(405),
        },
    }


def _tus_paths(prefix: str, suffix: str, create: str, security: list[dict[str, Any]]) -> dict[str, Any]:
    """The tus 1.0 routes of signaling.api.uploads mounted at ``prefix`` (the library's, or a room's)."""
    room = (
        [
            {
                "name": "roomId",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "pattern": "^[1-9][0-9]{8}$"},
            }
        ]
        if "{roomId}" in prefix
        else []
    )
    upload = [*room, {"name": "upload_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    return {
        prefix: {
            "options": {
                "summary": "tus capabilities (Tus-Version, Tus-Extension, Tus-Max-Size); unfinished "
                "uploads expire after upload_expiry seconds without progress (tus "
                "expiration, Upload-Expires; R-FILE-3)",
                "operationId": f"tusOptions{suffix}",
                **({"parameters": room} if room else {}),
                "responses": {"204": {"description": "capabilities"}},
            },
            "post": {
                "summary": create,
                "operationId": f"tusCreate{suffix}",
                "security": security,
                "parameters": [
                    *room,
                    _header("Tus-Resumable", True),
                    _header("Upload-Length", True, "integer"),
                    _header("Upload-Metadata", True),
                ],
                "responses": {
                    "201": {
                        "description": "created; Location names the upload",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                    },
                    **_err(400, 401, 403, 413, 415, *((404, 409, 410) if room else ())),
                },
            },
        },
        prefix + "/{upload_id}": {
            **{
                method: {
                    "summary": summary,
                    "operationId": op_id + suffix,
                    "security": security,
                    "parameters": [*upload, *extra],
                    "responses": {code: {"description": "done"}, **_err(*errors)},
                }
                for method, summary, op_id, code, extra, errors in (
                    (
                        "head",
                        "an upload's offset (resume from there)",
                        "tusHead",
                        "200",
                        [_header("Tus-Resumable", True)],
                        (401, 403, 404, 410) if room else (401, 404, 410),
                    ),
                    (
                        "patch",
                        "append bytes at Upload-Offset (application/offset+octet-stream)",
                        "tusPatch",
                        "204",
                        [_header("Tus-Resumable", True), _header("Upload-Offset", True, "integer")],
                        (400, 401, 403, 404, 409, 410, 413, 415)
                        if room
                        else (400, 401, 404, 409, 410, 413, 415),
                    ),
                    (
                        "delete",
                        "abandon an unfinished upload (tus termination); a finished one is deleted as a "
                        "file (409 here)",
                        "tusDelete",
                        "204",
                        [_header("Tus-Resumable", True)],
                        (401, 403, 404, 409, 410) if room else (401, 404, 409, 410),
                    ),
                )
            },
            "options": {
                "summary": "tus capabilities",
                "operationId": f"tusOptionsUpload{suffix}",
                "parameters": upload,
                "responses": {"204": {"description": "capabilities"}},
            },
        },
    }


def spec() -> dict[str, Any]:
    """The hand-described media routes above plus the control plane's operations, generated from their
    declarations (signaling/api/framework.py, pydantic models)."""
    doc = _media_spec()
    paths, schemas = API.openapi()
    clash = set(paths) & set(doc["paths"]) or set(schemas) & set(doc["components"]["schemas"])
    assert not clash, f"OpenAPI names defined twice: {clash}"
    doc["paths"].update(paths)
    doc["components"]["schemas"].update(schemas)
    return doc


def _media_spec() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mediaserver HTTP API",
            "version": __version__,
            "description": "WHIP/WHEP sessions, join tokens, health and metrics, and the control plane "
            "(accounts, events, invitations, address book, files, webhooks) under /api/v1. "
            "The WebSocket protocol at /ws is described in docs/signaling.md; docs/api.md "
            "shows a client.",
        },
        "paths": {
            "/whip/{room}": _sdp_session("whip", "publish into a room (WHIP, RFC 9725)", "sendonly"),
            "/whip/{room}/{rid}": _resource("whip"),
            "/whep/{room}": _sdp_session("whep", "watch a room's published tracks (WHEP)", "recvonly"),
            "/whep/{room}/{rid}": _resource("whep"),
            "/avatars/{key}": {
                "get": {
                    "summary": "an avatar picture (set over the WebSocket with setAvatar)",
                    "operationId": "avatar",
                    "parameters": [
                        {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {"200": {"description": "the image (PNG, JPEG or WebP)"}, **_err(404)},
                }
            },
            **_tus_paths(
                "/api/v1/uploads",
                "",
                "start a resumable upload into the file library (tus 1.0 creation; R-FILE-1..4: quota with "
                "the overshoot rule, 500 MB per file, the accepted extensions); an 'into_room' metadata key "
                "is refused: room uploads go to /api/v1/rooms/{roomId}/uploads",
                [{"accountKey": []}, {"session": []}],
            ),
            **_tus_paths(
                "/api/v1/rooms/{roomId}/uploads",
                "Room",
                "start a resumable upload straight into an event's room (tus 1.0 creation; R-FILE-2: at "
                "most 50 MB whatever the metadata says; R-FILE-1, -3, -4 as in the library): the room's "
                "host or a presenter with their join token, or the event's organiser. The file is listed "
                "at GET /api/v1/rooms/{roomId}/files and counts against the account's storage",
                [{"joinToken": []}, {"accountKey": []}, {"session": []}],
            ),
            "/play/{token}": {
                "get": {
                    "summary": "an on-demand event's video behind a short-lived signed watch URL (from the "
                    "public "
                    "join); single byte ranges (206, 416) work (R-AUTO-2)",
                    "operationId": "play",
                    "parameters": [
                        {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}},
                        _header("Range", False),
                    ],
                    "responses": {
                        "200": {"description": "the whole video"},
                        "206": {"description": "the requested byte range (Content-Range)"},
                        "416": {"description": "the range is outside the video"},
                        **_err(403),
                        "410": {
                            "description": "the event no longer offers this video",
                            "content": {"application/json": {"schema": ERROR}},
                        },
                    },
                }
            },
            "/rate": {
                "get": {
                    "summary": "the thank-you e-mail's rating link (R-STAT-1, R-STAT-3): a page whose form "
                    "rates the event with the rating token after '#' (POST /api/v1/public/ratings)",
                    "operationId": "ratePage",
                    "responses": {"200": {"description": "the page (HTML)"}},
                }
            },
            "/r/{token}": {
                "get": {
                    "summary": "a published recording's public watch link (R-REC-4): a browser (Accept "
                    "naming text/html) gets the watch page, which plays the video beside what was on the "
                    "stage (issue 17); anything else gets the WebM, single byte ranges working",
                    "operationId": "publicRecording",
                    "parameters": [_TOKEN, _header("Accept", False), _header("Range", False)],
                    "responses": {
                        "200": {"description": "the watch page (HTML), or the whole WebM"},
                        "206": {"description": "the requested byte range (Content-Range)"},
                        "404": {
                            "description": "unpublished or deleted (the page says so; JSON for a player)"
                        },
                    },
                }
            },
            "/r/{token}/video": {
                "get": {
                    "summary": "a published recording's WebM, single byte ranges working (R-REC-4)",
                    "operationId": "publicRecordingVideo",
                    "parameters": [_TOKEN, _header("Range", False)],
                    "responses": {
                        "200": {"description": "the whole WebM"},
                        "206": {"description": "the requested byte range (Content-Range)"},
                        **_err(404),
                        **_err(410),
                    },
                }
            },
            "/r/{token}/track": {
                "get": {
                    "summary": "what was on the stage during a published recording, for its watch page "
                    "(issue 17): name, language, startedAt, duration, video (its URL), youtubeApi, stage "
                    "[{t, stage}] (each change, t in seconds from the start; the files' URLs are this "
                    "link's) and board [{t, update}] (the whiteboard's Yjs updates, at most one a second, "
                    "applied in order)",
                    "operationId": "publicRecordingTrack",
                    "parameters": [_TOKEN],
                    "responses": {"200": {"description": "the track (JSON)"}, **_err(404)},
                }
            },
            "/r/{token}/files/{fileId}": {
                "get": {
                    "summary": "a library video that the published recording's stage played (nothing else of "
                    "the library); single byte ranges work",
                    "operationId": "publicRecordingFile",
                    "parameters": [_TOKEN, _FILE_ID, _header("Range", False)],
                    "responses": {
                        "200": {"description": "the video"},
                        "206": {"description": "the requested byte range"},
                        **_err(404),
                        **_err(410),
                    },
                }
            },
            "/r/{token}/files/{fileId}/pdf": {
                "get": {
                    "summary": "the PDF of a document that the published recording's stage showed",
                    "operationId": "publicRecordingDocument",
                    "parameters": [_TOKEN, _FILE_ID, _header("Range", False)],
                    "responses": {
                        "200": {"description": "the PDF"},
                        "206": {"description": "the requested byte range"},
                        **_err(404),
                        **_err(409),
                        **_err(410),
                    },
                }
            },
            "/i/{token}/decline": {
                "get": {
                    "summary": "the invitation e-mail's Decline button: a page that asks (a GET changes "
                    "nothing) "
                    "(R-ROOM-11)",
                    "operationId": "declinePage",
                    "parameters": [
                        {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": {"description": "an HTML page with the Decline button"},
                        "404": {"description": "no such invitation (HTML)"},
                    },
                },
                "post": {
                    "summary": "record the invitee's decline (once; webhook invitation.declined)",
                    "operationId": "decline",
                    "parameters": [
                        {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": {"description": "an HTML page saying the decline is recorded"},
                        "404": {"description": "no such invitation (HTML)"},
                    },
                },
            },
            "/i/{token}/calendar.ics": {
                "get": {
                    "summary": "the invitation e-mail's download button: the event as an iCalendar file (RFC "
                    "5545) "
                    "with the invitee's join link (R-ROOM-11)",
                    "operationId": "invitationCalendar",
                    "parameters": [
                        {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": {"description": "text/calendar"},
                        **_err(404),
                        "409": {
                            "description": "the event has no date",
                            "content": {"application/json": {"schema": ERROR}},
                        },
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "liveness",
                    "operationId": "health",
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"status": {"type": "string", "const": "ok"}},
                                    }
                                }
                            },
                        }
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics (docs/operations.md)",
                    "operationId": "metrics",
                    "description": "with the metrics_token setting: 'Authorization: Bearer <metrics_token>'; "
                    "without: clients on the server's own machine only (not relayed by a reverse proxy)",
                    "responses": {
                        "200": {"description": "text exposition format"},
                        "401": {"description": "metrics_token is set and was not given"},
                        "403": {"description": "no metrics_token set, and the client is not on this machine"},
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "this document",
                    "operationId": "openapi",
                    "responses": {"200": {"description": "OpenAPI 3.1"}},
                }
            },
        },
        "components": {
            "securitySchemes": {
                "joinToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (HS256) join token"},
                "apiKey": {"type": "http", "scheme": "bearer", "description": "the server's api_key"},
                "accountKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a user's API key (msk_..., POST /api/v1/api-keys) or session token",
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "ms_session",
                    "description": "the web UI's session (POST /api/v1/session)",
                },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                        }
                    },
                }
            },
        },
    }


def render() -> str:
    return json.dumps(spec(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
