"""Events through the API, on SQLite and PostgreSQL: kinds and life cycles (R-ROOM-4), one live event per
account (R-ROOM-5), access types (R-ROOM-6), registration (R-ROOM-9), invitations (R-ROOM-10), branding
(R-ROOM-11), embedding (R-ROOM-12), history and thank-you (R-STAT-2, -3), and the join into the real room."""

from __future__ import annotations

import asyncio
import datetime as dt

import aiohttp
from sqlalchemy import func, select

from mediaserver.rtc import tokens
from mediaserver.store.models import Email, EventSession
from signaling import keys
from tests.api.conftest import call, operator, paid, signup, text_of
from tests.conftest import SECRET
from tests.signaling.client import Client

UTC = dt.timezone.utc


def later(**kw) -> str:
    return (dt.datetime.now(UTC) + dt.timedelta(**kw)).isoformat()


async def sweep(api, now: dt.datetime) -> None:
    """The server's clock, run at a chosen time (the dispatcher runs it every 20 s)."""
    await api.app[keys.DISPATCHER].sweep(now)


async def dashboard(http) -> list[str]:
    return [e["name"] for e in (await call(http, "GET", "/api/v1/events", 200))["items"]]


async def history(http) -> list[dict]:
    return (await call(http, "GET", "/api/v1/history", 200))["items"]


# ---------------------------------------------------------------- kinds and life cycles (R-ROOM-4)


async def test_instant_event_is_live_at_once_and_goes_to_history_when_ended(api):
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "instant", "name": "Now"})
    assert ev["status"] == "live" and len(ev["roomId"]) == 9 and ev["roomType"] == "webinar"
    room = api.app[keys.ROOMS].find(ev["roomId"])
    assert room is not None and room.settings.state == "live" and room.settings.capacity == 25  # R-ACC-1
    assert room.settings.hd  # R-MEDIA-4: a trial may try HD video
    ended = await call(http, "POST", f"/api/v1/events/{ev['id']}/end", 200)
    assert ended["status"] == "done" and room.settings.state == "ended"
    assert await dashboard(http) == []
    assert [h["name"] for h in await history(http)] == ["Now"]


async def test_permanent_event_keeps_one_link_for_every_session_until_deleted(api):
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Weekly"})
    for _ in range(2):
        started = await call(http, "POST", f"/api/v1/events/{ev['id']}/start", 200)
        assert started["event"]["roomId"] == ev["roomId"] and started["event"]["status"] == "live"
        assert tokens.verify(SECRET, started["hostToken"]).role == "host"
        assert (await call(http, "POST", f"/api/v1/events/{ev['id']}/end", 200))["status"] == "planned"
    assert await dashboard(http) == ["Weekly"]
    assert [h["roomId"] for h in await history(http)] == [ev["roomId"]] * 2
    await call(http, "DELETE", f"/api/v1/events/{ev['id']}", 204)
    await call(http, "GET", f"/api/v1/events/{ev['id']}", 404)
    assert await dashboard(http) == []


async def test_scheduled_event_needs_a_future_date_and_leaves_the_dashboard_after_its_day(api):
    http, _ = await signup(api)
    err = await call(http, "POST", "/api/v1/events", 400, json={"kind": "scheduled", "name": "No date"})
    assert "startsAt" in err["error"]["message"]
    await call(
        http,
        "POST",
        "/api/v1/events",
        400,
        json={"kind": "scheduled", "name": "Past", "startsAt": later(days=-1)},
    )
    await call(
        http,
        "POST",
        "/api/v1/events",
        400,
        json={"kind": "scheduled", "name": "Naive", "startsAt": "2030-01-01T10:00:00"},
    )
    ran = await call(
        http,
        "POST",
        "/api/v1/events",
        201,
        json={"kind": "scheduled", "name": "Ran", "startsAt": later(hours=1)},
    )
    never = await call(
        http,
        "POST",
        "/api/v1/events",
        201,
        json={"kind": "scheduled", "name": "Never ran", "startsAt": later(hours=2)},
    )
    await call(http, "POST", f"/api/v1/events/{ran['id']}/start", 200)
    await call(http, "POST", f"/api/v1/events/{ran['id']}/end", 200)
    assert await dashboard(http) == ["Never ran"]
    await sweep(api, dt.datetime.now(UTC) + dt.timedelta(days=2))  # its day has passed
    assert await dashboard(http) == []
    await call(http, "GET", f"/api/v1/events/{never['id']}", 404)  # nothing of it is kept
    assert [h["name"] for h in await history(http)] == ["Ran"]


