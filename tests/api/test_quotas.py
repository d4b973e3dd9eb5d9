"""Storage quotas beyond the trial through the real API on SQLite and PostgreSQL (R-FILE-1: 500 MB on the
trial up to 2 GB by plan, more can be bought; R-ACC-3: a sub-account's package has its own storage; R-FILE-3:
an upload that starts with any space left may overshoot, then nothing more until space is freed).

Space is filled with uploads that are started but not sent: an unfinished upload counts at its declared
length, so a few headers stand for gigabytes and the tests stay fast; the uploads that finish send small
real bodies."""

from __future__ import annotations

import base64

import aiohttp

from tests.api.conftest import TUS, Served, call, link_token, operator, paid, signup, tus_send

MB = 1024 * 1024
GB = 1024 * MB
# R-FILE-1 and this server's plan table (mediaserver/billing/plans.py), written out here so a change there
# shows
PLAN_STORAGE_MB = {"mywebinars": 1024, "mywebinars_pro": 2048, "live": 2048, "automated": 2048}


def _meta(**kw: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in kw.items())


async def _start(
    http: aiohttp.ClientSession, name: str, length: int, status: int = 201, path: str = "/api/v1/uploads"
) -> str | dict:
    """Start an upload of ``length`` bytes (nothing sent): its Location, or the JSON error when refused."""
    async with http.post(
        path, headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": _meta(filename=name)}
    ) as r:
        assert r.status == status, (r.status, await r.text())
        if status == 201:
            return r.headers["Location"]
        err = await r.json()
        assert set(err) == {"error"} and err["error"]["message"], err
        return err["error"]


async def _upload(http: aiohttp.ClientSession, name: str, data: bytes, path: str = "/api/v1/uploads") -> None:
    location = await _start(http, name, len(data), path=path)
    await tus_send(http, location, data)


async def _drop(http: aiohttp.ClientSession, location: str) -> None:
    async with http.delete(location, headers=TUS) as r:
        assert r.status == 204, await r.text()


async def _storage(http: aiohttp.ClientSession) -> tuple[int, int, int]:
    """(quota from /me in bytes, quotaBytes of the library, usedBytes of the library)."""
    me = await call(http, "GET", "/api/v1/me", 200)
    files = await call(http, "GET", "/api/v1/files", 200)
    return me["limits"]["storage_mb"] * MB, files["quotaBytes"], files["usedBytes"]


async def _full(http: aiohttp.ClientSession, of: str) -> None:
    err = await _start(http, "one-more.pdf", 1, 403)
    assert err["code"] == "quota_full" and f"of {of})" in err["message"] and "delete files" in err["message"]


async def test_each_plan_has_its_storage_and_the_extra_storage_addon_adds_to_it(api):
    http, _ = await signup(api)
    quota, library, used = await _storage(http)
    assert quota == library == 500 * MB and used == 0  # the trial (R-ACC-1)
    await operator(http, "addons", 402, json={"addon": "extra_storage_mb", "quantity": 100})
    for plan, mb in PLAN_STORAGE_MB.items():
        billing = await operator(http, "plan", 200, json={"plan": plan})
        assert billing["plan"] == plan and billing["limits"]["storage_mb"] == mb
        assert await _storage(http) == (mb * MB, mb * MB, 0), plan
        assert 500 * MB <= mb * MB <= 2 * GB  # R-FILE-1's range
    billing = await operator(http, "addons", 200, json={"addon": "extra_storage_mb", "quantity": 512})
    assert billing["addons"]["extra_storage_mb"] == 512
    assert await _storage(http) == (2560 * MB, 2560 * MB, 0)  # "more can be bought"
    await operator(http, "addons", 200, json={"addon": "extra_storage_mb", "quantity": 512})
    await operator(http, "plan", 200, json={"plan": "mywebinars"})
    assert await _storage(http) == (2048 * MB, 2048 * MB, 0)  # the add-on stays with the plan


