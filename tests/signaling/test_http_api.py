"""The HTTP API: token issuing, health, metrics and the WHIP/WHEP method surface (status codes and JSON
errors)."""

from __future__ import annotations

import json
import re
import time

import aiohttp
import pytest

from mediaserver.rtc import tokens
from tests.conftest import API_KEY, SECRET, token

KEY = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
async def http(server):
    async with aiohttp.ClientSession(base_url=server["base_url"]) as session:
        yield session


async def error_of(resp: aiohttp.ClientResponse) -> dict:
    assert resp.content_type == "application/json", (resp.status, resp.content_type, await resp.text())
    body = await resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"], body
    return body["error"]


# ---------------------------------------------------------------- POST /api/v1/tokens


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": API_KEY},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dGVzdC1rZXk="},
        {"Authorization": f"bearer {API_KEY}"},
    ],
    ids=["none", "no-scheme", "scheme-only", "empty", "basic", "lowercase"],
)
async def test_tokens_without_key(http, headers):
    async with http.post("/api/v1/tokens", json={"room": "r"}, headers=headers) as r:
        assert r.status == 401
        assert (await error_of(r))["code"] == "unauthorized"


@pytest.mark.parametrize("key", ["wrong", API_KEY[:-1], API_KEY + "x", API_KEY.upper(), SECRET, "x" * 1000])
async def test_tokens_wrong_key(http, key):
    async with http.post(
        "/api/v1/tokens", json={"room": "r"}, headers={"Authorization": f"Bearer {key}"}
    ) as r:
        assert r.status == 401
        err = await error_of(r)
        assert err["code"] == "unauthorized" and "API key" in err["message"]


@pytest.mark.parametrize("key", ["\u00e9", API_KEY + "\u00ff", "\u2603"])
async def test_tokens_non_ascii_key_is_401(http, key):
    raw = f"Bearer {key}".encode().decode("latin-1")  # UTF-8 bytes on the wire
    async with http.post("/api/v1/tokens", json={"room": "r"}, headers={"Authorization": raw}) as r:
        assert r.status == 401
        assert (await error_of(r))["code"] == "unauthorized"


async def test_non_ascii_bearer_token_on_whip_is_401(http):
    raw = "Bearer \u00e9.\u00e9.\u00e9".encode().decode("latin-1")
    async with http.post(
        "/whip/room", data="v=0", headers={"Authorization": raw, "Content-Type": "application/sdp"}
    ) as r:
        assert r.status == 401


@pytest.mark.parametrize(
    "body", [b"", b"{", b"not json", b"{'room': 'r'}", b"\xff\xfe\x00", b'{"room": "r",}']
)
async def test_tokens_bad_json(http, body):
    async with http.post(
        "/api/v1/tokens", data=body, headers={**KEY, "Content-Type": "application/json"}
    ) as r:
        assert r.status == 400
        assert (await error_of(r))["code"] == "bad_json"


@pytest.mark.parametrize("body", [[], ["room"], "room", 5, None])
async def test_tokens_body_not_an_object(http, body):
    headers = {**KEY, "Content-Type": "application/json"}  # issue 14 finding 15: a JSON body says so
    async with http.post("/api/v1/tokens", data=json.dumps(body), headers=headers) as r:
        assert r.status == 400
        assert (await error_of(r))["code"] == "bad_request"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"room": ""},
        {"room": None},
        {"room": 5},
        {"room": ["a"]},
        {"room": "r" * 129},
        {"room": "r", "name": 5},
        {"room": "r", "name": "n" * 129},
    ],
    ids=["missing", "empty", "null", "int", "list", "too-long", "name-int", "name-too-long"],
)
async def test_tokens_bad_room_or_name(http, body):
    async with http.post("/api/v1/tokens", json=body, headers=KEY) as r:
        assert r.status == 400
        err = await error_of(r)
        assert err["code"] == "bad_request"
        assert ("'room'" in err["message"]) or ("'name'" in err["message"])