async def test_automated_event_starts_by_itself_and_ends_after_its_duration(api):
    http, _ = await signup(api)
    start = dt.datetime.now(UTC) + dt.timedelta(hours=1)
    ev = await call(
        http,
        "POST",
        "/api/v1/events",
        201,
        json={
            "kind": "automated",
            "name": "Robot",
            "startsAt": start.isoformat(),
            "durationMinutes": 30,
            "options": {
                "chat": False,
                "timeline": [
                    {"component": "recording", "start": 0, "duration": 1500},
                    {"component": "call_to_action", "start": 1500, "duration": 300},
                ],
            },
        },
    )
    assert ev["options"]["timeline"][1]["component"] == "call_to_action"
    await sweep(api, start - dt.timedelta(minutes=1))
    assert (await call(http, "GET", f"/api/v1/events/{ev['id']}", 200))["status"] == "planned"
    await sweep(api, start + dt.timedelta(seconds=1))
    assert (await call(http, "GET", f"/api/v1/events/{ev['id']}", 200))["status"] == "live"
    async with api.app[keys.DB].read() as s:
        [row] = list(await s.scalars(select(EventSession).where(EventSession.event_id == ev["id"])))
    assert row.started_by is None  # no presenter started it
    await sweep(api, start + dt.timedelta(minutes=31))
    assert (await call(http, "GET", f"/api/v1/events/{ev['id']}", 200))["status"] == "done"


async def test_on_demand_event_never_goes_live(api):
    http, _ = await signup(api)
    ev = await call(
        http,
        "POST",
        "/api/v1/events",
        201,
        json={"kind": "on_demand", "name": "Replay", "options": {"allowSeek": False}},
    )
    err = await call(http, "POST", f"/api/v1/events/{ev['id']}/start", 409)
    assert "on-demand" in err["error"]["message"]
    err = await call(
        api.client(),
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/join",
        409,
        json={"name": "Viewer", "email": "v@example.test"},
    )
    assert err["error"]["code"] == "no_video" and "no video" in err["error"]["message"]  # R-AUTO-2


# ---------------------------------------------------------------- one live event (R-ROOM-5)


async def test_one_live_event_per_account_also_for_additional_users(api):
    http, owner = await signup(api)
    await paid(http, "live", extra_users=1)
    await call(http, "POST", "/api/v1/users", 201, json={"name": "Ivan", "email": "ivan5@example.test"})
    from tests.api.conftest import link_token

    [msg] = await api.mail.wait("ivan5@example.test")
    ivan = api.client()
    await call(
        ivan, "POST", "/api/v1/activate", 200, json={"token": link_token(msg), "password": "ivan's password"}
    )
    a = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "A"})
    b = await call(ivan, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "B"})
    await call(http, "POST", f"/api/v1/events/{a['id']}/start", 200)
    err = await call(ivan, "POST", f"/api/v1/events/{b['id']}/start", 409)
    assert err["error"]["code"] == "live_event_running" and "parallel" in err["error"]["message"]
    err = await call(ivan, "POST", "/api/v1/events", 409, json={"kind": "instant", "name": "C"})
    assert err["error"]["code"] == "live_event_running"
    assert await dashboard(ivan) == ["B"]  # the refused instant event left nothing behind
    # events may follow each other
    await call(http, "POST", f"/api/v1/events/{a['id']}/end", 200)
    await call(ivan, "POST", f"/api/v1/events/{b['id']}/start", 200)
    await call(ivan, "POST", f"/api/v1/events/{b['id']}/end", 200)
    # with the parallel-sessions add-on, two at once
    await operator(http, "addons", 200, json={"addon": "parallel_sessions", "quantity": 1})
    await call(http, "POST", f"/api/v1/events/{a['id']}/start", 200)
    await call(ivan, "POST", f"/api/v1/events/{b['id']}/start", 200)


