"""The room's interaction through the real WebSocket (issue 16): chat (R-INT-1), raised hands (R-ROOM-3) and
reactions, fanned out once a tick; who may do what is checked on the server."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import aiohttp
import pytest

from signaling import keys
from tests.signaling.client import drain, events, wait_event
from tests.signaling.test_rooms import create, enter


@pytest.fixture
async def http(server):
    async with aiohttp.ClientSession(server["base_url"]) as s:
        yield s


@pytest.fixture
async def webinar(http, connect):
    """A webinar with its host and two attendees, seated; (room, host, ann, bob, their join results)."""
    room = await create(http, type="webinar", name="Talk")
    host, h = await enter(http, connect, room, "hanna", "host")
    ann, a = await enter(http, connect, room, "ann")
    bob, b = await enter(http, connect, room, "bob")
    return room, host, ann, bob, {"host": h, "ann": a, "bob": b}


async def test_public_chat_reaches_everyone_in_one_shared_frame(server, webinar):
    _room, host, ann, bob, joined = webinar
    fan = server["app"][keys.FANOUT]
    assert joined["ann"]["interaction"]["chat"] == {"enabled": True, "silenced": False, "messages": []}
    frames, writes = fan.frames, fan.writes
    sent = await ann.ok("chat.send", text="Hello, everyone  https://example.org/x?a=1")
    assert sent["id"].startswith("m")
    for c in (host, ann, bob):
        e = await wait_event(c, "chat")
        assert e["text"] == "Hello, everyone  https://example.org/x?a=1" and e["id"] == sent["id"]
        assert e["from"]["name"] == "ann" and e["from"]["role"] == "attendee" and "to" not in e
    # one serialisation for the three sockets (one tick), three writes
    assert fan.frames - frames == 1 and fan.writes - writes == 3


async def test_private_messages_go_to_the_staff_and_back_only(webinar):
    _room, host, ann, bob, joined = webinar
    await ann.ok("chat.send", text="a question for the host only", to="staff")
    e = await wait_event(host, "chat")
    assert e["to"] == "staff" and e["from"]["id"] == joined["ann"]["participant"]["id"]
    await host.ok("chat.send", text="the answer, for ann", to=joined["ann"]["participant"]["id"])
    reply = await wait_event(ann, "chat", lambda e: e["from"]["role"] == "host")
    assert reply["to"]["name"] == "ann"
    assert [m["text"] for m in events(ann, "chat")] == ["a question for the host only", "the answer, for ann"]
    await drain(bob)
    assert events(bob, "chat") == []  # bob saw neither
    # an attendee cannot write privately to another attendee
    await bob.err("chat.send", "forbidden", text="psst", to=joined["ann"]["participant"]["id"])


async def test_the_host_turns_the_chat_off_and_on(webinar):
    _room, host, ann, _bob, _joined = webinar
    await ann.err("chat.setEnabled", "forbidden", enabled=False)  # checked on the server
    assert await host.ok("chat.setEnabled", enabled=False) == {"enabled": False}
    assert (await wait_event(ann, "chatState"))["enabled"] is False
    await ann.err("chat.send", "chat_off", text="anyone?")
    await host.ok("chat.send", text="the staff still write")
    await wait_event(ann, "chat")
    await host.ok("chat.setEnabled", enabled=True)
    await ann.ok("chat.send", text="back")


async def test_bad_messages_are_refused_and_change_nothing(webinar):
    _room, host, ann, _bob, _joined = webinar
    msg = await ann.err("chat.send", "too_long", text="я" * 2001)
    assert "2000" in msg and "2001" in msg
    await ann.err("chat.send", "bad_request", text="   \u200b ")
    await ann.err("chat.send", "bad_request", text=42)
    await ann.ok("chat.send", text="я" * 2000)  # 2,000 characters, whatever their bytes
    await drain(host)
    assert [len(e["text"]) for e in events(host, "chat")] == [2000]
    await ann.err("chat.delete", "forbidden", id="m1")


async def test_a_flood_is_throttled_for_its_sender_only(webinar):
    _room, _host, ann, bob, _joined = webinar
    codes = []
    for i in range(12):
        r = await ann.call("chat.send", text=f"spam {i}")
        codes.append(r.get("error", {}).get("code", "ok"))
    assert codes[:5] == ["ok"] * 5 and "rate_limited" in codes, codes
    await bob.ok("chat.send", text="I can still write")


async def test_delete_and_silence(http, connect, webinar):
    room, host, ann, bob, joined = webinar
    sent = await bob.ok("chat.send", text="something rude")
    await host.ok("chat.delete", id=sent["id"])
    assert (await wait_event(ann, "chatDeleted"))["id"] == sent["id"]
    await host.ok("chat.silence", participant=joined["bob"]["participant"]["id"], silenced=True)
    assert (await wait_event(bob, "chatSilenced"))["silenced"] is True
    await bob.err("chat.send", "silenced", text="again")
    await ann.ok("chat.send", text="fine")
    # a host who comes back (or a second host) sees who is silenced; attendees do not
    _host2, res = await enter(http, connect, room, "hanna2", "host")
    assert res["interaction"]["chat"]["silencedPeople"] == [joined["bob"]["participant"]["id"]]
    _late, res = await enter(http, connect, room, "late")
    assert "silencedPeople" not in res["interaction"]["chat"]


async def test_a_late_joiner_gets_a_snapshot_not_a_replay(http, connect, webinar):
    room, host, ann, _bob, _joined = webinar
    await ann.ok("chat.send", text="one")
    await ann.ok("chat.send", text="private", to="staff")
    await host.ok("chat.send", text="two")
    await wait_event(host, "chat", lambda e: e["text"] == "two")
    late, res = await enter(http, connect, room, "late")
    snap = res["interaction"]
    assert [m["text"] for m in snap["chat"]["messages"]] == ["one", "two"]
    assert snap["seq"] >= 3
    await drain(late, 0.4)
    assert [e for e in events(late) if e["seq"] <= snap["seq"]] == []
    # the host's snapshot has the private message too
    host2, res2 = await enter(http, connect, room, "hanna2", "host")
    assert [m["text"] for m in res2["interaction"]["chat"]["messages"]] == ["one", "private", "two"]


async def test_raised_hands_queue_and_the_floor_answers_them(webinar):
    _room, host, ann, bob, joined = webinar
    ann_id, bob_id = joined["ann"]["participant"]["id"], joined["bob"]["participant"]["id"]
    raised = await ann.ok("hand.raise")
    assert raised["position"] == 1
    ann_ticket = raised["ticket"]
    raised = await bob.ok("hand.raise")
    assert raised["position"] == 2 and raised["ticket"] > ann_ticket and raised["seq"] > 0
    bob_ticket = raised["ticket"]
    await wait_event(host, "hand", lambda e: e["participant"] == bob_id and e["raised"])
    await drain(bob)
    assert [e["participant"] for e in events(bob, "hand")] == [bob_id]  # not ann's
    await host.err("hand.raise", "bad_request")
    await bob.err("hand.lower", "forbidden", participant=ann_id)
    await host.ok("host", action="grantFloor", participant=ann_id)
    e = await wait_event(host, "hand", lambda e: e["participant"] == ann_id and not e["raised"])
    assert e["raised"] is False
    # bob moves up: one event for everyone with the ticket that left, not a message per waiting attendee
    done = await wait_event(bob, "handDone")
    assert done["ticket"] == ann_ticket < bob_ticket
    again = await bob.ok("hand.raise")
    assert (again["position"], again["ticket"]) == (1, bob_ticket)
    host_snapshot = (await host.ok("hand.lower", participant=bob_id), None)
    assert host_snapshot[0] == {"raised": False}
    await wait_event(bob, "hand", lambda e: e["participant"] == bob_id and not e["raised"])
    await drain(ann, 0.3)
    assert len(events(ann, "handDone")) == 1  # the last of the queue leaving moves nobody up


async def test_reactions_are_counted_per_tick(webinar):
    _room, host, ann, bob, _joined = webinar
    await asyncio.gather(
        ann.ok("react", emoji="👏"), bob.ok("react", emoji="👏"), host.ok("react", emoji="🎉")
    )
    e = await wait_event(ann, "reactions")
    await drain(ann, 0.3)
    total: dict[str, int] = {}
    for r in events(ann, "reactions"):
        for k, v in r["counts"].items():
            total[k] = total.get(k, 0) + v
    assert total == {"👏": 2, "🎉": 1}, events(ann, "reactions")
    assert len(events(ann, "reactions")) <= 2 and e["counts"]
    await ann.err("react", "bad_request", emoji="💩")


async def test_lobby_people_cannot_chat(http, connect):
    room = await create(http, type="webinar", name="Later", start="lobby")
    att, res = await enter(http, connect, room, "early")
    assert res["participant"]["status"] == "lobby" and "interaction" not in res
    await att.err("chat.send", "not_admitted", text="hello?")


async def test_a_client_that_does_not_read_is_dropped_not_buffered(server):
    """The fan-out writes onto each connection's transport; one that holds more than fanout.LIMIT bytes unsent
    (its client reads nothing) is cut off, so a slow client never grows the server's memory (issue 16)."""
    from signaling.realtime import fanout
    from signaling.realtime.ws import Connection

    ours, theirs = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    transport, _ = await asyncio.get_running_loop().create_connection(asyncio.Protocol, sock=ours)
    fan = server["app"][keys.FANOUT]
    conn = Connection(None, server["rooms"], "", fanout=fan, transport=transport)  # type: ignore[arg-type]
    frame = fanout.text_frame(b"x" * 16384)
    written = 0
    dropped = fan.dropped
    while conn.write_frame(frame):
        written += len(frame)
        assert written < 64 * 1024 * 1024, "never dropped"
        await asyncio.sleep(0)
    assert fan.dropped == dropped + 1 and conn.dropped and transport.is_closing()
    assert written <= fanout.LIMIT + 1024 * 1024  # the limit, plus what the kernel took
    assert not conn.write_frame(frame)  # and nothing more is written to it
    theirs.close()