@pytest.mark.parametrize("ttl", [0, -1, 7 * 86400 + 1, 10**12, "3600", 1.5, None, [60]])
async def test_tokens_ttl_out_of_range(http, ttl):
    async with http.post("/api/v1/tokens", json={"room": "r", "ttl": ttl}, headers=KEY) as r:
        assert r.status == 400
        err = await error_of(r)
        assert err["code"] == "bad_request" and "'ttl'" in err["message"]


async def test_tokens_ttl_boolean_rejected(http):
    async with http.post("/api/v1/tokens", json={"room": "r", "ttl": True}, headers=KEY) as r:
        assert r.status == 400


async def test_tokens_unknown_role_is_refused(http):
    async with http.post("/api/v1/tokens", json={"room": "r", "role": "admin"}, headers=KEY) as r:
        assert r.status in (400, 401)
        err = await error_of(r)
        assert "role" in err["message"]


@pytest.mark.parametrize("role", ["admin", "", 5, None, "Host"])
async def test_tokens_unknown_role_is_400(http, role):
    async with http.post("/api/v1/tokens", json={"room": "r", "role": role}, headers=KEY) as r:
        assert r.status == 400
        assert (await error_of(r))["code"] == "bad_request"


@pytest.mark.parametrize("role", ["host", "presenter", "attendee"])
async def test_tokens_success(http, server, role):
    t0 = int(time.time())
    body = {"room": "room-1", "role": role, "name": "Alice", "ttl": 120, "identity": "alice-1"}
    async with http.post("/api/v1/tokens", json=body, headers=KEY) as r:
        assert r.status == 201
        assert r.content_type == "application/json"
        out = await r.json()
    assert out["room"] == "room-1" and out["role"] == role
    grant = tokens.verify(server["settings"].secret, out["token"])
    assert (grant.room, grant.role, grant.name, grant.identity) == ("room-1", role, "Alice", "alice-1")
    assert t0 + 119 <= grant.expires <= int(time.time()) + 121
    with pytest.raises(tokens.TokenError):
        tokens.verify("another-secret", out["token"])


async def test_tokens_defaults_and_limits(http, server):
    async with http.post(
        "/api/v1/tokens", json={"room": "r" * 128, "ttl": 7 * 86400, "name": ""}, headers=KEY
    ) as r:
        assert r.status == 201
        out = await r.json()
    grant = tokens.verify(server["settings"].secret, out["token"])
    assert grant.role == "presenter" and grant.room == "r" * 128
    assert re.fullmatch(r"[0-9a-f]{12}", grant.identity)
    assert grant.expires >= int(time.time()) + 7 * 86400 - 5
    async with http.post("/api/v1/tokens", json={"room": "r", "ttl": 1}, headers=KEY) as r:
        assert r.status == 201


async def test_issued_token_joins_over_websocket(http):
    async with http.post(
        "/api/v1/tokens", json={"room": "api-room", "role": "attendee", "name": "Bo"}, headers=KEY
    ) as r:
        tok = (await r.json())["token"]
    async with http.ws_connect("/ws") as ws:
        await ws.send_json({"id": 1, "method": "join", "params": {"token": tok}})
        reply = await ws.receive_json(timeout=5)
    assert reply["result"]["participant"]["name"] == "Bo" and reply["result"]["room"]["id"] == "api-room"


async def test_tokens_other_methods(http):
    async with http.get("/api/v1/tokens", headers=KEY) as r:
        assert r.status == 405


# ---------------------------------------------------------------- health and metrics


async def test_healthz(http, server):
    async with http.get("/healthz") as r:
        assert r.status == 200
        body = await r.json()
    assert body == {"status": "ok"}  # issue 14 finding 18: no ports or counts for anyone who asks