async def test_two_simultaneous_starts_give_exactly_one_live_event(api):
    http, _ = await signup(api)
    evs = [
        await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": f"E{n}"})
        for n in range(4)
    ]

    async def start(ev):
        async with http.post(f"/api/v1/events/{ev['id']}/start") as r:
            return r.status

    statuses = await asyncio.gather(*(start(ev) for ev in evs))
    assert sorted(statuses) == [200, 409, 409, 409], statuses
    async with api.app[keys.DB].read() as s:
        open_rows = list(await s.scalars(select(EventSession).where(EventSession.ended_at.is_(None))))
    assert len(open_rows) == 1


async def test_the_host_ending_the_room_ends_the_event(api):
    """The room's own "end session" (R-ROOM-13) closes the event's session too: the next may start."""
    http, _ = await signup(api)
    a = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "A"})
    b = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "B"})
    started = await call(http, "POST", f"/api/v1/events/{a['id']}/start", 200)
    async with aiohttp.ClientSession() as s:
        ws = await s.ws_connect(api.base_url.replace("http", "ws") + "/ws")
        host = Client(ws)
        await host.ok("join", token=started["hostToken"])
        await host.ok("host", action="end")
        await ws.close()
    await call(http, "POST", f"/api/v1/events/{b['id']}/start", 200)
    assert (await call(http, "GET", f"/api/v1/events/{a['id']}", 200))["status"] == "planned"


# ---------------------------------------------------------------- access (R-ROOM-6) and joining (R-ROOM-7)


async def test_open_event_join_gives_a_token_for_the_real_room(api):
    http, _ = await signup(api)
    ev = await call(
        http,
        "POST",
        "/api/v1/events",
        201,
        json={"kind": "permanent", "name": "Open", "roomType": "meeting", "agenda": "Q3 plans"},
    )
    guest = api.client()
    info = await call(guest, "GET", f"/api/v1/rooms/{ev['roomId']}", 200)
    assert info["state"] == "lobby" and info["name"] == "Open"
    joined = await call(
        guest,
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/join",
        200,
        json={"name": "Guest", "email": "guest@example.test"},
    )
    grant = tokens.verify(SECRET, joined["token"])
    assert grant.room == ev["roomId"] and grant.role == "attendee"
    room = api.app[keys.ROOMS].find(ev["roomId"])
    assert room.settings.state == "lobby" and room.settings.capacity == 5  # R-ACC-1: 5 in a trial meeting
    async with aiohttp.ClientSession() as s:
        ws = await s.ws_connect(api.base_url.replace("http", "ws") + "/ws")
        res = await Client(ws).ok("join", token=joined["token"])
        assert res["participant"]["status"] == "lobby"  # before the start: the lobby (R-ROOM-8)
        await call(http, "POST", f"/api/v1/events/{ev['id']}/start", 200)
        assert room.settings.state == "live"
        await ws.close()
    # the room page's join (by room ID) goes through the same rules
    joined = await call(
        guest,
        "POST",
        f"/api/v1/rooms/{ev['roomId']}/join",
        200,
        json={"name": "Guest", "email": "guest@example.test"},
    )
    assert tokens.verify(SECRET, joined["token"]).role == "attendee"
    joined = await call(
        guest,
        "POST",
        f"/api/v1/rooms/{ev['roomId']}/join",
        200,
        json={"name": "Org", "email": "org@example.test", "hostKey": ev["hostUrl"].split("host=")[1]},
    )
    assert joined["role"] == "host"


