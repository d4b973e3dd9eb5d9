"""Issue 14 finding 11: secrets at rest. The database and the uploads were world-readable (0644 in 0755
directories); the plaintext of a new API key was kept 24 hours as the stored answer of its Idempotency-Key;
events' host keys, invitation tokens, webhook signing secrets and payment providers' secrets were stored in
clear. Now the data directory is 0700 and what the server writes in it 0600; the secrets the server must use
again are sealed under a key of the data directory (sealing.key, 0600) and invitations are found by a digest;
a replay of an API key's creation answers 409 without the key; migration 0009 converts existing rows. The
flows that use those secrets still work. Through the real HTTP API (in-process on SQLite and PostgreSQL, and
`mediaserver serve` as a process for the file modes)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import stat
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
from aiohttp import web

from mediaserver.outbox import webhooks
from mediaserver.rtc import tokens
from mediaserver.store import sealed
from mediaserver.store.db import Database
from signaling import keys
from tests.api.conftest import call, hook_receiver, loopback, paid, recording_ready, signup, text_of, tus_send
from tests.conftest import API_KEY, SECRET, mail_spool, serve, signed_up
from tests.e2e.peers import join_and_publish

TUS = {"Tus-Resumable": "1.0.0"}
GATEWAY = {"kind": "gateway", "checkoutUrl": "https://pay.example.test/c?ref={reference}&n={callback}"}


async def _everything_stored(db: Database) -> str:
    """Every value of every table, as the database holds it (raw SQL: nothing unsealed), as one text."""
    async with db.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
        out = []
        for table in tables:
            for row in await conn.exec_driver_sql(f'SELECT * FROM "{table}"'):
                out.extend(str(v) for v in row)
    return "\n".join(out)


def _files_bytes(data_dir: Path) -> bytes:
    """The bytes of the SQLite database and its -wal/-shm files (empty on PostgreSQL)."""
    return b"".join(p.read_bytes() for p in data_dir.rglob("*.db*"))


async def _secrets_flow(api: Any, hook_url: str, got: list[tuple[dict, bytes]]) -> dict[str, str]:
    """Make every kind of secret through the API and check that each still works; their clear values."""
    http, _ = await signup(api)
    await paid(http, "live")
    # an API key, created with an Idempotency-Key: the retry does not show the key again
    idem = {"Idempotency-Key": "make-key-" + uuid.uuid4().hex}
    made = await call(http, "POST", "/api/v1/api-keys", 201, json={"name": "ci"}, headers=idem)
    api_key = made["key"]
    async with http.post("/api/v1/api-keys", json={"name": "ci"}, headers=idem) as r:
        replay = await r.json()
        assert r.status == 409 and r.headers["Idempotent-Replayed"] == "true", (r.status, replay)
    assert replay["error"]["code"] == "secret_not_replayed" and str(made["id"]) in replay["error"]["message"]
    assert api_key not in json.dumps(replay)
    keys_now = await call(http, "GET", "/api/v1/api-keys", 200)
    assert [k["id"] for k in keys_now["items"]] == [made["id"]]  # made once
    assert (await call(api.client(api_key), "GET", "/api/v1/api-keys", 200))["items"]

    # a webhook: its deliveries are signed with the secret shown at creation
    hook = await call(
        http, "POST", "/api/v1/webhooks", 201, json={"url": hook_url, "events": ["event.created"]}
    )
    # a token-protected event: the host link and an invitee's token open it
    ev = await call(
        http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Board", "access": "token"}
    )
    host_key = ev["hostUrl"].split("host=")[1]
    invs = await call(
        http, "POST", f"/api/v1/events/{ev['id']}/invitations", 201, json={"emails": ["ann@x.test"]}
    )
    token = invs["items"][0]["token"]
    [msg] = await api.mail.wait("ann@x.test")
    assert f"token={token}" in text_of(msg)
    guest = api.client()
    join = f"/api/v1/public/events/{ev['roomId']}/join"
    host = await call(guest, "POST", join, 200, json={"name": "H", "email": "h@x.test", "hostKey": host_key})
    assert tokens.verify(api.settings.secret, host["token"]).role == "host"
    await call(guest, "POST", join, 403, json={"name": "H", "email": "h@x.test", "hostKey": host_key + "x"})
    await call(guest, "POST", join, 200, json={"name": "Ann", "email": "ann@x.test", "token": token})
    # re-sending keeps the same link
    await call(http, "POST", f"/api/v1/events/{ev['id']}/invitations/resend", 200, json={})
    msgs = await api.mail.wait("ann@x.test", count=2)
    assert f"token={token}" in text_of(msgs[-1])
    # a payment provider's secret: a callback signed with it is believed, another is not (401)
    linked = await call(http, "PUT", "/api/v1/payment-provider", 200, json=GATEWAY)
    provider_secret = linked["secret"]
    body = json.dumps({"paymentId": "p1", "reference": "NOPE", "status": "failed"}).encode()
    good = "sha256=" + hmac.new(provider_secret.encode(), body, hashlib.sha256).hexdigest()
    callback = f"/api/v1/public/payment-callbacks/{linked['id']}"
    for signature, wanted in (("sha256=" + "0" * 64, True), (good, False)):
        async with guest.post(callback, data=body, headers={"X-Payment-Signature": signature}) as r:
            assert (r.status == 401) is wanted, (r.status, await r.text())

    for _ in range(200):
        if got:
            break
        await asyncio.sleep(0.05)
    headers, delivered = got[0]
    assert webhooks.verify(
        hook["secret"], headers["X-Mediaserver-Signature"], headers["X-Mediaserver-Delivery"], delivered
    )
    return {
        "api key": api_key,
        "host key": host_key,
        "invitation token": token,
        "webhook secret": hook["secret"],
        "provider secret": provider_secret,
    }


@loopback
async def test_the_database_holds_no_secret_in_clear_and_the_flows_work(api):
    """issue 14 finding 11: after making an API key (with an Idempotency-Key), a token event with its host
    key and an invitation, a webhook and a payment provider, neither the tables nor the SQLite files hold
    any of their clear values; each still works (host link, invitation link and re-send, webhook signature,
    provider callback), and a replay of the key's creation does not return the key."""
    got: list[tuple[dict, bytes]] = []

    async def handle(request: web.Request) -> web.Response:
        got.append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    async with hook_receiver(handle) as url:
        secrets_ = await _secrets_flow(api, url, got)
    stored = await _everything_stored(api.app[keys.DB])
    raw = _files_bytes(Path(api.settings.data_dir).parent) + _files_bytes(Path(api.settings.data_dir))
    for what, value in secrets_.items():
        assert value not in stored, f"the {what} is in the database in clear"
        assert value.encode() not in raw, f"the {what} is in the database files in clear"
    assert sealed.PREFIX in stored  # they are there, sealed
    key_file = Path(api.settings.data_dir) / sealed.KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(api.settings.data_dir).stat().st_mode) == 0o700


