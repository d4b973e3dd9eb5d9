"""On-demand viewers' messages (R-AUTO-2, issue 16) through the real HTTP API on SQLite and PostgreSQL: a
viewer holding a watch token of the event leaves a message (name, e-mail, at most 2,000 characters), within a
budget per address, and not when the event's allowMessages is off; the organiser lists them and answers once,
the answer reaching the viewer by e-mail through a real SMTP server; the view statistics count them; another
account sees nothing."""

from __future__ import annotations

from typing import Any

import pytest

from mediaserver.events import ondemand
from tests.api.conftest import call, signup, text_of
from tests.api.test_on_demand import VIDEO, on_demand, upload, watch


def _message(token: str, **extra: Any) -> dict[str, Any]:
    return {"watchToken": token, "name": "Vera Viewer", "email": "Vera@Example.test", "text": "Hi!", **extra}


async def _leave(api: Any, room_id: str, status: int, **body: Any) -> Any:
    return await call(api.client(), "POST", f"/api/v1/public/events/{room_id}/messages", status, json=body)


@pytest.mark.parametrize("api", [{"rate_limit_viewer_message": "4/minute"}], indirect=True)
async def test_viewers_leave_messages_and_the_organiser_answers_by_mail(api: Any) -> None:
    http, me = await signup(api)
    video = await upload(http, "launch.webm", VIDEO)
    ev = await on_demand(http, video)
    rid = ev["roomId"]
    url = (await watch(api, rid))["playback"]["url"]  # /play/<token>
    token = url.removeprefix("/play/")

    left = await _leave(api, rid, 201, **_message(token, text="Where can I get the slides?"))
    assert set(left) == {"id", "createdAt"}
    await _leave(api, rid, 201, **_message(url, name="Ivan", email="ivan@example.test", text="я" * 2000))

    # refusals: each says why, and nothing is kept
    err = await _leave(api, rid, 400, **_message(token, text="я" * 2001))
    assert err["error"]["code"] == "too_long" and "2000" in err["error"]["message"]
    await _leave(api, rid, 400, **_message(token, email="not-an-address"))
    await _leave(api, rid, 400, **_message(token, text="  \u200b "))
    forged = token.rsplit(".", 1)[0] + ".AAAA"
    assert (await _leave(api, rid, 403, **_message(forged)))["error"]["code"] == "forbidden"
    expired, _ = ondemand.sign_watch(api.settings.secret, video["id"], ev["id"], -10)
    assert "expired" in (await _leave(api, rid, 403, **_message(expired)))["error"]["message"]
    other_ev = await on_demand(http, video, name="Another replay")
    err = await _leave(api, other_ev["roomId"], 403, **_message(token))  # a token of another event
    assert "another event" in err["error"]["message"]
    await _leave(api, "987654321", 404, **_message(token))

    # the organiser's list, newest first; the statistics count the messages
    page = await call(http, "GET", f"/api/v1/events/{ev['id']}/messages", 200)
    assert page["total"] == 2 and [m["name"] for m in page["items"]] == ["Ivan", "Vera Viewer"]
    vera = page["items"][1]
    assert vera["email"] == "vera@example.test" and vera["text"] == "Where can I get the slides?"
    assert vera["answer"] is None and vera["answeredAt"] is None
    views = await call(http, "GET", f"/api/v1/events/{ev['id']}/views", 200)
    assert views["messages"] == 2 and views["uniqueViewers"] == 1

    # the answer: kept with the message and e-mailed to the viewer (a real SMTP server)
    path = f"/api/v1/events/{ev['id']}/messages/{vera['id']}/answer"
    done = await call(http, "POST", path, 200, json={"text": "Here they are: https://example.test/slides"})
    assert done["answer"].startswith("Here they are") and done["answeredAt"] is not None
    [mail] = await api.mail.wait("vera@example.test")
    body = text_of(mail)
    assert "Replay of the launch" in mail["Subject"]
    assert "Here they are: https://example.test/slides" in body and "Where can I get the slides?" in body
    assert me["user"]["name"] in body
    assert (await call(http, "POST", path, 409, json={"text": "again"}))["error"][
        "code"
    ] == "already_answered"
    listed = await call(http, "GET", f"/api/v1/events/{ev['id']}/messages?limit=1&offset=1", 200)
    assert listed["items"][0]["answer"].startswith("Here they are") and listed["total"] == 2

    # another account: the event, its messages and the answer do not exist for it
    other, _ = await signup(api)
    await call(other, "GET", f"/api/v1/events/{ev['id']}/messages", 404)
    await call(
        other, "POST", path.replace(str(vera["id"]), str(page["items"][0]["id"])), 404, json={"text": "x"}
    )
    await call(
        http, "POST", f"/api/v1/events/{other_ev['id']}/messages/{vera['id']}/answer", 404, json={"text": "x"}
    )
    await call(api.client(), "GET", f"/api/v1/events/{ev['id']}/messages", 401)

    # the budget per address (4 a minute here): two were taken, two more pass, the fifth is refused
    await _leave(api, rid, 201, **_message(token))
    await _leave(api, rid, 201, **_message(token))
    err = await _leave(api, rid, 429, **_message(token))
    assert err["error"]["code"] == "too_many_requests" and "messages" in err["error"]["message"]
    assert (await call(http, "GET", f"/api/v1/events/{ev['id']}/messages", 200))["total"] == 4


async def test_messages_are_refused_when_the_organiser_turned_them_off(api: Any) -> None:
    http, _ = await signup(api)
    video = await upload(http, "launch.mp4", VIDEO)
    ev = await on_demand(http, video, options={"allowMessages": False})
    playback = (await watch(api, ev["roomId"]))["playback"]
    assert playback["allowMessages"] is False  # the watch page shows no form
    token = playback["url"]
    err = await _leave(api, ev["roomId"], 403, **_message(token))
    assert err["error"]["code"] == "messages_off"
    await call(http, "PATCH", f"/api/v1/events/{ev['id']}", 200, json={"options": {"allowMessages": True}})
    assert (await watch(api, ev["roomId"]))["playback"]["allowMessages"] is True
    await _leave(api, ev["roomId"], 201, **_message(token))
    # a room event's id is not an on-demand event's: no messages there
    room_ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Live"})
    await _leave(api, room_ev["roomId"], 404, **_message(token))