async def test_password_protected_event(api):
    http, _ = await signup(api)
    err = await call(
        http, "POST", "/api/v1/events", 400, json={"kind": "permanent", "name": "P", "access": "password"}
    )
    assert "password" in err["error"]["message"]
    ev = await call(
        http,
        "POST",
        "/api/v1/events",
        201,
        json={"kind": "permanent", "name": "P", "access": "password", "password": "open sesame"},
    )
    assert "password" not in ev
    guest = api.client()
    for body in ({}, {"password": "wrong"}):
        err = await call(
            guest,
            "POST",
            f"/api/v1/rooms/{ev['roomId']}/join",
            403,
            json={"name": "G", "email": "g@example.test", **body},
        )
        assert err["error"]["code"] == "password_required"
    joined = await call(
        guest,
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/join",
        200,
        json={"name": "G", "email": "g@example.test", "password": "open sesame"},
    )
    assert joined["role"] == "attendee"


async def test_token_protection_refuses_dial_in_and_says_why(api):
    http, _ = await signup(api)
    err = await call(
        http,
        "POST",
        "/api/v1/events",
        409,
        json={"kind": "permanent", "name": "T", "access": "token", "dialIn": True},
    )
    assert (
        err["error"]["code"] == "token_dial_in_conflict"
        and "dial-in" in err["error"]["message"]
        and "phone" in err["error"]["message"]
    )
    ev = await call(
        http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "T", "access": "token"}
    )
    err = await call(http, "PATCH", f"/api/v1/events/{ev['id']}", 409, json={"dialIn": True})
    assert err["error"]["code"] == "token_dial_in_conflict"
    dial = await call(
        http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "D", "dialIn": True}
    )
    err = await call(http, "PATCH", f"/api/v1/events/{dial['id']}", 409, json={"access": "token"})
    assert "dial-in" in err["error"]["message"]


async def test_token_event_each_invitee_uses_only_their_own_token(api):
    http, _ = await signup(api)
    ev = await call(
        http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Tokens", "access": "token"}
    )
    invs = await call(
        http,
        "POST",
        f"/api/v1/events/{ev['id']}/invitations",
        201,
        json={"emails": ["ann@example.test", "bob@example.test"]},
    )
    tok = {i["email"]: i["token"] for i in invs["items"]}
    assert len(set(tok.values())) == 2
    [msg] = await api.mail.wait("ann@example.test")
    assert tok["ann@example.test"] in text_of(msg)
    guest = api.client()
    err = await call(
        guest,
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/join",
        403,
        json={"name": "Ann", "email": "ann@example.test"},
    )
    assert err["error"]["code"] == "token_required"
    err = await call(
        guest,
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/join",
        403,
        json={"name": "Eve", "email": "eve@example.test", "token": tok["ann@example.test"]},
    )
    assert err["error"]["code"] == "bad_token"
    await call(
        guest,
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/join",
        403,
        json={"name": "Ann", "email": "ann@example.test", "token": "made-up"},
    )
    joined = await call(
        guest,
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/join",
        200,
        json={"email": "ann@example.test", "token": tok["ann@example.test"]},
    )
    assert tokens.verify(SECRET, joined["token"]).identity.startswith("inv")


