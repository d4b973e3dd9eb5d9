"""The Python client example of docs/api.md runs as written against the real server, on SQLite and PostgreSQL
(R-API-1): only its base URL, API key and contact-group ID are put in. It plans the event (once, though its
request is sent twice with the same Idempotency-Key), invites by address and by group (the e-mails arrive with
personal tokens), pages through the history, and its verify() accepts a real webhook delivery and refuses a
forged one."""

from __future__ import annotations

import asyncio
import io
import json
import re
from contextlib import redirect_stdout
from pathlib import Path

from aiohttp import web

from tests.api.conftest import call, hook_receiver, loopback, signup

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def example() -> str:
    text = DOC.read_text()
    start = text.index("## A Python client")
    return re.search(r"```python\n(.*?)```", text[start:], re.S).group(1)


@loopback
async def test_the_python_client_example_runs_as_written(api):
    code = example()
    assert '"http://127.0.0.1:8080"' in code and '"Bearer msk_..."' in code and '"groupIds": [3]' in code
    http, _ = await signup(api)
    key = (await call(http, "POST", "/api/v1/api-keys", 201, json={"name": "crm"}))["key"]
    group = await call(http, "POST", "/api/v1/groups", 201, json={"name": "Leads"})
    bob = await call(http, "POST", "/api/v1/contacts", 201, json={"name": "Bob", "email": "bob@example.com"})
    await call(http, "POST", f"/api/v1/groups/{group['id']}/members", 200, json={"contactIds": [bob["id"]]})
    got: list[tuple[str, str, bytes]] = []

    async def handle(request: web.Request) -> web.Response:
        h = request.headers
        got.append((h["X-Mediaserver-Signature"], h["X-Mediaserver-Delivery"], await request.read()))
        return web.Response(status=204)

    async with hook_receiver(handle) as url:
        hook = await call(
            http, "POST", "/api/v1/webhooks", 201, json={"url": url, "events": ["event.created"]}
        )
        code = (
            code.replace('"http://127.0.0.1:8080"', repr(api.base_url))
            .replace('"Bearer msk_..."', repr(f"Bearer {key}"))
            .replace('"groupIds": [3]', f'"groupIds": [{group["id"]}]')
        )
        scope: dict = {}
        out = io.StringIO()

        def run() -> None:  # blocking `requests` in a thread: the server runs on this loop
            with redirect_stdout(out):
                exec(compile(code, "docs/api.md", "exec"), scope)
                exec(compile(code, "docs/api.md", "exec"), scope)  # a retry: the same Idempotency-Key

        await asyncio.to_thread(run)
        events = await call(http, "GET", "/api/v1/events", 200)
        launches = [e for e in events["items"] if e["name"] == "Product launch"]
        assert len(launches) == 1 and launches[0]["access"] == "token", events  # planned once
        for addr in ("ann@example.com", "bob@example.com"):
            [msg, *_] = await api.mail.wait(addr)
            assert "Product launch" in msg["Subject"]
        assert isinstance(scope["page"]["items"], list) and scope["offset"] == scope["page"]["total"]
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.1)
        header, delivery, body = got[0]
        assert json.loads(body)["type"] == "event.created"
        verify = scope["verify"]
        assert verify(hook["secret"], header, delivery, body)
        assert not verify(hook["secret"], header, delivery, body.replace(b"Product", b"Produkt"))
        assert not verify("another secret", header, delivery, body)
        assert not verify(hook["secret"], header, str(int(delivery) + 1), body)  # issue 14 finding 19
