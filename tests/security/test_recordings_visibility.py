"""Issue 14 finding 6: an additional user of an account reached the recordings (and their WebM files) of
events they cannot see: they listed, published, e-mailed, trimmed and deleted the owner's recordings. Now a
recording follows its event's visibility, for every verb, and answers 404 (never 403: its existence is not
revealed); the WebM in the file library follows it too, and so does a file uploaded into the room of an event
the user cannot see. The account's shared library (plain uploads) stays shared by design. Through the real
HTTP API with an aiortc publisher in the room, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import aiohttp

from mediaserver.rtc import tokens
from tests.api.conftest import call, link_token, paid, recording_ready, signup, tus_send
from tests.e2e.peers import join_and_publish

TUS = {"Tus-Resumable": "1.0.0"}


async def _record(api: Any, http: aiohttp.ClientSession, ev: dict, seconds: float = 1.5) -> dict:
    """A host publishes into the live event's room; ``http`` records ``seconds`` of it; the recording."""
    tok = tokens.issue(api.settings.secret, ev["roomId"], "host", "Host", "host")
    async with aiohttp.ClientSession() as session:
        _, conn, _ = await join_and_publish(session, api.base_url, tok)
        await asyncio.sleep(1)
        rec = await call(http, "POST", f"/api/v1/events/{ev['id']}/recording/start", 201)
        await asyncio.sleep(seconds)
        await call(http, "POST", f"/api/v1/events/{ev['id']}/recording/stop", 200)
        await conn.close()
    done = await recording_ready(http, rec["id"])
    assert done["status"] == "ready" and done["fileId"], done
    return done


async def _upload(http: aiohttp.ClientSession, path: str, name: str, data: bytes) -> None:
    meta = f"filename {base64.b64encode(name.encode()).decode()}"
    async with http.post(
        path, headers={**TUS, "Upload-Length": str(len(data)), "Upload-Metadata": meta}
    ) as r:
        assert r.status == 201, await r.text()
        location = r.headers["Location"]
    await tus_send(http, location, data)


async def _additional_user(api: Any, owner: aiohttp.ClientSession) -> aiohttp.ClientSession:
    """An activated additional user of the owner's account, signed in (session cookie)."""
    addr = "additional@example.test"
    await call(owner, "POST", "/api/v1/users", 201, json={"name": "Ivan", "email": addr})
    [msg] = await api.mail.wait(addr)
    user = api.client()
    body = {"token": link_token(msg), "password": "a good pw1"}
    await call(user, "POST", "/api/v1/activate", 200, json=body)
    return user


async def test_additional_user_cannot_reach_recordings_of_events_they_cannot_see(api):
    """issue 14 finding 6: every verb on another user's recording is 404 with the same answer as a recording
    that does not exist; the list leaves it out; its WebM and the files of that event's room are not in the
    user's library and cannot be downloaded or deleted; the user's own recordings and the shared library
    stay theirs, and the owner still sees everything."""
    owner, _ = await signup(api)
    await paid(owner, "live", extra_users=1)
    extra = await _additional_user(api, owner)

    # the owner's event: recorded, a file uploaded into its room, then ended
    ev = await call(owner, "POST", "/api/v1/events", 201, json={"kind": "instant", "name": "Board"})
    secret_rec = await _record(api, owner, ev)
    await _upload(owner, f"/api/v1/rooms/{ev['roomId']}/uploads", "board-notes.pdf", b"%PDF-1.4 notes")
    await call(owner, "POST", f"/api/v1/events/{ev['id']}/end", 200)
    # the shared library: a plain upload of the account
    await _upload(owner, "/api/v1/uploads", "shared-deck.pdf", b"%PDF-1.4 shared")

    owner_files = {f["name"]: f for f in (await call(owner, "GET", "/api/v1/files", 200))["items"]}
    room_file = owner_files["board-notes.pdf"]
    assert room_file["eventId"] == ev["id"]

    rid = secret_rec["id"]
    missing = await call(extra, "GET", "/api/v1/recordings/999999", 404)
    for method, path, body in (
        ("GET", f"/api/v1/recordings/{rid}", None),
        ("POST", f"/api/v1/recordings/{rid}/publish", None),
        ("POST", f"/api/v1/recordings/{rid}/unpublish", None),
        ("POST", f"/api/v1/recordings/{rid}/send", None),
        ("POST", f"/api/v1/recordings/{rid}/trim", {"start": 0, "end": 1}),
        ("DELETE", f"/api/v1/recordings/{rid}", None),
    ):
        got = await call(extra, method, path, 404, **({"json": body} if body else {}))
        assert got == missing, (method, path, got)  # the same answer as for no recording at all
    assert (await call(extra, "GET", "/api/v1/recordings", 200))["total"] == 0

    # the recording's WebM and the room's file follow the event; the shared upload is shared
    files = (await call(extra, "GET", "/api/v1/files", 200))["items"]
    assert [f["name"] for f in files] == ["shared-deck.pdf"], files
    for fid in (secret_rec["fileId"], room_file["id"]):
        await call(extra, "GET", f"/api/v1/files/{fid}/content", 404)
        await call(extra, "DELETE", f"/api/v1/files/{fid}", 404)
    async with extra.get(f"/api/v1/files/{owner_files['shared-deck.pdf']['id']}/content") as r:
        assert r.status == 200 and await r.read() == b"%PDF-1.4 shared"

    # nor can its WebM be played through an on-demand event of the additional user's; the shared file can
    od = {"kind": "on_demand", "name": "Replay", "videoFileId": secret_rec["fileId"]}
    await call(extra, "POST", "/api/v1/events", 404, json=od)
    od["videoFileId"] = owner_files["shared-deck.pdf"]["id"]
    err = await call(extra, "POST", "/api/v1/events", 415, json=od)
    assert err["error"]["code"] == "not_a_video", err  # reached, only not a video

    # nothing of the owner's changed
    rec = await call(owner, "GET", f"/api/v1/recordings/{rid}", 200)
    assert rec["published"] is False and rec["status"] == "ready"

    # the additional user's own event and recording are theirs; the owner sees both recordings
    mine = await call(extra, "POST", "/api/v1/events", 201, json={"kind": "instant", "name": "Mine"})
    own = await _record(api, extra, mine)
    listed = await call(extra, "GET", "/api/v1/recordings", 200)
    assert [r["id"] for r in listed["items"]] == [own["id"]] and listed["total"] == 1
    pub = await call(extra, "POST", f"/api/v1/recordings/{own['id']}/publish", 200)
    assert pub["published"]
    assert own["fileId"] in [f["id"] for f in (await call(extra, "GET", "/api/v1/files", 200))["items"]]
    everything = await call(owner, "GET", "/api/v1/recordings", 200)
    assert {r["id"] for r in everything["items"]} == {rid, own["id"]}