async def test_paid_events_are_off_on_the_trial_and_tickets_respect_currency_limits(api):
    """R-ACC-1 (no paid webinars on the trial), R-BILL-11 (ticket price limits), R-BILL-10 (a linked payment
    provider first; tests/api/test_tickets.py has the rest of the flow)."""
    http, _ = await signup(api)
    err = await call(
        http,
        "POST",
        "/api/v1/events",
        402,
        json={
            "kind": "permanent",
            "name": "$",
            "access": "paid",
            "ticketPrice": "10",
            "ticketCurrency": "USD",
        },
    )
    assert "trial" in err["error"]["message"]
    await paid(http, "mywebinars")
    err = await call(
        http,
        "POST",
        "/api/v1/events",
        400,
        json={
            "kind": "permanent",
            "name": "$",
            "access": "paid",
            "ticketPrice": "200001",
            "ticketCurrency": "RUB",
        },
    )
    assert "200000 RUB" in err["error"]["message"]
    err = await call(
        http,
        "POST",
        "/api/v1/events",
        409,
        json={
            "kind": "permanent",
            "name": "$",
            "access": "paid",
            "ticketPrice": "10",
            "ticketCurrency": "USD",
        },
    )
    assert err["error"]["code"] == "payment_provider_required"
    await call(
        http, "PUT", "/api/v1/payment-provider", 200, json={"kind": "manual", "instructions": "IBAN X"}
    )
    ev = await call(
        http,
        "POST",
        "/api/v1/events",
        201,
        json={
            "kind": "permanent",
            "name": "$",
            "access": "paid",
            "ticketPrice": "200000",
            "ticketCurrency": "RUB",
        },
    )
    assert (ev["ticketPrice"], ev["ticketCurrency"]) == ("200000.00", "RUB")
    err = await call(
        api.client(),
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/join",
        403,
        json={"name": "Payer", "email": "payer@example.test"},
    )
    assert "ticket" in err["error"]["message"]


# ---------------------------------------------------------------- registration (R-ROOM-9)


async def test_registration_default_and_custom_fields_redirect_and_group(api):
    http, _ = await signup(api)
    ev = await call(
        http,
        "POST",
        "/api/v1/events",
        201,
        json={
            "kind": "permanent",
            "name": "With registration",
            "registration": {
                "enabled": True,
                "redirectUrl": "https://example.test/thanks",
                "fields": [
                    {"name": "company", "label": "Company", "required": True},
                    {"name": "size", "label": "Team size", "type": "select", "options": ["1-10", "11+"]},
                ],
            },
        },
    )
    form = ev["registration"]
    assert [f["name"] for f in form["fields"]] == ["firstName", "lastName", "email", "company", "size"]
    guest = api.client()
    public = await call(guest, "GET", f"/api/v1/public/events/{ev['roomId']}", 200)
    assert public["registration"] == form
    err = await call(
        guest,
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/join",
        403,
        json={"name": "Kate", "email": "kate@example.test"},
    )
    assert err["error"]["code"] == "registration_required"
    base = {"firstName": "Kate", "lastName": "Smirnova", "email": "kate@example.test"}
    err = await call(guest, "POST", f"/api/v1/public/events/{ev['roomId']}/registrations", 400, json=base)
    assert "Company" in err["error"]["message"]
    err = await call(
        guest,
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/registrations",
        400,
        json={**base, "fields": {"company": "ACME", "size": "a lot"}},
    )
    assert "Team size" in err["error"]["message"]
    done = await call(
        guest,
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/registrations",
        201,
        json={**base, "fields": {"company": "ACME", "size": "11+"}},
    )
    assert done["redirectUrl"] == "https://example.test/thanks"
    await call(
        guest,
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/registrations",
        409,
        json={**base, "fields": {"company": "ACME"}},
    )
    await call(
        guest,
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/join",
        200,
        json={"name": "Kate", "email": "kate@example.test"},
    )
    regs = await call(http, "GET", f"/api/v1/events/{ev['id']}/registrations", 200)
    assert regs["total"] == 1 and regs["items"][0]["fields"] == {"company": "ACME", "size": "11+"}
    groups = (await call(http, "GET", "/api/v1/groups", 200))["items"]
    assert [(g["kind"], g["members"]) for g in groups] == [("registrations", 1)]  # R-ACC-6


async def test_registration_is_optional(api):
    http, _ = await signup(api)
    ev = await call(
        http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "No registration"}
    )
    err = await call(
        api.client(),
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/registrations",
        409,
        json={"firstName": "A", "lastName": "B", "email": "ab@example.test"},
    )
    assert err["error"]["code"] == "registration_closed"


# ---------------------------------------------------------------- invitations (R-ROOM-10) and branding
# (R-ROOM-11)


