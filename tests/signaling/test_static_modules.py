"""The room page's ES modules (signaling/static/room/, loaded by the browser without a build step): every
import names a file that exists and a name that file exports, every module stays small, room.html loads the
entry module, and the server sends the modules and what they import (the SDK under /sdk/) with a JavaScript
type (browsers refuse module scripts otherwise). The page itself runs in headless Chromium in
tests/e2e/test_room_page.py (test_room_modules_load_in_chromium)."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "signaling" / "static"
MODULES = STATIC / "room"
MAX_LINES = 300
JS_TYPES = ("text/javascript", "application/javascript")

_FROM = re.compile(r"""^\s*(?:import|export)\s+(?:([\w$\s{},*]+?)\s+from\s+)?['"]([^'"]+)['"]""", re.M)
_DYNAMIC = re.compile(r"""\bimport\(\s*['"]([^'"]+)['"]\s*\)""")
_EXPORT = re.compile(r"^export\s+(?:async\s+)?(?:function\*?|const|let|var|class)\s+([\w$]+)", re.M)
_EXPORT_LIST = re.compile(r"^export\s*\{([^}]*)\}", re.M)


def modules() -> list[Path]:
    return sorted(MODULES.glob("*.js"))


def resolve(spec: str, importer: Path) -> Path | None:
    """The file under static/ an import specifier names (as the browser and add_static("/static") resolve it);
    None for anything else (the SDK's /sdk/ URLs are checked against the server)."""
    if spec.startswith(("./", "../")):
        return (importer.parent / spec).resolve()
    if spec.startswith("/static/"):
        return STATIC / spec[len("/static/") :]
    return None


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(specifier, imported names) of each static and dynamic import of a module; names of `{ a, b as c }`."""
    text = re.sub(r"^\s*//.*$", "", path.read_text(), flags=re.M)
    out = []
    for clause, spec in _FROM.findall(text):
        braces = re.search(r"\{([^}]*)\}", clause or "")
        names = [n.split(" as ")[0].strip() for n in braces.group(1).split(",")] if braces else []
        out.append((spec, [n for n in names if n]))
    out += [(spec, []) for spec in _DYNAMIC.findall(text)]
    return out


def exports(text: str) -> set[str]:
    names = set(_EXPORT.findall(text))
    for group in _EXPORT_LIST.findall(text):
        names |= {n.split(" as ")[-1].strip() for n in group.split(",") if n.strip()}
    return names


def test_the_room_page_is_split_into_modules():
    assert (MODULES / "main.js").is_file()
    assert len(modules()) > 5
    assert not (STATIC / "room.js").exists(), "room.js was split into static/room/"
    assert '<script type="module" src="/static/room/main.js"></script>' in (STATIC / "room.html").read_text()


def test_every_import_resolves_to_a_file_that_exports_the_names():
    bad = []
    for path in modules():
        for spec, names in imports(path):
            if spec.startswith("/sdk/"):
                continue  # test_the_server_sends_the_modules_as_javascript
            target = resolve(spec, path)
            if target is None or not target.is_file():
                bad.append(f"{path.name}: {spec!r} is not a file under static/")
                continue
            missing = set(names) - exports(target.read_text())
            if missing:
                bad.append(f"{path.name}: {spec!r} does not export {sorted(missing)}")
    assert not bad, "\n".join(bad)


def test_every_module_is_small_and_says_what_it_does():
    for path in modules():
        lines = path.read_text().splitlines()
        assert len(lines) <= MAX_LINES, f"{path.name} has {len(lines)} lines (at most {MAX_LINES}): split it"
        assert lines and lines[0].startswith("// "), f"{path.name} does not start with what it does"


def test_every_module_is_reached_from_main():
    seen, todo = set(), [MODULES / "main.js"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        targets = [resolve(spec, path) for spec, _ in imports(path)]
        todo += [t for t in targets if t is not None and t.parent == MODULES and t.is_file()]
    assert {p.name for p in modules()} == {p.name for p in seen}, "a module nothing imports"


@pytest.fixture
async def http(server):
    async with aiohttp.ClientSession() as session:
        yield session, server["base_url"]


async def test_the_server_sends_the_modules_as_javascript(http):
    session, base = http
    async with session.get(f"{base}/static/room.html") as r:
        assert r.status == 200
    wanted: dict[str, set[str]] = {f"/static/room/{p.name}": set() for p in modules()}
    for path in modules():
        for spec, names in imports(path):
            if spec.startswith("/"):
                wanted.setdefault(spec, set()).update(names)
    for url, names in sorted(wanted.items()):
        async with session.get(base + url) as r:
            assert r.status == 200, url
            assert r.content_type in JS_TYPES, (url, r.content_type)
            text = await r.text()
        if url.startswith("/static/room/"):
            assert text == (MODULES / url.rsplit("/", 1)[1]).read_text(), url
        assert not names - exports(text), (url, sorted(names - exports(text)))
