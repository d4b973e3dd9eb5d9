"""Issue 14 finding 21: the ICE-lite media port answers only the STUN binding requests it can authenticate.
Anything else (no USERNAME or MESSAGE-INTEGRITY, an unknown username, a wrong password) gets no reply at all,
so the port reflects nothing to a forged source and tells a scanner nothing; the core counts each one in its
drops. Driven over UDP against the in-process server, with a real transport made by a WHIP offer."""

from __future__ import annotations

import asyncio
import re
import socket

import aiohttp
from aioice import stun
from aiortc.mediastreams import AudioStreamTrack

from tests.conftest import token
from tests.e2e.peers import pc


def binding_request(username: str | None, key: str | None) -> bytes:
    m = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
    if username is not None:
        m.attributes["USERNAME"] = username
    m.attributes["PRIORITY"] = 0x6E001EFF
    m.attributes["ICE-CONTROLLING"] = 0x1234567890ABCDEF
    if key is not None:
        m.add_message_integrity(key.encode())
    m.add_fingerprint()
    return bytes(m)


async def replies(sock: socket.socket, seconds: float) -> list[bytes]:
    """Every datagram that reaches sock within seconds."""
    loop, got = asyncio.get_running_loop(), []
    end = loop.time() + seconds
    while loop.time() < end:
        try:
            got.append(sock.recv(2048))
        except BlockingIOError:
            await asyncio.sleep(0.01)
    return got


async def test_unauthenticated_binding_requests_get_no_reply(server):
    """Issue 14 finding 21: 400 binding requests without credentials, with an unknown username, and with a
    real username but without integrity or with the wrong password get no reply (before the fix: a 400 or a
    401 for 300 of them); the core counts them; the right credentials from the same socket are answered."""
    base, media = server["base_url"], server["media"]
    publisher = pc()
    publisher.addTransceiver(AudioStreamTrack(), direction="sendonly")
    await publisher.setLocalDescription(await publisher.createOffer())
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{base}/whip/stun-room",
                data=publisher.localDescription.sdp.encode(),
                headers={
                    "Content-Type": "application/sdp",
                    "Authorization": f"Bearer {token('stun-room', 'presenter', 'enc')}",
                },
            ) as r:
                assert r.status == 201, await r.text()
                answer = await r.text()
        port = media.port  # the worker's UDP port, as the answer's host candidate names it
        assert f" {port} typ host" in answer
        ufrag = re.search(r"^a=ice-ufrag:(\S+)", answer, re.M).group(1)  # type: ignore[union-attr]
        pwd = re.search(r"^a=ice-pwd:(\S+)", answer, re.M).group(1)  # type: ignore[union-attr]
        before = media.stats()["drops"]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            s.setblocking(False)
            for _ in range(100):
                s.sendto(binding_request(None, None), ("127.0.0.1", port))  # no credentials at all
                s.sendto(binding_request(f"{ufrag}:x", None), ("127.0.0.1", port))  # no integrity
                s.sendto(binding_request(f"{ufrag}:x", "not-the-password-0123456"), ("127.0.0.1", port))
                s.sendto(binding_request("nobody:x", pwd), ("127.0.0.1", port))  # unknown username
            assert await replies(s, 1.0) == []
            after = media.stats()["drops"]
            assert after["stun_malformed"] - before["stun_malformed"] == 200
            assert after["stun_auth"] - before["stun_auth"] == 100
            assert after["stun_unknown_ufrag"] - before["stun_unknown_ufrag"] == 100
            # the same socket with the right credentials: answered (the silence above is not a dead port)
            s.sendto(binding_request(f"{ufrag}:x", pwd), ("127.0.0.1", port))
            got = await replies(s, 1.0)
            assert len(got) == 1
            resp = stun.parse_message(got[0])
            assert resp.message_class == stun.Class.RESPONSE
            assert resp.attributes["XOR-MAPPED-ADDRESS"] == ("127.0.0.1", s.getsockname()[1])
    finally:
        await publisher.close()