async def test_invitations_from_pasted_addresses_contacts_and_groups_carry_link_id_dial_in(api):
    http, _ = await signup(api)
    c1 = await call(
        http, "POST", "/api/v1/contacts", 201, json={"name": "Пётр Иванов", "email": "petr@example.test"}
    )
    c2 = await call(
        http, "POST", "/api/v1/contacts", 201, json={"name": "Grace", "email": "grace@example.test"}
    )
    g = await call(http, "POST", "/api/v1/groups", 201, json={"name": "Team"})
    await call(http, "POST", f"/api/v1/groups/{g['id']}/members", 200, json={"contactIds": [c2["id"]]})
    ev = await call(
        http,
        "POST",
        "/api/v1/events",
        201,
        json={
            "kind": "scheduled",
            "name": "Launch",
            "startsAt": "2031-05-04T15:00:00+00:00",
            "timezone": "Europe/Moscow",
            "dialIn": True,
            "agenda": "Demo",
        },
    )
    invs = await call(
        http,
        "POST",
        f"/api/v1/events/{ev['id']}/invitations",
        201,
        json={"emails": ["Pasted@Example.test"], "contactIds": [c1["id"]], "groupIds": [g["id"]]},
    )
    assert sorted(i["email"] for i in invs["items"]) == [
        "grace@example.test",
        "pasted@example.test",
        "petr@example.test",
    ]
    [msg] = await api.mail.wait("petr@example.test")
    text = text_of(msg)
    assert msg["Subject"] == "Invitation: Launch"
    assert "Пётр Иванов" in text and f"http://meet.example.test/room/{ev['roomId']}" in text
    assert f"Room ID: {ev['roomId']}" in text and "Moscow +7 495 669 4207" in text and "London" in text
    assert "2031-05-04 18:00 Europe/Moscow" in text and "Agenda: Demo" in text
    # presenters get their personal link
    pres = await call(
        http,
        "POST",
        f"/api/v1/events/{ev['id']}/invitations",
        201,
        json={"emails": ["speaker@example.test"], "role": "presenter"},
    )
    [pmsg] = await api.mail.wait("speaker@example.test")
    assert f"?presenter={pres['items'][0]['token']}" in text_of(pmsg) and "as a presenter" in text_of(pmsg)
    joined = await call(
        api.client(),
        "POST",
        f"/api/v1/rooms/{ev['roomId']}/join",
        200,
        json={"name": "Speaker", "email": "speaker@example.test", "presenterKey": pres["items"][0]["token"]},
    )
    assert joined["role"] == "presenter"
    err = await call(
        http, "POST", f"/api/v1/events/{ev['id']}/invitations", 404, json={"contactIds": [999999]}
    )
    assert err["error"]["code"] == "not_found"


async def test_settings_change_reminds_to_resend_and_resend_brings_invitees_up_to_date(api):
    http, owner = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Changing"})
    await call(
        http, "POST", f"/api/v1/events/{ev['id']}/invitations", 201, json={"emails": ["x@example.test"]}
    )
    changed = await call(http, "PATCH", f"/api/v1/events/{ev['id']}", 200, json={"agenda": "New agenda"})
    assert changed["invitationsOutdated"] == 1 and "re-send" in changed["reminder"]
    [reminder] = await api.mail.wait(owner["user"]["email"])
    assert "Re-send" in reminder["Subject"]
    listed = await call(http, "GET", f"/api/v1/events/{ev['id']}/invitations", 200)
    assert listed["items"][0]["outdated"] is True
    again = await call(http, "POST", f"/api/v1/events/{ev['id']}/invitations/resend", 200, json={})
    assert again["items"][0]["sentCount"] == 2 and again["items"][0]["outdated"] is False
    msgs = await api.mail.wait("x@example.test", 2)
    assert "New agenda" in text_of(msgs[1])
    assert (await call(http, "GET", f"/api/v1/events/{ev['id']}", 200))["invitationsOutdated"] == 0