@loopback
async def test_migration_0009_seals_existing_rows_and_0008_unseals_them(api):
    """issue 14 finding 11: rows written in clear before migration 0009 (made here by downgrading to 0008,
    which unseals them, plus an API key's stored answer as 0008 kept it) are sealed in place by the upgrade;
    invitations get their digest; the stored API key answer becomes the 409; the same links still work."""
    got: list[tuple[dict, bytes]] = []

    async def handle(request: web.Request) -> web.Response:
        got.append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    async with hook_receiver(handle) as url:
        secrets_ = await _secrets_flow(api, url, got)
    db = Database(api.settings.database_url, sealed.load_key(api.settings.data_dir))
    try:
        await db.downgrade("0008_invitation_declined")
        stored = await _everything_stored(db)
        for what in ("host key", "invitation token", "webhook secret", "provider secret"):
            assert secrets_[what] in stored, f"0008 keeps the {what} in clear"
        leaked = "msk_" + "L" * 43
        async with db.engine.begin() as conn:
            user_id = (await conn.exec_driver_sql("SELECT min(id) FROM users")).scalar()
            await conn.execute(
                sa.text(
                    "INSERT INTO idempotency_keys (user_id, key, request_hash, status_code, response, "
                    "created_at) VALUES (:u, 'old-key', :h, 201, :r, CURRENT_TIMESTAMP)"
                ),
                {"u": user_id, "h": "0" * 64, "r": json.dumps({"id": 99, "key": leaked})},
            )
        await db.migrate()
        stored = await _everything_stored(db)
        for what, value in {**secrets_, "old API key answer": leaked}.items():
            assert value not in stored, f"the {what} is still in clear after the upgrade"
        async with db.engine.connect() as conn:
            digest = (
                await conn.execute(
                    sa.text("SELECT token_hash FROM invitations WHERE token_hash = :h"),
                    {"h": hashlib.sha256(secrets_["invitation token"].encode()).hexdigest()},
                )
            ).scalar()
            status = (
                await conn.exec_driver_sql("SELECT status_code FROM idempotency_keys WHERE key = 'old-key'")
            ).scalar()
        assert digest and status == 409
    finally:
        await db.close()
    # the links handed out before still open the event
    ev_room = await _room_of_host_key(api, secrets_["host key"])
    guest = api.client()
    join = f"/api/v1/public/events/{ev_room}/join"
    await call(
        guest, "POST", join, 200, json={"name": "H", "email": "h@x.test", "hostKey": secrets_["host key"]}
    )
    await call(
        guest,
        "POST",
        join,
        200,
        json={"name": "Ann", "email": "ann@x.test", "token": secrets_["invitation token"]},
    )


