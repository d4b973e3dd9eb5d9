"""Q&A and the call to action where they meet the control plane, on SQLite and PostgreSQL (issue 16): the host
publishing a question in an event's room sends the account's ``question.published`` webhook, signed, to a real
receiver (R-INT-2, R-API-2); the automated timeline's ``call_to_action`` text has the room's limit of 54
characters, spaces included (R-INT-4, R-AUTO-1): 54 Cyrillic letters pass, 55 get a precise 400."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

from aiohttp import web

from mediaserver.outbox import webhooks
from tests.api.conftest import call, hook_receiver, loopback, signup
from tests.api.test_event_rooms import host_key, room_token, ws_room
from tests.conftest import wait_for

UTC = dt.timezone.utc


@loopback
async def test_publishing_a_question_sends_the_question_published_webhook(api):
    got: list[dict] = []
    secret = {}

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        h = request.headers
        assert webhooks.verify(secret["s"], h[webhooks.SIGNATURE_HEADER], h["X-Mediaserver-Delivery"], body)
        got.append(json.loads(body))
        return web.Response(status=204)

    http, me = await signup(api)
    async with hook_receiver(handle) as url:
        hook = await call(
            http, "POST", "/api/v1/webhooks", 201, json={"url": url, "events": ["question.published"]}
        )
        secret["s"] = hook["secret"]
        ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "instant", "name": "AMA"})
        async with ws_room(api) as room:
            host, _ = await room.enter(
                await room_token(api, ev["roomId"], "Olga", "olga@example.test", hostKey=host_key(ev))
            )
            ann, joined = await room.enter(await room_token(api, ev["roomId"], "Ann", "ann@example.test"))
            assert joined["participant"]["status"] == "joined", joined
            await host.ok("qa.open")
            sent = await ann.ok("chat.send", text="Как подключиться с телефона?")
            q = await ann.ok("qa.ask", message=sent["id"])
            await host.ok("qa.answer", id=q["id"])
            await asyncio.sleep(0.3)
            assert got == []  # asking and answering send nothing; publishing does
            await host.ok("qa.publish", id=q["id"])
            assert await wait_for(lambda: len(got) == 1, 15), got
        [hooked] = got
        assert hooked["type"] == "question.published" and hooked["accountId"] == me["account"]["id"]
        data = hooked["data"]
        assert data["event"]["id"] == ev["id"] and data["event"]["roomId"] == ev["roomId"]
        assert (
            data["question"]["id"] == q["id"] and data["question"]["text"] == "Как подключиться с телефона?"
        )
        assert data["question"]["from"]["name"] == "Ann" and data["question"]["state"] == "answered"
        assert data["question"]["message"] == sent["id"] and data["by"]["name"] == "Olga"
        assert isinstance(data["publishedAt"], int)


async def test_the_timeline_call_to_action_text_is_54_characters_spaces_included(api):
    http, _ = await signup(api)
    start = (dt.datetime.now(UTC) + dt.timedelta(hours=1)).isoformat()

    def cta(text: str) -> dict:
        item = {"component": "call_to_action", "start": 0, "duration": 60, "text": text}
        return {"timeline": [{"component": "chat", "start": 0, "duration": 60}, item]}

    def body(text: str) -> dict:
        return {"kind": "automated", "name": "Robot", "startsAt": start, "options": cta(text)}

    err = await call(http, "POST", "/api/v1/events", 400, json=body("я" * 55))
    assert err["error"]["code"] == "too_long", err
    message = err["error"]["message"]
    assert "timeline item 2" in message and "54" in message and "55" in message, message
    err = await call(
        http,
        "POST",
        "/api/v1/events",
        400,
        json=body("Купите курс со скидкой 20 % до пятницы, ссылка ниже!!!!"),
    )
    assert "55" in err["error"]["message"], err  # the spaces count
    ev = await call(http, "POST", "/api/v1/events", 201, json=body("я" * 54))
    assert ev["options"]["timeline"][1]["text"] == "я" * 54
    # a change over the limit is refused and changes nothing
    err = await call(http, "PATCH", f"/api/v1/events/{ev['id']}", 400, json={"options": cta("Я" * 55)})
    assert err["error"]["code"] == "too_long", err
    now = await call(http, "GET", f"/api/v1/events/{ev['id']}", 200)
    assert now["options"]["timeline"][1]["text"] == "я" * 54