async def test_invitations_during_the_event_but_not_after(api):
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "instant", "name": "Live now"})
    await call(
        http, "POST", f"/api/v1/events/{ev['id']}/invitations", 201, json={"emails": ["late@example.test"]}
    )
    await call(http, "POST", f"/api/v1/events/{ev['id']}/end", 200)
    err = await call(
        http, "POST", f"/api/v1/events/{ev['id']}/invitations", 409, json={"emails": ["later@example.test"]}
    )
    assert "over" in err["error"]["message"]


async def test_russian_invitation_with_branding_blocks_in_the_chosen_order_and_signature(api):
    http, _ = await signup(api, language="ru")
    await call(http, "PATCH", "/api/v1/account/settings", 200, json={"signature": "Ольга, ООО Ромашка"})
    ev = await call(
        http,
        "POST",
        "/api/v1/events",
        201,
        json={
            "kind": "permanent",
            "name": "Вебинар",
            "language": "ru",
            "access": "token",
            "branding": {
                "logo": "https://cdn.example.test/logo.png",
                "colors": {"primary": "#ff0000"},
                "backgrounds": {"lobby": "https://cdn.example.test/lobby.jpg"},
                "emailBlocks": [
                    {"type": "token"},
                    {"type": "text", "value": "Ждём вас!"},
                    {"type": "room_id"},
                    {"type": "logo"},
                    {"type": "link"},
                ],
            },
        },
    )
    assert ev["branding"]["backgrounds"]["lobby"] == "https://cdn.example.test/lobby.jpg"
    await call(
        http, "POST", f"/api/v1/events/{ev['id']}/invitations", 201, json={"emails": ["ru@example.test"]}
    )
    [msg] = await api.mail.wait("ru@example.test")
    text = text_of(msg)
    assert msg["Subject"] == "Приглашение: Вебинар"
    order = [text.index(s) for s in ("Ваш личный токен", "Ждём вас!", "ID переговорной", "Подключиться")]
    assert order == sorted(order)
    assert "Программа" not in text and "Ольга, ООО Ромашка" in text
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert '<img src="https://cdn.example.test/logo.png"' in html
    public = await call(api.client(), "GET", f"/api/v1/public/events/{ev['roomId']}", 200)
    assert public["branding"]["colors"] == {"primary": "#ff0000"}


async def test_invitation_preview_lays_out_the_branding_being_edited_and_sends_nothing(api):
    """Issue 20 (the dashboard's e-mail layout, R-ROOM-11): the preview is the invitation an attendee would
    get, with the unsaved branding's blocks (over the account's signature); the event's own without one; no
    mail, no invitation; another account's event is not found; bad blocks are refused."""
    http, _ = await signup(api)
    await call(http, "PATCH", "/api/v1/account/settings", 200, json={"branding": {"signature": "Olga, Acme"}})
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Launch"})
    path = f"/api/v1/events/{ev['id']}/invitations/preview"
    blocks = [{"type": "text", "value": "See you!"}, {"type": "room_id"}, {"type": "link"}]
    got = await call(http, "POST", path, 200, json={"branding": {"emailBlocks": blocks}})
    assert got["subject"] == "Invitation: Launch"
    order = [got["text"].index(s) for s in ("See you!", f"Room ID: {ev['roomId']}", "Join: http")]
    assert order == sorted(order) and "Olga, Acme" in got["text"], got["text"]
    assert "Accept" not in got["text"] and "<p>See you!</p>" in got["html"]
    standard = await call(http, "POST", path, 200, json={})  # the event's own: the standard layout
    assert "See you!" not in standard["text"] and "Accept" in standard["text"]
    assert (await call(http, "GET", f"/api/v1/events/{ev['id']}/invitations", 200))["total"] == 0
    async with api.app[keys.DB].read() as s:  # nothing queued in the outbox
        assert await s.scalar(select(func.count()).select_from(Email).where(Email.kind == "invitation")) == 0
    bad = await call(http, "POST", path, 400, json={"branding": {"emailBlocks": [{"type": "video"}]}})
    assert bad["error"]["message"].startswith("branding.emailBlocks.0.type"), bad
    other, _ = await signup(api)
    await call(other, "POST", path, 404, json={})


