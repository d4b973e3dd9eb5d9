"""The OpenAPI document is valid, current, and covers every HTTP route the server has."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from openapi_spec_validator import validate

from signaling.api.openapi import render, spec

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_spec_is_valid_openapi():
    validate(spec())


def test_docs_copy_is_current():
    assert DOC.read_text() == render(), "run: python -m signaling.api.openapi > docs/openapi.json"


async def test_every_route_is_documented_and_served(server):
    documented = {(path, method.upper()) for path, ops in spec()["paths"].items() for method in ops}
    app = server["app"]
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("formatter") or info.get("path")
        if (
            not path
            or route.method == "HEAD"
            or path in ("/", "/ws", "/demo", "/dashboard", "/room/{id}", "/watch/{id}")
            or path.startswith(("/static", "/sdk"))
        ):
            continue
        assert (path, route.method) in documented, (path, route.method)
    async with aiohttp.ClientSession() as http, http.get(server["base_url"] + "/openapi.json") as r:
        assert r.status == 200 and (await r.json()) == spec()
