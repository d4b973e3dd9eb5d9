"""A small declarative layer for the control plane's REST API (/api/v1) on aiohttp.

Each operation is declared once with its method, path, pydantic body and response models, auth, pagination and
idempotency; the same declaration validates requests, serializes responses and produces the operation's part
of the OpenAPI document (signaling/api/openapi.py merges it in). Every request runs in one database
transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar
from urllib.parse import quote

from aiohttp import web
from aiohttp.streams import StreamReader
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from mediaserver.accounts import identity
from mediaserver.accounts.identity import Principal
from mediaserver.accounts.passwords import hash_password
from mediaserver.errors import ControlError
from mediaserver.ratelimit import Caller
from mediaserver.store import idempotency
from signaling import keys
from signaling.errors import SignalError, classify, json_error
from signaling.parse import bearer

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from mediaserver.store.db import Database

COOKIE = "ms_session"
MAX_ID = 2**31 - 1
PAGE_MAX = 100
MAX_RAW_BODY = (
    21 * 1024 * 1024
)  # a non-JSON body (a multipart contact file) buffered to check its Idempotency-Key


def _clean(value: str) -> str:
    """No NUL and no lone surrogates: PostgreSQL's text and UTF-8 take neither."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


Text = Annotated[str, AfterValidator(_clean)]