async def test_embed_snippet(api):
    """R-ROOM-12."""
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": 'Say "hi" <b>'})
    snippet = (await call(http, "GET", f"/api/v1/events/{ev['id']}/embed", 200))["html"]
    assert (
        snippet.startswith("<iframe ")
        and f'src="http://meet.example.test/room/{ev["roomId"]}?embed=1"' in snippet
    )
    assert 'allow="camera; microphone' in snippet and "<b>" not in snippet and "&quot;hi&quot;" in snippet


async def test_a_thank_you_page_set_then_taken_back(api):
    """R-STAT-3, issue 20 (the dashboard's event form): PATCH thankYouUrl null goes back to the server's own
    thank-you page; a missing thankYouUrl leaves it as it is."""
    http, _ = await signup(api)
    ev = await call(
        http,
        "POST",
        "/api/v1/events",
        201,
        json={"kind": "permanent", "name": "Talk", "thankYouUrl": "https://x.test/t"},
    )
    assert ev["thankYouUrl"] == "https://x.test/t"
    kept = await call(http, "PATCH", f"/api/v1/events/{ev['id']}", 200, json={"agenda": "News"})
    assert kept["thankYouUrl"] == "https://x.test/t"
    cleared = await call(http, "PATCH", f"/api/v1/events/{ev['id']}", 200, json={"thankYouUrl": None})
    assert cleared["thankYouUrl"] is None
    assert (await call(http, "GET", f"/api/v1/events/{ev['id']}", 200))["thankYouUrl"] is None
    err = await call(http, "PATCH", f"/api/v1/events/{ev['id']}", 400, json={"thankYouUrl": "ftp://x.test/t"})
    assert err["error"]["code"] == "bad_request" and err["error"]["message"].startswith("thankYouUrl:"), err


# ---------------------------------------------------------------- after the event (R-STAT-2, -3)


async def test_thank_you_redirect_and_email_after_the_event(api):
    http, _ = await signup(api)
    ev = await call(
        http,
        "POST",
        "/api/v1/events",
        201,
        json={"kind": "instant", "name": "Talk", "thankYouUrl": "https://example.test/thank-you"},
    )
    # the thank-you mail goes to invited (or confirmed) addresses only: issue 14 finding 9
    await call(
        http, "POST", f"/api/v1/events/{ev['id']}/invitations", 201, json={"emails": ["lena@example.test"]}
    )
    [invitation] = await api.mail.wait("lena@example.test")
    api.mail.messages.remove(invitation)
    joined = await call(
        api.client(),
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/join",
        200,
        json={"name": "Lena", "email": "lena@example.test"},
    )
    assert joined["thankYouUrl"] == "https://example.test/thank-you"
    assert api.mail.to("lena@example.test") == []
    await call(http, "POST", f"/api/v1/events/{ev['id']}/end", 200)
    [msg] = await api.mail.wait("lena@example.test")
    assert msg["Subject"] == "Thank you for attending Talk" and "https://example.test/thank-you" in text_of(
        msg
    )
    assert (await history(http))[0]["participants"] == 1
    err = await call(
        api.client(),
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/join",
        410,
        json={"name": "Late", "email": "late@example.test"},
    )
    assert err["error"]["code"] == "ended"


async def test_history_is_newest_first_and_paginated(api):
    http, _ = await signup(api)
    for n in range(3):
        ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "instant", "name": f"S{n}"})
        await call(http, "POST", f"/api/v1/events/{ev['id']}/end", 200)
    assert [h["name"] for h in await history(http)] == ["S2", "S1", "S0"]
    page = await call(http, "GET", "/api/v1/history?limit=2&offset=1", 200)
    assert [h["name"] for h in page["items"]] == ["S1", "S0"] and page["total"] == 3
    await call(http, "GET", "/api/v1/history?limit=0", 400)
    await call(http, "GET", "/api/v1/history?limit=x", 400)
