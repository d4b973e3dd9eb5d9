"""A request/reply channel per node over Redis pub/sub (issue 19).

Each node listens on its own channel (:func:`mediaserver.cluster.keys.rpc`) for requests and for the replies
to its own requests. A request to a node that is not listening fails at once (Redis counts no receiver), one
that gets no reply in time raises :class:`RequestTimeout`; a handler's :class:`RpcError` comes back to the
caller as the same error.

Every message is signed with the cluster's shared secret (HMAC-SHA256; the nodes share it anyway, for the
join tokens) and carries its time: whoever can publish on the Redis without the secret cannot make a node
act, and a message replayed later than ``MAX_AGE_S``, or a second time, is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from redis.asyncio import Redis

from mediaserver.cluster import keys

log = logging.getLogger(__name__)

MAX_AGE_S = 30.0  # a message older than this is dropped (clocks of the nodes must agree within it)
Handler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


class RpcError(Exception):
    """A request the receiving node refused: a code for programs and a message for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class NodeUnreachable(RpcError):
    def __init__(self, node_id: str) -> None:
        super().__init__("node_unreachable", f"node {node_id} does not listen")


class RequestTimeout(RpcError):
    def __init__(self, node_id: str, method: str, timeout: float) -> None:
        super().__init__("timeout", f"node {node_id} did not answer {method} within {timeout} s")


class Channel:
    """This node's channel: :meth:`request` asks another node, ``handlers`` answer the others' requests."""

    def __init__(self, redis: Redis, node_id: str, secret: bytes, handlers: Mapping[str, Handler]) -> None:
        self.redis, self.node_id, self.key = redis, node_id, hashlib.sha256(b"ms-rpc\0" + secret).digest()
        self.handlers = dict(handlers)
        self.pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.seen: dict[str, float] = {}  # message ids of the last MAX_AGE_S, against replays
        self.dropped = 0  # messages refused: bad signature, too old, replayed or malformed
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._pubsub: Any = None

    async def start(self) -> None:
        self._pubsub = self.redis.pubsub()
        await self._pubsub.subscribe(keys.rpc(self.node_id))
        self._task = asyncio.create_task(self._listen(), name=f"rpc {self.node_id}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for t in list(self._tasks):
            t.cancel()
        if self._pubsub is not None:
            await self._pubsub.aclose()
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(RpcError("stopped", "this node's channel stopped"))

    async def request(
        self, node_id: str, method: str, body: dict[str, Any], timeout: float = 2.0
    ) -> dict[str, Any]:
        """Ask ``node_id`` to do ``method``; its reply's body, or its RpcError."""
        rid = secrets.token_hex(12)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[rid] = fut
        try:
            msg = {"k": "req", "id": rid, "from": self.node_id, "m": method, "b": body}
            if not await self.redis.publish(keys.rpc(node_id), self._seal(msg)):
                raise NodeUnreachable(node_id)
            try:
                return await asyncio.wait_for(fut, timeout)
            except TimeoutError:
                raise RequestTimeout(node_id, method, timeout) from None
        finally:
            self.pending.pop(rid, None)

    # ---------------------------------------------------------------- the wire

    def _seal(self, msg: dict[str, Any]) -> bytes:
        msg["t"] = time.time()
        data = json.dumps(msg, separators=(",", ":")).encode()
        return hmac.new(self.key, data, hashlib.sha256).hexdigest().encode() + b"." + data

    def _open(self, raw: bytes) -> dict[str, Any] | None:
        sig, _, data = raw.partition(b".")
        if not hmac.compare_digest(sig, hmac.new(self.key, data, hashlib.sha256).hexdigest().encode()):
            return None
        try:
            msg = json.loads(data)
            now, age, mid = time.time(), time.time() - float(msg["t"]), f"{msg['k']}:{msg['id']}"
        except (ValueError, KeyError, TypeError):
            return None
        if not -MAX_AGE_S < age < MAX_AGE_S or mid in self.seen:
            return None
        self.seen[mid] = now
        if len(self.seen) > 1000:
            self.seen = {k: t for k, t in self.seen.items() if now - t < MAX_AGE_S}
        return msg if isinstance(msg, dict) else None

    async def _listen(self) -> None:
        async for item in self._pubsub.listen():
            if item.get("type") != "message":
                continue
            msg = self._open(item["data"])
            if msg is None:
                self.dropped += 1
                log.warning("rpc: dropped a message on %s (signature, age, replay or form)", self.node_id)
            elif msg["k"] == "rep":
                fut = self.pending.get(str(msg.get("id")))
                if fut and not fut.done():
                    if msg.get("ok"):
                        fut.set_result(msg.get("b") or {})
                    else:
                        err = msg.get("e") or {}
                        fut.set_exception(RpcError(str(err.get("code")), str(err.get("message"))))
            elif msg["k"] == "req":
                task = asyncio.create_task(self._serve(msg))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _serve(self, msg: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"k": "rep", "id": msg.get("id")}
        handler = self.handlers.get(str(msg.get("m")))
        try:
            if handler is None:
                raise RpcError("unknown_method", f"no method {msg.get('m')!r} here")
            body = msg.get("b")
            if not isinstance(body, dict):
                raise RpcError("bad_request", "the body is not an object")
            reply.update(ok=True, b=await handler(str(msg.get("from")), body))
        except RpcError as e:
            reply.update(ok=False, e={"code": e.code, "message": e.message})
        except Exception:
            log.exception("rpc: %s failed on %s", msg.get("m"), self.node_id)
            reply.update(ok=False, e={"code": "internal", "message": "the handler failed"})
        await self.redis.publish(keys.rpc(str(msg.get("from"))), self._seal(reply))