class Model(BaseModel):
    """Request and response bodies: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", from_attributes=True
    )


T = TypeVar("T")


class Out(Model):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)


class Page(Out, Generic[T]):
    """One page of a listing (``?offset=&limit=``): its items and where it stands in the whole."""

    items: list[T]
    total: int
    offset: int
    limit: int


@dataclass
class Ctx:
    request: web.Request
    s: AsyncSession
    p: Principal | None
    body: Any = None
    cookies: list[tuple[str, str | None]] = field(default_factory=list)  # (name, value or None: delete)
    after_commit: list[Callable[[], None]] = field(
        default_factory=list
    )  # e.g. remove files once rows are gone
    password_hash: str | None = None  # the operation's new password, hashed before the transaction

    @property
    def app(self) -> web.Application:
        return self.request.app

    @property
    def settings(self) -> Any:
        return self.request.app[keys.SETTINGS]

    @property
    def db(self) -> Database:
        """For a service that must not wait inside the request's transaction (a password check reads in a
        transaction of its own, hashes outside any, and only then writes in ``s``: issue 14 finding 3).
        ``s`` begins its transaction at its first statement."""
        return self.request.app[keys.DB]

    @property
    def caller(self) -> Caller:
        """The client's address and the server's budgets (mediaserver.ratelimit)."""
        return caller_of(self.request)

    @property
    def user(self) -> Principal:
        assert self.p is not None
        return self.p

    def id(self, name: str = "id") -> int:
        raw = self.request.match_info[name]
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_ID:  # "³" is a digit
            raise ControlError("not_found", f"no such resource: {name} must be a positive integer", 404)
        return int(raw)

    def page(self) -> tuple[int, int]:
        q = self.request.query
        try:
            limit = int(q.get("limit", "20"))
            offset = int(q.get("offset", "0"))
        except ValueError:
            raise ControlError("bad_request", "'limit' and 'offset' must be integers") from None
        if not 1 <= limit <= PAGE_MAX or not 0 <= offset <= 1_000_000:
            raise ControlError("bad_request", f"'limit' must be 1..{PAGE_MAX} and 'offset' 0..1000000")
        return offset, limit


def page(items: list[Any], total: int, offset: int, limit: int) -> dict[str, Any]:
    return {"items": items, "total": total, "offset": offset, "limit": limit}


@dataclass
class Op:
    method: str
    path: str
    fn: Callable[[Ctx], Awaitable[Any]]
    summary: str
    tag: str
    body: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    auth: bool
    errors: tuple[int, ...]
    idempotent: bool  # takes an Idempotency-Key (R-API-1): see Api.__call__
    paginated: bool
    description: str
    request_body: dict[str, Any] | None = None  # a non-JSON body the handler reads itself (OpenAPI as given)
    query: tuple[dict[str, Any], ...] = ()  # extra query parameters (OpenAPI parameter objects)
    api_key: bool | Callable[[Any], bool] = (
        False  # the server's API key: always, or when this says so (settings)
    )
    optional_body: bool = False  # an empty body is {}
    sparse: bool = False  # the response has only the fields the handler set
    any_content_type: bool = False  # a signed server-to-server body: any Content-Type (see Api.__call__)
    shown_once: str = ""  # the response field with a secret shown once: not replayed for an Idempotency-Key
    password_field: str | None = None  # a new password in the body: hashed before the transaction
    produces: tuple[str, ...] = ()  # a document's media types instead of JSON (an export)


ERROR_TEXT = {
    400: "invalid request",
    401: "not signed in, or a bad API key or session",
    402: "needs a (paid) plan",
    413: "too large",
    415: "unsupported file type, or a body that is not of the operation's Content-Type",
    403: "not allowed for this user (R-ACC-4) or this access type",
    404: "no such resource",
    409: "conflicts with the current state",
    410: "over",
    422: "Idempotency-Key reused for another request",
    429: "too many for now (attempts from this address, at this target, or mails this hour): retry after the "
    "seconds the Retry-After header (or the message) says",
    503: "the server is at a limit (max_rooms, password checks queued): retry later (Retry-After if given)",
}


class Api:
    def __init__(self) -> None:
        self.ops: list[Op] = []

    def __call__(
        self,
        method: str,
        path: str,
        summary: str,
        tag: str,
        *,
        body: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        auth: bool = True,
        errors: tuple[int, ...] = (),
        idempotent: bool | None = None,
        paginated: bool = False,
        description: str = "",
        request_body: dict[str, Any] | None = None,
        query: tuple[dict[str, Any], ...] = (),
        api_key: bool | Callable[[Any], bool] = False,
        optional_body: bool = False,
        sparse: bool = False,
        any_content_type: bool = False,
        shown_once: str = "",
        password_field: str | None = None,
        produces: tuple[str, ...] = (),
    ) -> Callable[[Callable[[Ctx], Awaitable[Any]]], Callable[[Ctx], Awaitable[Any]]]:
        """Declare an operation. Idempotency-Key (R-API-1, issue 7 item 7) is taken by default by every POST
        of a signed-in user and by every public POST that creates (201: a ticket order, a registration), so
        that a retried creating request never creates twice; ``idempotent=False`` opts out (those that set the
        session cookie, which a replay cannot give again).

        ``api_key`` (with ``auth=False``): the operation takes the server's own API key (settings.api_key)
        as 'Authorization: Bearer <key>', always (True) or when ``api_key(settings)`` says so, checked
        before the body is read. ``optional_body``: an empty body is taken as ``{}``. ``sparse``: the
        response carries only the fields the handler gave (a model's unset fields are left out, not null).
        ``any_content_type``: the body is taken whatever its Content-Type (a payment provider's signed
        callback: its HMAC, not a browser's cookie, authenticates it; providers label bodies as they like).
        ``shown_once``: the response field that holds a secret the server keeps no clear copy of (a new API
        key, a webhook's signing secret): the answer kept for its Idempotency-Key is a 409
        ``secret_not_replayed`` that names what was made, never the secret (issue 14 finding 11).
        ``password_field``: the body's field (its Python name) that may carry a new password; once the caller
        is authenticated (in a read-only session) it is hashed before the request's transaction begins, into
        ``ctx.password_hash``: a writing transaction never waits for a hash (issue 14 finding 3).
        ``produces``: the media types of a document the operation answers with (an export: its handler
        returns an object with ``name``, ``content_type`` and ``body``), for the OpenAPI document."""
        if idempotent is None:
            idempotent = method == "POST" and (auth or status == 201)

        def deco(fn: Callable[[Ctx], Awaitable[Any]]) -> Callable[[Ctx], Awaitable[Any]]:
            self.ops.append(
                Op(
                    method,
                    path,
                    fn,
                    summary,
                    tag,
                    body,
                    response,
                    status,
                    auth,
                    errors,
                    idempotent,
                    paginated,
                    description or (fn.__doc__ or "").strip(),
                    request_body,
                    query,
                    api_key,
                    optional_body,
                    sparse,
                    any_content_type,
                    shown_once,
                    password_field,
                    produces,
                )
            )
            return fn

        return deco

    def install(self, app: web.Application) -> None:
        for op in self.ops:
            app.router.add_route(op.method, op.path, _handler(op))

    # ---- OpenAPI

    def openapi(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(paths, component schemas) of the declared operations."""
        models: list[tuple[type[BaseModel], JsonSchemaMode]] = []
        for op in self.ops:
            if op.body is not None:
                models.append((op.body, "validation"))
            if op.response is not None:
                models.append((op.response, "serialization"))
        refs, defs = models_json_schema(
            list(dict.fromkeys(models)), ref_template="#/components/schemas/{model}", by_alias=True
        )
        paths: dict[str, Any] = {}
        for op in self.ops:
            paths.setdefault(op.path, {})[op.method.lower()] = self._operation(op, refs)
        return paths, defs.get("$defs", {})

    def _operation(self, op: Op, refs: dict[Any, Any]) -> dict[str, Any]:
        error = {"$ref": "#/components/schemas/Error"}
        params: list[dict[str, Any]] = []
        for name in re.findall(r"{(\w+)}", op.path):
            schema: dict[str, Any] = (
                {"type": "string", "pattern": "^[1-9][0-9]{8}$"}
                if name == "roomId"
                else {"type": "integer", "minimum": 1, "maximum": MAX_ID}
            )
            params.append({"name": name, "in": "path", "required": True, "schema": schema})
        if op.paginated:
            params += [
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": PAGE_MAX, "default": 20},
                },
                {
                    "name": "offset",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 0, "maximum": 1_000_000, "default": 0},
                },
            ]
        params += list(op.query)
        if op.idempotent:
            params.append(
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": "repeat a creating request safely: the same key and body get the first "
                    "response again (header Idempotent-Replayed: true); the same key with "
                    "another body is refused (422). Keys are kept 24 hours, then a key "
                    "is new again"
                    + (
                        ""
                        if op.auth
                        else "; on this public operation a key "
                        "is shared by everyone calling it: use a random one (a UUID)"
                    ),
                    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                }
            )
        out: dict[str, Any] = {"summary": op.summary, "operationId": op.fn.__name__, "tags": [op.tag]}
        if op.description:
            out["description"] = op.description
        if params:
            out["parameters"] = params
        if op.auth:
            out["security"] = [{"accountKey": []}, {"session": []}]
        elif op.api_key:
            out["security"] = [{"apiKey": []}] if op.api_key is True else [{}, {"apiKey": []}]
        if op.body is not None:
            out["requestBody"] = {
                "required": not op.optional_body,
                "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
            }
        elif op.request_body is not None:
            out["requestBody"] = op.request_body
        ok: dict[str, Any] = {"description": "done"}
        if op.response is not None:
            ok["content"] = {"application/json": {"schema": refs[(op.response, "serialization")]}}
        elif op.produces:
            ok["content"] = {t: {"schema": {"type": "string", "format": "binary"}} for t in op.produces}
        codes = set(op.errors) | ({400} if op.body is not None or op.paginated or op.request_body else set())
        codes |= {401} if op.auth or op.api_key else set()
        codes |= {429} if op.api_key else set()  # wrong keys count against the address's budget
        codes |= {404} if "{" in op.path else set()
        codes |= {422} if op.idempotent else set()
        codes |= {415} if (op.body is not None or op.request_body) and not op.any_content_type else set()
        out["responses"] = {
            str(op.status): ok,
            **{
                str(c): {"description": ERROR_TEXT[c], "content": {"application/json": {"schema": error}}}
                for c in sorted(codes)
            },
        }
        return out


