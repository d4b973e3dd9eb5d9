"""The public event information the room page reads before joining (GET /api/v1/public/events/{roomId}), on
SQLite and PostgreSQL: it tells what to ask (R-ROOM-6: the access type; R-ROOM-9: the registration form with
its default and custom fields, typed in the OpenAPI document), what to refuse early (R-ROOM-4: over, on
demand), and never a secret (the password, the host key, invitation tokens)."""

from __future__ import annotations

import json

from signaling.api.openapi import render
from tests.api.conftest import call, paid, signup

CUSTOM = [
    {"name": "company", "label": "Company", "required": True},
    {"name": "size", "label": "Team size", "type": "select", "options": ["1-10", "11+"]},
    {"name": "consent", "label": "I agree to be contacted", "type": "checkbox"},
]


async def test_public_info_declares_the_registration_form_and_access(api):
    """R-ROOM-9: defaults first, then the custom fields in order, each with its type, whether it is
    required and its options; the redirect after registering. R-ROOM-6: the access type."""
    http, _ = await signup(api)
    ev = await call(
        http,
        "POST",
        "/api/v1/events",
        201,
        json={
            "kind": "permanent",
            "name": "Registered talk",
            "language": "ru",
            "access": "password",
            "password": "open sesame",
            "registration": {"enabled": True, "fields": CUSTOM, "redirectUrl": "https://example.test/after"},
        },
    )
    public = await call(api.client(), "GET", f"/api/v1/public/events/{ev['roomId']}", 200)
    assert (public["access"], public["status"], public["kind"], public["language"]) == (
        "password",
        "planned",
        "permanent",
        "ru",
    )
    form = public["registration"]
    assert form["enabled"] is True and form["redirectUrl"] == "https://example.test/after"
    assert [(f["name"], f["type"], f["required"]) for f in form["fields"]] == [
        ("firstName", "text", True),
        ("lastName", "text", True),
        ("email", "email", True),
        ("company", "text", True),
        ("size", "select", False),
        ("consent", "checkbox", False),
    ]
    assert form["fields"][4]["options"] == ["1-10", "11+"] and form["fields"][0]["options"] == []
    assert form["fields"][3]["label"] == "Company"


async def test_public_info_reveals_no_secrets(api):
    """R-ROOM-6: the page learns that a password or a token is needed, never the password, the host key or any
    invitee's token."""
    http, _ = await signup(api)
    await paid(http, "mywebinars")
    await call(
        http, "PUT", "/api/v1/payment-provider", 200, json={"kind": "manual", "instructions": "IBAN X"}
    )  # R-BILL-10
    pw = await call(
        http,
        "POST",
        "/api/v1/events",
        201,
        json={"kind": "permanent", "name": "P", "access": "password", "password": "open sesame"},
    )
    tok = await call(
        http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "T", "access": "token"}
    )
    ticket = await call(
        http,
        "POST",
        "/api/v1/events",
        201,
        json={
            "kind": "permanent",
            "name": "$",
            "access": "paid",
            "ticketPrice": "15",
            "ticketCurrency": "EUR",
        },
    )
    invs = await call(
        http, "POST", f"/api/v1/events/{tok['id']}/invitations", 201, json={"emails": ["ann@example.test"]}
    )
    secrets = ["open sesame", invs["items"][0]["token"]]
    for ev, access in ((pw, "password"), (tok, "token"), (ticket, "paid")):
        public = await call(api.client(), "GET", f"/api/v1/public/events/{ev['roomId']}", 200)
        assert public["access"] == access
        text = json.dumps(public)
        host_key = ev["hostUrl"].split("host=")[1]
        for secret in [*secrets, host_key]:
            assert secret not in text, (secret, public)
        assert not {"password", "passwordHash", "hostKey", "hostUrl", "invitations", "thankYouUrl"} & set(
            public
        )
    public = await call(api.client(), "GET", f"/api/v1/public/events/{ticket['roomId']}", 200)
    assert (public["ticketPrice"], public["ticketCurrency"]) == ("15.00", "EUR")


async def test_public_info_says_when_the_event_is_over_or_on_demand(api):
    """R-ROOM-4: the page shows a message instead of a form; the join refuses the same way."""
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "instant", "name": "Done"})
    assert (await call(api.client(), "GET", f"/api/v1/public/events/{ev['roomId']}", 200))["status"] == "live"
    await call(http, "POST", f"/api/v1/events/{ev['id']}/end", 200)
    assert (await call(api.client(), "GET", f"/api/v1/public/events/{ev['roomId']}", 200))["status"] == "done"
    err = await call(
        api.client(),
        "POST",
        f"/api/v1/rooms/{ev['roomId']}/join",
        410,
        json={"name": "Late", "email": "late@example.test"},
    )
    assert err["error"]["code"] == "ended"
    od = await call(http, "POST", "/api/v1/events", 201, json={"kind": "on_demand", "name": "Replay"})
    assert (await call(api.client(), "GET", f"/api/v1/public/events/{od['roomId']}", 200))[
        "kind"
    ] == "on_demand"
    err = await call(
        api.client(),
        "POST",
        f"/api/v1/rooms/{od['roomId']}/join",
        409,
        json={"name": "Viewer", "email": "v@example.test"},
    )
    assert err["error"]["code"] == "no_video"  # R-AUTO-2: watched from a video, none attached yet


async def test_public_info_only_for_event_rooms(api):
    """A plain room (no event) or an unknown ID answers 404; the room's own info says whether it belongs to an
    event, so the page asks only then (R-ROOM-6)."""
    http, _ = await signup(api)
    planned = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Later"})
    live = await call(http, "POST", "/api/v1/events", 201, json={"kind": "instant", "name": "Now"})
    for ev in (planned, live):  # before its room exists in memory, and while it does
        assert (await call(api.client(), "GET", f"/api/v1/rooms/{ev['roomId']}", 200))["event"] is True
    room = await call(api.client(), "POST", "/api/v1/rooms", 201, json={"name": "Ad hoc"})
    await call(api.client(), "GET", f"/api/v1/public/events/{room['id']}", 404)
    assert (await call(api.client(), "GET", f"/api/v1/rooms/{room['id']}", 200))["event"] is False
    await call(api.client(), "GET", "/api/v1/public/events/123456789", 404)
    await call(api.client(), "GET", "/api/v1/public/events/12345", 404)


def test_openapi_declares_the_public_registration_form():
    doc = json.loads(render())
    schemas = doc["components"]["schemas"]
    ref = doc["paths"]["/api/v1/public/events/{roomId}"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]
    assert ref["schema"]["$ref"].endswith("/PublicEvent")
    assert schemas["PublicEvent"]["properties"]["registration"]["$ref"].endswith("/RegistrationForm")
    field = schemas["FormField"]["properties"]
    assert set(field["type"]["enum"]) == {"text", "textarea", "email", "phone", "select", "checkbox"}
    assert {"name", "label"} <= set(schemas["FormField"]["required"])
    assert schemas["EventOut"]["properties"]["registration"]["$ref"].endswith("/RegistrationForm")