async def test_overshoot_on_a_paid_plan_and_bought_storage_lets_uploads_start_again(api):
    """R-FILE-3 on MyWebinars (1 GB): with 1 byte left an upload starts and overshoots; then nothing more
    until storage is bought or freed."""
    http, _ = await signup(api)
    await paid(http, "mywebinars")
    reserved = [await _start(http, f"part{i}.mp4", 500 * MB) for i in (1, 2)]
    reserved.append(await _start(http, "part3.mp4", 24 * MB - 1))
    assert await _storage(http) == (GB, GB, GB - 1)
    await _upload(http, "overshoots.pdf", b"0123456789")  # 1 byte left: accepted
    assert await _storage(http) == (GB, GB, GB + 9)
    await _full(http, "1 GB")
    # an upload does not sneak in through a room either: it is the same account's space
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Demo"})
    err = await _start(http, "deck.pdf", 1, 403, path=f"/api/v1/rooms/{ev['roomId']}/uploads")
    assert err["code"] == "quota_full"

    # buying 1 MB more leaves space again: one more upload starts, and may overshoot again
    await operator(http, "addons", 200, json={"addon": "extra_storage_mb", "quantity": 1})
    assert await _storage(http) == (GB + MB, GB + MB, GB + 9)
    overshoot = await _start(http, "big.mp4", 100 * MB)
    assert (await _storage(http))[2] == GB + 9 + 100 * MB
    await _full(http, "1025 MB")
    # freeing space (abandoning unfinished uploads) lets uploads start again
    await _drop(http, overshoot)
    assert (await _storage(http))[2] == GB + 9
    await _upload(http, "after.pdf", b"x")
    await _drop(http, reserved[0])
    assert await _storage(http) == (GB + MB, GB + MB, 524 * MB - 1 + 11)
    await _upload(http, "room-again.pdf", b"yz", path=f"/api/v1/rooms/{ev['roomId']}/uploads")
    files = await call(http, "GET", "/api/v1/files", 200)
    assert {f["name"]: f["status"] for f in files["items"]} == {
        "part2.mp4": "uploading",
        "part3.mp4": "uploading",
        "overshoots.pdf": "complete",
        "after.pdf": "complete",
        "room-again.pdf": "complete",
    }


async def _subaccount(
    api: Served, http: aiohttp.ClientSession, package: str
) -> tuple[dict, aiohttp.ClientSession]:
    sub = await call(
        http,
        "POST",
        "/api/v1/subaccounts",
        201,
        json={
            "pageName": "Sales team",
            "userName": "Sergei",
            "email": "sergei@example.test",
            "package": package,
        },
    )
    [msg] = await api.mail.wait("sergei@example.test")
    client = api.client()
    await call(
        client,
        "POST",
        "/api/v1/activate",
        200,
        json={"token": link_token(msg), "password": "sub-account password"},
    )
    return sub, client


async def test_a_subaccount_uploads_within_its_own_package(api):
    """R-ACC-3: the sub-account's package is its storage, whatever the main account has or bought; its uploads
    (into the library or its events' rooms) are refused when it is full, the main account's are not; a bigger
    package lets it upload again."""
    http, _ = await signup(api)
    await paid(http, "mywebinars", sub_accounts=1, extra_storage_mb=100)
    sub, client = await _subaccount(api, http, "small")
    assert sub["storageMb"] == 500
    assert await _storage(client) == (500 * MB, 500 * MB, 0)
    assert await _storage(http) == (1124 * MB, 1124 * MB, 0)

    reserve = await _start(client, "archive.mp4", 500 * MB - 1)
    await _upload(client, "overshoot.pdf", b"0123456789")  # R-FILE-3 holds for it too
    assert await _storage(client) == (500 * MB, 500 * MB, 500 * MB + 9)
    await _full(client, "500 MB")
    ev = await call(client, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Sales call"})
    host_join = await call(
        api.client(),
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/join",
        200,
        json={"name": "Host", "email": "host@example.test", "hostKey": ev["hostUrl"].split("host=")[1]},
    )
    host = api.client(host_join["token"])
    err = await _start(host, "deck.pdf", 1, 403, path=f"/api/v1/rooms/{ev['roomId']}/uploads")
    assert err["code"] == "quota_full" and "of 500 MB)" in err["message"]

    await _upload(http, "main.pdf", b"main")  # the main account's own space
    assert await _storage(http) == (1124 * MB, 1124 * MB, 4)

    changed = await call(http, "PATCH", f"/api/v1/subaccounts/{sub['id']}", 200, json={"package": "large"})
    assert changed["storageMb"] == 2048
    assert await _storage(client) == (2048 * MB, 2048 * MB, 500 * MB + 9)
    await _upload(host, "deck.pdf", b"deck", path=f"/api/v1/rooms/{ev['roomId']}/uploads")
    await _drop(client, reserve)
    assert await _storage(client) == (2048 * MB, 2048 * MB, 10 + 4)
    assert (await _storage(http))[2] == 4