def caller_of(request: web.Request) -> Caller:
    """Who is asking, for the budgets: the peer address, or the client a trusted proxy forwards for (the
    request's remote, as hardening.behind set it)."""
    return Caller(request.app[keys.LIMITS], request.remote or "unknown")


def _token_of(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer ") and auth[7:].strip():
        return auth[7:].strip()
    return request.cookies.get(COOKIE) or None


def _validation_message(e: ValidationError) -> str:
    err = e.errors()[0]
    where = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
    return f"{where}: {err.get('msg')}" if where else str(err.get("msg"))


def _parse_body(raw: bytes, model: type[BaseModel], optional: bool = False) -> Any:
    """The JSON body validated by the operation's model; done after authentication, so that who may not
    call an operation learns nothing from its validation (401 before 400). An empty body is not JSON,
    unless the operation's body is ``optional`` (then it is ``{}``)."""
    if not raw and optional:
        raw = b"{}"
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise SignalError("bad_json", "the body must be a JSON object") from e
    if not isinstance(data, dict):
        raise SignalError("bad_request", "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise SignalError("bad_request", _validation_message(e)) from None


def _dump(value: Any, model: type[BaseModel] | None, sparse: bool = False) -> Any:
    if model is not None and value is not None and not isinstance(value, BaseModel):
        value = model.model_validate(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=sparse)
    return value


async def _server_key(request: web.Request, op: Op) -> None:
    """The server's API key, for the operations that take it (see Api.__call__), or a 401. A wrong key counts
    against the address's sign-in budget (issue 14 finding 3): 429 once it is used up."""
    settings = request.app[keys.SETTINGS]
    if op.api_key is True or (callable(op.api_key) and op.api_key(settings)):
        caller = caller_of(request)
        async with caller.limits.failures("login", caller.address, (401,)):
            key = bearer(request)
            if not hmac.compare_digest(key.encode(), settings.api_key.encode()):
                raise ControlError("unauthorized", "invalid API key", 401)


def _request_hash(request: web.Request, raw: bytes) -> str:
    """What makes two requests "the same": method, path with query, and the body - a JSON body by its value
    (key order and spacing do not matter), a multipart body without its random boundary (a client's retry
    of a file upload has a new one)."""
    body = raw
    if request.content_type == "application/json":
        try:
            body = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
        except (ValueError, UnicodeDecodeError):
            pass
    elif request.content_type.startswith("multipart/"):
        boundary = (
            request.headers.get("Content-Type", "").partition("boundary=")[2].split(";")[0].strip().strip('"')
        )
        if boundary:
            body = raw.replace(b"--" + boundary.encode("latin-1"), b"--BOUNDARY")
    head = f"{request.method} {request.rel_url.raw_path_qs}\n{request.content_type}\n".encode()
    return hashlib.sha256(head + body).hexdigest()


async def _raw_body(request: web.Request, op: Op) -> bytes:
    """The body bytes of a request that carries an Idempotency-Key. A JSON body was read already; another body
    (a multipart file) is read here up to MAX_RAW_BODY and handed back to the operation as a fresh stream."""
    if op.body is not None or op.request_body is None:
        return await request.read()
    data = bytearray()
    while chunk := await request.content.readany():
        data += chunk
        if len(data) > MAX_RAW_BODY:
            raise ControlError(
                "too_large", f"the request body is larger than {MAX_RAW_BODY // 2**20} MB", 413
            )
    raw = bytes(data)
    stream = StreamReader(request.protocol, max(len(raw), 2**16), loop=asyncio.get_running_loop())
    stream.feed_data(raw)
    stream.feed_eof()
    request._payload = stream  # aiohttp reads request.content / multipart() from here
    return raw


def _idempotency_owner(request: web.Request, ctx: Ctx, op: Op, key: str) -> tuple[int | None, str]:
    """(user_id, stored key): a signed-in user's keys are theirs; a public operation's key belongs to its
    path."""
    if op.auth:
        return ctx.user.user.id, key
    return None, "public:" + hashlib.sha256(f"{request.path}\n{key}".encode()).hexdigest()


def _handler(op: Op) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            return await _run(op, request)
        except ControlError as e:
            return json_error(classify(e))
        except Exception as e:  # SignalError and the room errors keep their codes
            return json_error(classify(e))

    handle.__name__ = op.fn.__name__
    return handle


def _content_type(request: web.Request, op: Op) -> None:
    """Issue 14 finding 15: a body must be of the operation's type: JSON (``Content-Type: application/json``),
    or one its ``request_body`` names (a multipart contact file). A form or ``text/plain`` body, which another
    site's page can send without asking the browser first, gets a 415."""
    if not request.body_exists or op.any_content_type:
        return
    allowed = sorted(op.request_body.get("content", {})) if op.request_body else ["application/json"]
    if request.content_type not in allowed:
        raise SignalError(
            "unsupported_media_type",
            f"the body must be sent as Content-Type: {' or '.join(allowed)}, not {request.content_type}",
            415,
        )


async def _run(op: Op, request: web.Request) -> web.StreamResponse:
    await _server_key(request, op)
    if not op.auth:  # an operation for someone signed in checks who it is first (401 before 415)
        _content_type(request, op)
    raw_json = await request.read() if op.body is not None else b""  # read before the transaction
    idem = request.headers.get("Idempotency-Key") if op.idempotent else None
    if idem is not None and not 1 <= len(idem) <= 255:
        raise SignalError("bad_request", "Idempotency-Key must be 1 to 255 characters")
    db = request.app[keys.DB]
    if idem is not None and op.auth and op.body is None and op.request_body is not None:
        # a large non-JSON body is buffered only for someone signed in
        async with db.read() as s:
            token = _token_of(request)
            if not token or await identity.resolve(s, token) is None:
                raise ControlError(
                    "unauthorized", "sign in (session cookie) or send 'Authorization: Bearer <API key>'", 401
                )
    raw = await _raw_body(request, op) if idem is not None else b""
    password_hash = await _hash_first(op, request, raw_json) if op.password_field else None
    user_id: int | None = None
    stored_key = ""

    async def transaction(s: AsyncSession) -> tuple[Ctx, web.StreamResponse | str | None]:
        """The request's one transaction: (its context, a ready response or the JSON text)."""
        nonlocal user_id, stored_key
        ctx = Ctx(request, s, None, password_hash=password_hash)
        if op.auth:
            token = _token_of(request)
            ctx.p = await identity.resolve(s, token) if token else None
            if ctx.p is None:
                raise ControlError(
                    "unauthorized",
                    "sign in (session cookie) or send 'Authorization: Bearer <API key>'",
                    401,
                )
            _content_type(request, op)
        if op.body is not None:
            ctx.body = _parse_body(raw_json, op.body, op.optional_body)
        claim = None
        if idem is not None:
            user_id, stored_key = _idempotency_owner(request, ctx, op, idem)
            replay = await _replay(s, user_id, stored_key, _request_hash(request, raw))
            if replay is not None:
                return ctx, replay
            claim = await idempotency.claim(s, user_id, stored_key, _request_hash(request, raw))
        result = await op.fn(ctx)
        if hasattr(result, "body") and hasattr(result, "content_type") and hasattr(result, "name"):
            # a document made for this request (an export): its bytes, as an attachment
            return ctx, web.Response(
                body=result.body,
                headers={
                    "Content-Type": result.content_type,
                    "Content-Disposition": f"attachment; filename*=UTF-8''{quote(result.name)}",
                    "Cache-Control": "private, no-store",  # an export holds people's answers and words
                },
            )
        if hasattr(result, "path") and hasattr(result, "name"):  # a file to stream, not JSON
            disposition = "inline" if getattr(result, "inline", False) else "attachment"
            headers = {"Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(result.name)}"}
            if getattr(result, "content_type", None):
                headers["Content-Type"] = result.content_type
            if getattr(result, "cache", None):
                headers["Cache-Control"] = result.cache
            return ctx, web.FileResponse(result.path, headers=headers)
        payload = _dump(result, op.response, op.sparse)
        text = json.dumps(payload, default=str) if payload is not None else None
        if claim is not None:
            if op.shown_once and isinstance(payload, dict) and payload.get(op.shown_once):
                idempotency.withhold(claim, payload.get("id"))
            else:
                idempotency.answer(claim, op.status, text)
        return ctx, text

    try:
        # a GET reads (at most it notes when an API key was last used): it does not queue behind writers
        ctx, done = await db.run(transaction, read_mostly=op.method == "GET")
    except idempotency.KeyTaken:
        if idem is None:
            raise
        # the same key committed by a request running at the same time: answer with its response
        async with db.tx() as s:
            replay = (
                await _replay(s, user_id, stored_key, _request_hash(request, raw)) if stored_key else None
            )
        if replay is None:
            raise
        return replay
    if isinstance(done, web.StreamResponse):
        return done
    text = done
    for work in ctx.after_commit:
        work()
    if op.method != "GET" and keys.DISPATCHER in request.app:
        request.app[keys.DISPATCHER].wake.set()  # mails and webhooks queued by this request go now
    resp = (
        web.Response(status=op.status, text=text, content_type="application/json")
        if text is not None
        else web.Response(status=op.status)
    )
    for name, value in ctx.cookies:
        if value is None:
            resp.del_cookie(name, path="/")
        else:
            resp.set_cookie(
                name,
                value,
                httponly=True,
                samesite="Lax",
                path="/",
                max_age=identity.SESSION_DAYS * 86400,
                # https as public_url says, or as the client came (through a trusted proxy: issue 15)
                secure=request.secure or request.app[keys.SETTINGS].public_url.startswith("https:"),
            )
    return resp


async def _hash_first(op: Op, request: web.Request, raw_json: bytes) -> str | None:
    """The hash of the body's new password (``op.password_field``), or None if it has none: made after the
    caller is authenticated (a read-only session: no lock) and the body is valid, before the transaction."""
    assert op.password_field and op.body is not None
    if op.auth:
        token = _token_of(request)
        async with request.app[keys.DB].read_only() as s:
            if not token or await identity.resolve(s, token) is None:
                raise ControlError(
                    "unauthorized", "sign in (session cookie) or send 'Authorization: Bearer <API key>'", 401
                )
    password = getattr(_parse_body(raw_json, op.body, op.optional_body), op.password_field, None)
    return await hash_password(password) if isinstance(password, str) else None


async def _replay(s: AsyncSession, user_id: int | None, key: str, request_hash: str) -> web.Response | None:
    """The stored answer of an earlier request with this Idempotency-Key, marked as replayed; None: a new
    one."""
    got = await idempotency.stored(s, user_id, key, request_hash)
    if got is None:
        return None
    resp = (
        web.Response(status=got.status, text=got.body, content_type="application/json")
        if got.body is not None
        else web.Response(status=got.status)
    )
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


API = Api()  # the /api/v1 control-plane operations register here (signaling/api/accounts.py and friends)
