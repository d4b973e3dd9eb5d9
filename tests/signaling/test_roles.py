"""The host makes an attendee a presenter in the room, and back (issue 17, R-INT-5), through the real
WebSocket: a phone or tablet attendee is refused, the plan's seats and the host's right are checked on the
server, a webinar's attendees see the new presenter come and go, and the person gets the room as their new
role sees it (the staff's interaction), also after a reconnection with their attendee token."""

from __future__ import annotations

from tests.signaling.client import make_offer
from tests.signaling.test_mobile import ANDROID, DESKTOP, connect_as, http, token  # noqa: F401
from tests.signaling.test_rooms import create


async def test_an_attendee_made_presenter_and_back_and_a_phone_refused(http, connect_as):  # noqa: F811
    room = await create(http, type="webinar")
    host = await connect_as(**{"User-Agent": DESKTOP})
    await host.ok("join", token=await token(http, room, "hal", "host"))
    ann = await connect_as(**{"User-Agent": DESKTOP})
    ann_token = await token(http, room, "ann")
    ann_id = (await ann.ok("join", token=ann_token))["participant"]["id"]
    bob = await connect_as(**{"User-Agent": DESKTOP})
    bob_id = (await bob.ok("join", token=await token(http, room, "bob")))["participant"]["id"]
    phone = await connect_as(**{"User-Agent": ANDROID})
    phone_id = (await phone.ok("join", token=await token(http, room, "pat")))["participant"]["id"]

    # only the host; a precise refusal for a phone (R-INT-5), a bad role, the host themself
    await ann.err("host", "forbidden", action="setRole", participant=bob_id, role="presenter")
    msg = await host.err("host", "mobile_presenter", action="setRole", participant=phone_id, role="presenter")
    assert "phone or tablet" in msg
    await host.err("host", "bad_request", action="setRole", participant=ann_id, role="host")
    await host.err("host", "not_found", action="setRole", participant="nobody", role="presenter")

    await ann.ok("hand.raise")
    await host.ok("host", action="setRole", participant=ann_id, role="presenter")
    changed = (await ann.note("roleChanged"))["params"]
    assert changed["role"] == "presenter" and changed["participant"]["canPublish"] is True
    assert {p["id"] for p in changed["participants"]} >= {bob_id, phone_id}  # the staff see every attendee
    assert "queue" in changed["interaction"]["hands"]  # the staff's view of the interaction
    joined = (await bob.note("participantJoined"))["params"]["participant"]  # bob did not see ann before
    assert joined["id"] == ann_id and joined["role"] == "presenter"
    await ann.ok("publish", sdp=await make_offer())

    # back with the same person's token after a drop: still a presenter
    bob.notes.clear()
    await ann.ws.close()
    ann2 = await connect_as(**{"User-Agent": DESKTOP})
    again = await ann2.ok("join", token=ann_token)
    assert again["participant"]["role"] == "presenter"

    # and an attendee again: bob no longer sees her, her publication ends
    assert (await bob.note("participantJoined"))["params"]["participant"]["id"] == again["participant"]["id"]
    bob.notes.clear()
    await host.ok("host", action="setRole", participant=again["participant"]["id"], role="attendee")
    assert (await ann2.note("roleChanged"))["params"]["role"] == "attendee"
    assert (await bob.note("participantLeft"))["params"]["participant"] == again["participant"]["id"]
    await ann2.err("publish", "forbidden", sdp=await make_offer())
