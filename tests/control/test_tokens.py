"""Join tokens (HS256 JWT): round trip, tampering, wrong secret, expiry, alg none and malformed parts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

from mediaserver.rtc import tokens
from mediaserver.rtc.tokens import Grant, TokenError, issue, verify

SECRET = "s3cret"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def sign(header: dict | bytes, body: dict | bytes, secret: str = SECRET) -> str:
    h = b64(header if isinstance(header, bytes) else json.dumps(header).encode())
    p = b64(body if isinstance(body, bytes) else json.dumps(body).encode())
    sig = hmac.new(secret.encode(), f"{h}.{p}".encode(), hashlib.sha256).digest()
    return f"{h}.{p}.{b64(sig)}"


def claims(**over) -> dict:
    body = {"room": "r", "role": "presenter", "name": "n", "sub": "id", "exp": int(time.time()) + 60}
    body.update(over)
    return {k: v for k, v in body.items() if v is not ...}


HS256 = {"alg": "HS256", "typ": "JWT"}


@pytest.mark.parametrize("role", tokens.ROLES)
def test_round_trip(role):
    t0 = int(time.time())
    tok = issue(SECRET, "room-α", role, "Ann Smith", "ann-1", ttl=300)
    assert tok.count(".") == 2
    g = verify(SECRET, tok)
    assert isinstance(g, Grant)
    assert (g.room, g.role, g.name, g.identity) == ("room-α", role, "Ann Smith", "ann-1")
    assert t0 + 300 <= g.expires <= int(time.time()) + 300
    assert g.can_publish == (role != "attendee")


def test_header_is_standard_jwt():
    h, p, s = issue(SECRET, "r", "host", "n", "i").split(".")
    assert json.loads(unb64(h)) == {"alg": "HS256", "typ": "JWT"}
    assert set(json.loads(unb64(p))) == {"room", "role", "name", "sub", "exp"}
    assert len(unb64(s)) == 32
    assert "=" not in h + p + s


def test_hand_signed_token_verifies():
    g = verify(SECRET, sign(HS256, claims()))
    assert g.room == "r" and g.role == "presenter" and g.identity == "id"


def test_missing_name_and_sub_fall_back():
    g = verify(SECRET, sign(HS256, claims(name=..., sub=...)))
    assert g.name == "guest" and g.identity == "guest"
    g = verify(SECRET, sign(HS256, claims(name="Zed", sub=...)))
    assert g.identity == "Zed"
    g = verify(SECRET, sign(HS256, claims(name=5, sub=["x"])))
    assert g.name == "guest" and g.identity == "guest"


def test_issue_unknown_role():
    for role in ("admin", "", "HOST", "presenter "):
        with pytest.raises(TokenError, match="unknown role"):
            issue(SECRET, "r", role, "n", "i")


def test_wrong_secret():
    tok = issue(SECRET, "r", "host", "n", "i")
    for other in ("", "s3cret ", "S3CRET", "s3cre"):
        with pytest.raises(TokenError, match="signature"):
            verify(other, tok)


def test_empty_secret_still_signs_and_verifies():
    tok = issue("", "r", "host", "n", "i")
    assert verify("", tok).room == "r"
    with pytest.raises(TokenError):
        verify("x", tok)


@pytest.mark.parametrize(
    "change",
    [
        {"role": "host"},
        {"room": "other"},
        {"exp": 2**40},
        {"name": "Mallory"},
        {"sub": "someone-else"},
        {"extra": 1},
    ],
)
def test_tampered_payload(change):
    tok = issue(SECRET, "r", "attendee", "n", "i")
    h, p, s = tok.split(".")
    body = json.loads(unb64(p))
    body.update(change)
    forged = f"{h}.{b64(json.dumps(body, separators=(',', ':')).encode())}.{s}"
    with pytest.raises(TokenError, match="signature"):
        verify(SECRET, forged)


def test_tampered_signature_every_position():
    tok = issue(SECRET, "r", "host", "n", "i")
    h, p, s = tok.split(".")
    raw = bytearray(unb64(s))
    for i in range(len(raw)):
        bad = bytearray(raw)
        bad[i] ^= 0x01
        with pytest.raises(TokenError):
            verify(SECRET, f"{h}.{p}.{b64(bytes(bad))}")
    for sig in ("", b64(bytes(raw[:-1])), b64(bytes(raw) + b"\0"), b64(bytes(32))):
        with pytest.raises(TokenError):
            verify(SECRET, f"{h}.{p}.{sig}")


def test_tampered_header():
    tok = issue(SECRET, "r", "host", "n", "i")
    h, p, s = tok.split(".")
    for header in ({"alg": "HS256", "typ": "JWT", "kid": "x"}, {"alg": "HS256"}):
        with pytest.raises(TokenError, match="signature"):
            verify(SECRET, f"{b64(json.dumps(header).encode())}.{p}.{s}")


def test_expiry():
    now = float(int(time.time()))
    tok = sign(HS256, claims(exp=int(now) + 10))
    assert verify(SECRET, tok, now=now).room == "r"
    assert verify(SECRET, tok, now=now + 10).room == "r"  # exp itself is still valid
    with pytest.raises(TokenError, match="expired"):
        verify(SECRET, tok, now=now + 11)
    with pytest.raises(TokenError, match="expired"):
        verify(SECRET, issue(SECRET, "r", "host", "n", "i", ttl=-1))


@pytest.mark.parametrize("exp", [..., None, "9999999999", 1e12, [1], {"t": 1}])
def test_exp_must_be_an_integer(exp):
    with pytest.raises(TokenError):
        verify(SECRET, sign(HS256, claims(exp=exp)))


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "none", "typ": "JWT"},
        {"alg": "None"},
        {"alg": "HS512"},
        {"alg": "RS256"},
        {"alg": "hs256"},
        {"typ": "JWT"},
        {"alg": ["HS256"]},
        [],
        "HS256",
        None,
    ],
)
def test_algorithm_must_be_hs256(header):
    tok = sign(json.dumps(header).encode(), json.dumps(claims()).encode())
    with pytest.raises(TokenError, match="HS256"):
        verify(SECRET, tok)


def test_alg_none_without_signature():
    h = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    p = b64(json.dumps(claims(role="host")).encode())
    for tok in (f"{h}.{p}.", f"{h}.{p}.{b64(b'x')}"):
        with pytest.raises(TokenError):
            verify(SECRET, tok)


@pytest.mark.parametrize(
    "body",
    [
        claims(room=...),
        claims(room=""),
        claims(room=5),
        claims(role="admin"),
        claims(role=...),
        claims(role=None),
        [],
        "str",
        5,
        None,
    ],
)
def test_payload_must_grant_room_and_role(body):
    with pytest.raises(TokenError):
        verify(SECRET, sign(HS256, json.dumps(body).encode()))


@pytest.mark.parametrize(
    "tok",
    [
        "",
        ".",
        "..",
        "...",
        "a",
        "a.b",
        "a.b.c.d",
        "header.payload.signature",
        "!!!.???.***",
        "é.é.é",
        "\x00.\x00.\x00",
        "a" * 10000,
        "e30.e30.",  # {} . {} . empty signature
    ],
)
def test_malformed_strings(tok):
    with pytest.raises(TokenError):
        verify(SECRET, tok)


@pytest.mark.parametrize("part", [b"not json", b"\xff\xfe\xfd", b"{", b"", b"[1,"])
def test_non_json_parts(part):
    good_h, good_p = json.dumps(HS256).encode(), json.dumps(claims()).encode()
    with pytest.raises(TokenError):
        verify(SECRET, sign(part, good_p))
    with pytest.raises(TokenError):
        verify(SECRET, sign(good_h, part))


def test_bad_base64_padding():
    tok = issue(SECRET, "r", "host", "n", "i")
    h, p, s = tok.split(".")
    for bad in (
        f"{h}x.{p}.{s}",
        f"{h}.{p}a.{s}",
        f"{h[:-1]}.{p}.{s}",
        f"{h}.{p[:-1]}.{s}",
        f"{h}.{p}.{s[:-1]}",
    ):
        with pytest.raises(TokenError):
            verify(SECRET, bad)


@pytest.mark.parametrize("tok", [None, 5, b"a.b.c", ["a", "b", "c"]])
def test_non_string_token(tok):
    with pytest.raises(TokenError):
        verify(SECRET, tok)


def test_token_error_is_a_value_error():
    assert issubclass(TokenError, ValueError)
