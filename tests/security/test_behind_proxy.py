"""Behind a TLS-terminating reverse proxy (issue 15): the scheme the client used is the one a trusted proxy
(setting trusted_proxies) forwards in X-Forwarded-Proto, so a signed-in page at https:// passes the CSRF
origin check and gets a Secure session cookie even where public_url was left at its http default; what an
untrusted peer sends in that header changes nothing. tests/e2e/test_https_proxy.py runs the same through real
nginx and Caddy."""

from __future__ import annotations

import pytest

from mediaserver.config import parse_networks
from mediaserver.proxies import forwarded_scheme
from tests.api.conftest import PASSWORD, Served, call, signup

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
HTTPS = {"X-Forwarded-Proto": "https"}


def test_forwarded_scheme_rules():
    """Issue 15: only a trusted peer's X-Forwarded-Proto counts, its last value (the nearest proxy's), and
    only http or https."""
    trusted = parse_networks(["127.0.0.1", "10.0.0.0/8"])
    assert forwarded_scheme("127.0.0.1", ["https"], trusted) == "https"
    assert forwarded_scheme("::ffff:10.1.2.3", ["HTTPS"], trusted) == "https"  # IPv4 on a dual-stack socket
    assert forwarded_scheme("127.0.0.1", ["https, http"], trusted) == "http"
    assert forwarded_scheme("203.0.113.5", ["https"], trusted) is None  # not a proxy
    assert forwarded_scheme("127.0.0.1", [], trusted) is None
    assert forwarded_scheme("127.0.0.1", ["gopher"], trusted) is None
    assert forwarded_scheme("127.0.0.1", ["https"], []) is None  # no trusted proxies


async def _sign_in(api: Served, email: str, **headers: str) -> str:
    """The Set-Cookie of a sign-in with ``headers``."""
    async with api.client().post(
        "/api/v1/session", json={"email": email, "password": PASSWORD}, headers=headers
    ) as r:
        assert r.status == 200, await r.text()
        return r.headers["Set-Cookie"]


@SQLITE
@pytest.mark.parametrize(
    "api", [{"trusted_proxies": ["127.0.0.1"]}, {}], indirect=True, ids=["trusted-proxy", "no-proxy"]
)
async def test_the_scheme_a_trusted_proxy_forwards(api: Served):
    """Issue 15: with trusted_proxies naming the proxy, its X-Forwarded-Proto: https makes the session cookie
    Secure and the page's https Origin our own (public_url stays http here); without, the same headers from
    the same peer are anyone's invention: no Secure flag, and the https Origin is another site's (403)."""
    trusted = bool(api.settings.trusted_proxies)
    assert api.settings.public_url.startswith("http:")
    http, me = await signup(api)
    email = me["user"]["email"]
    assert ("Secure" in await _sign_in(api, email, **HTTPS)) is trusted
    assert "Secure" not in await _sign_in(api, email)  # the connection's own scheme: http
    origin = "https://" + api.base_url.split("://", 1)[1]  # the page as the browser reached it, through TLS
    new = {"kind": "permanent", "name": "Weekly"}
    err = await call(
        http, "POST", "/api/v1/events", 201 if trusted else 403, json=new, headers={"Origin": origin, **HTTPS}
    )
    if not trusted:
        assert err["error"]["code"] == "cross_site_request", err
    # without the proxy's word the request came over http: an https Origin is not this server's
    await call(http, "POST", "/api/v1/events", 403, json=new, headers={"Origin": origin})


@SQLITE
@pytest.mark.parametrize("api", [{"trusted_proxies": ["127.0.0.1"]}], indirect=True)
async def test_metrics_refuse_whatever_a_proxy_on_this_machine_relays(api: Served):
    """Issue 15: nginx or Caddy on this machine reach the server from 127.0.0.1; /metrics (no metrics_token)
    answers only this machine, so any forwarding header marks a relayed request (403), even a proxy's that
    sends no X-Forwarded-For, and a client the proxy names as 127.0.0.1 is still relayed."""
    http = api.client()
    for headers in (
        {"X-Forwarded-Proto": "https"},
        {"X-Forwarded-Host": "webinar.example.org"},
        {"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "https"},
        {"X-Forwarded-For": "203.0.113.9"},
    ):
        async with http.get("/metrics", headers=headers) as r:
            assert r.status == 403, headers
    async with http.get("/metrics") as r:  # this machine, not through the proxy
        assert r.status == 200 and "mediaserver_rooms" in await r.text()