async def test_a_tick_larger_than_64_kib_is_one_valid_frame(http, connect, webinar):
    """Twenty messages of 2,000 Cyrillic letters (4,000 bytes each) sent at once: the tick's frame is over
    65,535 bytes (the WebSocket's 8-byte length) and the clients read it as it is."""
    room, host, ann, bob, _joined = webinar
    cyd, _ = await enter(http, connect, room, "cyd")
    senders = [host, ann, bob, cyd]
    for i in range(5):  # sent without waiting for the replies: all in one tick
        for c in senders:
            msg = {"id": 900 + i, "method": "chat.send", "params": {"text": "я" * 2000}}
            await c.ws.send_json(msg)
    end = time.monotonic() + 3
    while len(events(ann, "chat")) < 20 and time.monotonic() < end:
        await drain(ann, 0.1)
    assert len(events(ann, "chat")) == 20
    biggest = max(len(json.dumps(n, ensure_ascii=False).encode()) for n in ann.notes)
    assert biggest > 65535, biggest


async def test_the_metrics_count_frames_writes_and_dropped_sockets(http, webinar):
    _room, _host, ann, _bob, _joined = webinar
    await ann.ok("chat.send", text="counted")
    await wait_event(ann, "chat")
    async with http.get("/metrics") as r:
        text = await r.text()
    found = {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line.startswith(("mediaserver_interaction_", "mediaserver_slow_clients", "mediaserver_journal_"))
    }
    assert found["mediaserver_interaction_frames_total"] >= 1, found
    assert found["mediaserver_interaction_writes_total"] >= 3, found
    assert {"mediaserver_slow_clients_dropped_total", "mediaserver_journal_dropped_total"} <= set(found)


async def test_the_fan_out_forgets_whoever_leaves_however_they_leave(server, http, connect, webinar):
    """A participant the host removes, or whose session ends, leaves the fan-out then, even though their
    socket stays open (before: the entry, and the connection it holds, stayed until the socket closed, or for
    ever once the socket joined again)."""
    room, host, ann, bob, joined = webinar
    fan = server["app"][keys.FANOUT]
    ann_id, bob_id = joined["ann"]["participant"]["id"], joined["bob"]["participant"]["id"]
    assert {ann_id, bob_id} <= set(fan.outlets)
    await host.ok("host", action="remove", participant=bob_id)
    assert bob_id not in fan.outlets and ann_id in fan.outlets
    again, res = await enter(http, connect, room, "bob2")
    assert res["participant"]["id"] in fan.outlets
    await host.ok("host", action="end")
    assert not set(fan.outlets) & {ann_id, res["participant"]["id"], joined["host"]["participant"]["id"]}