async def _room_of_host_key(api: Any, host_key: str) -> str:
    """The room ID of the one event in the database (the flow made one)."""
    async with api.app[keys.DB].engine.connect() as conn:
        return str((await conn.exec_driver_sql("SELECT room_id FROM events")).scalar())


def _loose(data: Path) -> list[str]:
    """Whatever under ``data`` other users could read, write or enter."""
    return [
        f"{p} {stat.S_IMODE(p.stat().st_mode):o}"
        for p in [data, *data.rglob("*")]
        if stat.S_IMODE(p.stat().st_mode) & 0o077
    ]


async def test_served_data_directory_and_everything_in_it_are_private(tmp_path):
    """issue 14 finding 11: `mediaserver serve` (default umask 022 around it) narrows an open data directory
    to 0700 and writes every file there 0600: the SQLite database with its -wal/-shm, the sealing key, a tus
    upload, a recording's raw capture and its WebM."""
    old = os.umask(0o022)
    (tmp_path / "data").mkdir(mode=0o755)  # an older installation's data directory, open to others
    try:
        with serve(tmp_path, MEDIASERVER_SECRET=SECRET, MEDIASERVER_API_KEY=API_KEY) as (
            base,
            _p,
            _l,
        ):
            data = tmp_path / "data"
            addr = f"o-{uuid.uuid4().hex[:8]}@example.test"
            cookie = await asyncio.to_thread(signed_up, base, addr, "correct horse battery", mail_spool(data))
            async with aiohttp.ClientSession(base_url=base, headers={"Cookie": cookie}) as http:
                meta = f"filename {base64.b64encode(b'deck.pdf').decode()}"
                async with http.post(
                    "/api/v1/uploads", headers={**TUS, "Upload-Length": "9", "Upload-Metadata": meta}
                ) as r:
                    assert r.status == 201, await r.text()
                    location = r.headers["Location"]
                await tus_send(http, location, b"%PDF-1.4\n")
                ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "instant", "name": "Rec"})
                tok = tokens.issue(SECRET, ev["roomId"], "host", "Host", "host")
                async with aiohttp.ClientSession() as media:
                    _, conn, _ = await join_and_publish(media, base, tok)
                    await asyncio.sleep(1)
                    rec = await call(http, "POST", f"/api/v1/events/{ev['id']}/recording/start", 201)
                    await asyncio.sleep(1.5)
                    assert _loose(data) == []  # the raw capture while it is written
                    await call(http, "POST", f"/api/v1/events/{ev['id']}/recording/stop", 200)
                    await conn.close()
                done = await recording_ready(http, rec["id"])
                assert done["status"] == "ready", done
            names = {p.name for p in data.rglob("*")}
            assert {"mediaserver.db", "mediaserver.db-wal", sealed.KEY_FILE} <= names, names
            assert sum(1 for p in data.rglob("*.bin")) == 2  # the upload and the WebM
            assert _loose(data) == []
    finally:
        os.umask(old)
