"""A request/reply channel per node over Redis pub/sub (issue 19).

Each node listens on its own channel (:func:`mediaserver.cluster.keys.rpc`) for requests and for the replies
to its own requests. A request to a node that is not listening fails at once (Redis counts no receiver), one
that gets no reply in time raises :class:`RequestTimeout`; a handler's :class:`RpcError` comes back to the
caller as the same error.

Every message is signed with the cluster's shared secret (HMAC-SHA256; the nodes share it anyway, for the
join tokens) and names its recipient and its time: whoever can publish on the Redis without the secret cannot
make a node act; a message replayed to another node, later than ``MAX_AGE_S``, or a second time is dropped.
The listener outlives a lost Redis connection: it subscribes again, with back-off, until it is stopped.
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
MAX_AHEAD_S = 5.0  # or dated further ahead than this
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
        # against replays: the ids of messages admitted, until their time + MAX_AGE_S (after which their age
        # refuses them anyway); pruned at most once a second
        self.seen: dict[str, float] = {}
        self._pruned = 0.0
        self.dropped = 0  # messages refused: bad signature, too old, replayed, for another node or malformed
        self.reconnects = 0  # times the listener subscribed again after losing its connection
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._pubsub: Any = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        """Subscribe (Redis must answer) and listen until :meth:`stop`."""
        await self._subscribe()
        self._task = asyncio.create_task(self._listen(), name=f"rpc {self.node_id}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for t in list(self._tasks):
            t.cancel()
        await self._close_pubsub()
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
            msg = {"k": "req", "id": rid, "from": self.node_id, "to": node_id, "m": method, "b": body}
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
            sent = float(msg["t"])
            mid = f"{msg['k']}:{msg['id']}"
            to = msg["to"]
        except (ValueError, KeyError, TypeError):
            return None
        now = time.time()
        if not isinstance(msg, dict) or to != self.node_id or mid in self.seen:
            return None
        if not -MAX_AHEAD_S < now - sent < MAX_AGE_S:
            return None
        self.seen[mid] = sent + MAX_AGE_S
        if now - self._pruned > 1.0:
            self._pruned = now
            self.seen = {k: until for k, until in self.seen.items() if until > now}
        return msg

    async def _subscribe(self) -> None:
        self._pubsub = self.redis.pubsub()
        await self._pubsub.subscribe(keys.rpc(self.node_id))

    async def _close_pubsub(self) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = None

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            try:
                if self._pubsub is None:
                    await self._subscribe()
                    self.reconnects += 1
                    log.info("rpc: %s subscribed again", self.node_id)
                item = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the connection went: subscribe again (what was sent meanwhile is lost)
                log.warning(
                    "rpc: %s lost its channel (%s); subscribing again in %.1f s", self.node_id, e, backoff
                )
                await self._close_pubsub()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if item and item.get("type") == "message":
                self._dispatch(item["data"])

    def _dispatch(self, raw: bytes) -> None:
        msg = self._open(raw)
        if msg is None:
            self.dropped += 1
            log.warning(
                "rpc: dropped a message on %s (signature, recipient, age, replay or form)", self.node_id
            )
        elif msg["k"] == "rep":
            fut = self.pending.get(str(msg.get("id")))
            if fut and not fut.done():
                err = msg.get("e")
                if msg.get("ok"):
                    body = msg.get("b")
                    fut.set_result(body if isinstance(body, dict) else {})
                elif isinstance(err, dict):
                    fut.set_exception(RpcError(str(err.get("code")), str(err.get("message"))))
                else:
                    fut.set_exception(RpcError("bad_reply", "the reply carries no error object"))
        elif msg["k"] == "req":
            task = asyncio.create_task(self._serve(msg))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, msg: dict[str, Any]) -> None:
        sender = str(msg.get("from"))
        reply: dict[str, Any] = {"k": "rep", "id": msg.get("id"), "to": sender}
        handler = self.handlers.get(str(msg.get("m")))
        try:
            if handler is None:
                raise RpcError("unknown_method", f"no method {msg.get('m')!r} here")
            body = msg.get("b")
            if not isinstance(body, dict):
                raise RpcError("bad_request", "the body is not an object")
            result = await handler(sender, body)
            json.dumps(result)  # what cannot go in a reply fails here, as the handler's error
            reply.update(ok=True, b=result)
        except RpcError as e:
            reply.update(ok=False, e={"code": e.code, "message": e.message})
        except Exception:
            log.exception("rpc: %s failed on %s", msg.get("m"), self.node_id)
            reply.update(ok=False, e={"code": "internal", "message": "the handler failed"})
        try:
            await self.redis.publish(keys.rpc(sender), self._seal(reply))
        except Exception as e:  # Redis away: the caller times out
            log.warning("rpc: %s could not reply to %s: %s", self.node_id, sender, e)