async def test_metrics(http, server):
    async with http.get("/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        text = await r.text()
    assert re.search(r'^mediaserver_packets_total\{direction="in"\} \d', text, re.M), text[:500]
    assert re.search(r'^mediaserver_packets_total\{direction="out"\} \d', text, re.M)
    for reason in (
        "stun_malformed",
        "stun_auth",
        "stun_unknown_ufrag",
        "unknown_address",
        "srtp_auth",
        "rtp_malformed",
        "too_big",
    ):
        assert re.search(rf'^mediaserver_dropped_packets_total\{{reason="{reason}"\}} \d', text, re.M), reason
    assert re.search(r"^mediaserver_transports \d", text, re.M)
    assert re.search(r"^# TYPE mediaserver_dropped_packets(_total)? counter$", text, re.M)
    assert re.search(r"^# TYPE mediaserver_transports gauge$", text, re.M)
    for reason in server["media"].stats()["drops"]:  # every reason the worker counts is exported
        assert f'mediaserver_dropped_packets_total{{reason="{reason}"}}' in text, reason
    for name in (
        "mediaserver_producers",
        "mediaserver_consumers",
        "mediaserver_rooms",
        "mediaserver_participants",
        "mediaserver_nacks_received_total",
        'mediaserver_protocol_packets_total{protocol="stun"}',
        # issue 14 finding 10: retransmissions the NACK budget refused, by reason
        'mediaserver_retransmissions_refused_total{reason="rtcp"}',
        'mediaserver_retransmissions_refused_total{reason="repeat"}',
        'mediaserver_retransmissions_refused_total{reason="rate"}',
    ):
        assert name in text, name


async def test_metrics_count_drops(http, server):
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(5):
            s.sendto(b"\x80\x60" + b"\0" * 30, ("127.0.0.1", server["media"].port))
    from tests.conftest import wait_for

    assert await wait_for(lambda: server["media"].stats()["drops"]["unknown_address"] >= 5, 5)
    async with http.get("/metrics") as r:
        text = await r.text()
    m = re.search(r'^mediaserver_dropped_packets_total\{reason="unknown_address"\} ([0-9.e+]+)', text, re.M)
    assert m and float(m.group(1)) >= 5


# ---------------------------------------------------------------- WHIP / WHEP method surface


@pytest.mark.parametrize("path", ["/whip/room", "/whep/room"])
async def test_options(http, path):
    async with http.options(path) as r:
        assert r.status == 204
        assert r.headers["Accept-Post"] == "application/sdp"
        assert await r.read() == b""


@pytest.mark.parametrize("path", ["/whip/room/abc", "/whep/room/abc"])
async def test_patch_is_405_json(http, path):
    async with http.patch(
        path,
        data="a=candidate:1 1 udp 1 1.2.3.4 5 typ host",
        headers={"Content-Type": "application/trickle-ice-sdpfrag"},
    ) as r:
        assert r.status == 405
        err = await error_of(r)
        assert err["code"] == "not_implemented"


async def test_patch_405_has_allow_header(http):
    async with http.patch("/whip/room/abc") as r:
        assert r.status == 405
        assert "DELETE" in r.headers.get("Allow", "")


async def test_whip_errors(http):
    offer = "v=0\r\n"
    # no token
    async with http.post("/whip/room", data=offer, headers={"Content-Type": "application/sdp"}) as r:
        assert r.status == 401 and (await error_of(r))["code"] == "unauthorized"
    # bad token
    async with http.post(
        "/whip/room", data=offer, headers={"Content-Type": "application/sdp", "Authorization": "Bearer x.y.z"}
    ) as r:
        assert r.status == 401 and (await error_of(r))["code"] == "unauthorized"
    auth = {"Authorization": "Bearer " + token("room", "presenter", "enc")}
    # token for another room
    async with http.post("/whip/other", data=offer, headers={**auth, "Content-Type": "application/sdp"}) as r:
        assert r.status == 403 and (await error_of(r))["code"] == "forbidden"
    # attendees may not publish
    att = {"Authorization": "Bearer " + token("room", "attendee", "v")}
    async with http.post("/whip/room", data=offer, headers={**att, "Content-Type": "application/sdp"}) as r:
        assert r.status == 403 and (await error_of(r))["code"] == "forbidden"
    # wrong content type
    async with http.post("/whip/room", data=offer, headers={**auth, "Content-Type": "text/plain"}) as r:
        assert r.status == 415 and (await error_of(r))["code"] == "unsupported_media_type"
    # too large
    async with http.post(
        "/whip/room", data="a" * (65 * 1024), headers={**auth, "Content-Type": "application/sdp"}
    ) as r:
        assert r.status == 413 and (await error_of(r))["code"] == "too_large"
    # not UTF-8, then garbage SDP
    async with http.post(
        "/whip/room", data=b"\xff\xfe", headers={**auth, "Content-Type": "application/sdp"}
    ) as r:
        assert r.status == 400 and (await error_of(r))["code"] == "bad_sdp"
    async with http.post("/whip/room", data=offer, headers={**auth, "Content-Type": "application/sdp"}) as r:
        assert r.status == 400 and (await error_of(r))["code"] == "bad_sdp"


async def test_delete_unknown_resource(http):
    auth = {"Authorization": "Bearer " + token("room", "host", "h")}
    async with http.delete("/whip/room/nope", headers=auth) as r:
        assert r.status == 404 and (await error_of(r))["code"] == "not_found"
    async with http.delete("/whip/room/nope") as r:
        assert r.status == 401


async def test_unknown_path_404(http):
    async with http.get("/api/v1/nothing") as r:
        assert r.status == 404


async def sendonly_offer(video: int, audio: int = 0) -> str:
    from aiortc import RTCPeerConnection

    pc = RTCPeerConnection()
    for _ in range(video):
        pc.addTransceiver("video", direction="sendonly")
    for _ in range(audio):
        pc.addTransceiver("audio", direction="sendonly")
    offer = await pc.createOffer()
    await pc.close()
    return offer.sdp


async def test_whip_accepts_a_real_offer_then_delete(http, server):
    auth = {"Authorization": "Bearer " + token("room", "presenter", "enc")}
    async with http.post(
        "/whip/room", data=await sendonly_offer(1), headers={**auth, "Content-Type": "application/sdp"}
    ) as r:
        assert r.status == 201, await r.text()
        assert r.content_type == "application/sdp"
        location = r.headers["Location"]
    assert re.fullmatch(r"/whip/room/[\w-]+", location)
    assert server["media"].stats()["producers"] == 1
    async with http.delete(location, headers=auth) as r:
        assert r.status == 200
    assert server["media"].stats()["transports"] == 0 and "room" not in server["rooms"].rooms


async def test_whip_duplicate_ssrc_is_400_json(http, server):
    # a camera and a microphone (one of each per participant, issue 14 finding 8) whose SSRCs collide
    offer = await sendonly_offer(1, audio=1)
    ssrcs = re.findall(r"a=ssrc:(\d+) ", offer)
    bad = offer.replace(ssrcs[2], ssrcs[0])  # the audio m-line reuses the video's SSRC
    auth = {"Authorization": "Bearer " + token("room", "presenter", "enc")}
    async with http.post("/whip/room", data=bad, headers={**auth, "Content-Type": "application/sdp"}) as r:
        assert r.status == 400
        assert (await error_of(r))["code"] in ("bad_sdp", "media_refused")
    # the failed session left nothing behind
    assert server["media"].stats()["transports"] == 0 and "room" not in server["rooms"].rooms


async def test_framework_refusals_are_json_too(http):
    async with http.get("/no/such/path") as r:
        assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"
    async with http.get("/whip/room") as r:
        body = await r.json()
        assert (
            r.status == 405 and body["error"]["code"] == "method_not_allowed" and "POST" in r.headers["Allow"]
        )
    async with http.post(
        "/api/v1/rooms", data=b"x" * (1024 * 1024 + 10), headers={"Content-Type": "application/json"}
    ) as r:
        assert r.status == 413 and (await r.json())["error"]["code"] == "too_large"
