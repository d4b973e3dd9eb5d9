"""The layering rules of docs/architecture.md, checked on the source with ``ast`` (nothing of the code under
test is imported, so this runs in well under a second):

1. No import cycle between the modules of ``mediaserver/`` and ``signaling/``. Every import counts, at any
   depth: an import inside a function still closes the cycle when the function runs, so it cannot be used to
   dodge one. Imports under ``if TYPE_CHECKING:`` do not count for cycles: they never run, so they make no
   runtime cycle (they do count for the rules below, which are about what may know of what).
2. Only the media-engine binding, ``mediaserver/rtc/engine.py``, imports ``native`` (``bench/`` and ``tests/``
   drive the engine directly and are not checked).
3. ``mediaserver`` imports ``signaling`` only in the composition root, ``mediaserver/app.py``.
4. ``native/`` (its ``.pyx``, ``.pxd`` and Python files) imports nothing of ours but itself.
5. No SQL and no file system in ``signaling/``: HTTP handlers parse, call a service function and serialise.
   SQL means an import from ``sqlalchemy`` (naming the session's type, ``AsyncSession``, aside) or a query
   method called on a database session (``s.execute(...)``, ``ctx.s.get(...)``, ...: a receiver named ``s`` or
   ``session``, or an attribute ``.s``); opening the transaction (``db.tx()``) belongs to the HTTP layer, a
   request being one transaction. The file system means an import of ``pathlib``, ``os.path``, ``shutil``,
   ``tempfile`` or ``glob``, a call of ``open()``, or of an ``os`` function that touches files. FS_ALLOWED
   lists the exceptions, each with its reason.
6. A function-local import of a project module (``mediaserver``, ``signaling``, ``native``) in
   ``mediaserver/`` or ``signaling/`` is on LOCAL_ALLOWED with its reason; all others go at the top of the
   module.

Each rule has a self-test that runs the checker on a synthetic package with one violation.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mediaserver", "signaling")
OURS = ("mediaserver", "signaling", "native", "bench", "tests")
ENGINE = "mediaserver.rtc.engine"
COMPOSITION_ROOT = ("mediaserver.app",)
# (importer, imported): why the import is inside a function
LOCAL_ALLOWED: dict[tuple[str, str], str] = {
    ("mediaserver.cli", "mediaserver.app"): "`mediaserver token` and `--help` do not load aiohttp, the media "
    "engine and the whole control plane",
}
# module: why it touches the file system
FS_ALLOWED: dict[str, str] = {
    "signaling.pages": "locates the package's own static assets and browser SDK (package data), no user "
    "files",
}
SQL_TYPES = {"sqlalchemy.ext.asyncio.AsyncSession"}  # naming the session's type is not SQL
SESSION_CALLS = {
    "execute",
    "scalar",
    "scalars",
    "get",
    "add",
    "add_all",
    "delete",
    "merge",
    "flush",
    "refresh",
    "stream",
    "stream_scalars",
    "begin_nested",
    "expunge",
}
SESSION_NAMES = {"s", "session"}
OS_FS_CALLS = {
    "remove",
    "unlink",
    "rename",
    "replace",
    "makedirs",
    "mkdir",
    "rmdir",
    "removedirs",
    "listdir",
    "scandir",
    "walk",
    "stat",
    "lstat",
    "open",
    "chmod",
    "chown",
    "link",
    "symlink",
    "truncate",
    "fspath",
    "utime",
}
FS_MODULES = ("pathlib", "os.path", "shutil", "tempfile", "glob")


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    target: str  # the dotted name imported: `from p import x` gives p.x (a module, or a name in p)
    line: int
    local: bool  # inside a function
    type_only: bool  # under `if TYPE_CHECKING:`


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    tree: ast.Module


# ---------------------------------------------------------------- reading the source


def _name_of(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Module]:
    out = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            out[_name_of(root, path)] = Module(
                _name_of(root, path), path, ast.parse(path.read_text(), str(path))
            )
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(
    node: ast.AST, local: bool = False, type_only: bool = False
) -> Iterator[tuple[ast.AST, bool, bool]]:
    """Every node with whether it is inside a function and whether under ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        yield child, local, type_only
        inner_local = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for n in child.body:
                yield n, inner_local, True
                yield from _walk(n, inner_local, True)
            for n in child.orelse:
                yield n, inner_local, type_only
                yield from _walk(n, inner_local, type_only)
        else:
            yield from _walk(child, inner_local, type_only)


def _absolute(mod: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = mod.name.split(".") if mod.path.name == "__init__.py" else mod.name.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports(mod: Module) -> list[Import]:
    """Every import of the module, one per name imported: ``import a.b`` gives ``a.b``, ``from p import x``
    gives ``p.x`` (:func:`_resolve` finds whether that is the module p.x or a name in p), ``from p import
    *`` ``p``."""
    out = []
    for node, local, type_only in _walk(mod.tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(mod, node)
            names = [base if a.name == "*" else f"{base}.{a.name}" for a in node.names]
        else:
            continue
        out += [Import(mod.name, n, node.lineno, local, type_only) for n in names]
    return out


def _within(name: str, top: str) -> bool:
    return name == top or name.startswith(top + ".")


def _resolve(name: str, known: dict[str, Module]) -> str | None:
    """The module of ours a dotted name lands in (the longest known prefix)."""
    parts = name.split(".")
    while parts:
        if ".".join(parts) in known:
            return ".".join(parts)
        parts.pop()
    return None


# ---------------------------------------------------------------- the rules


def import_graph(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    known = modules(root, packages)
    graph: dict[str, set[str]] = {name: set() for name in known}
    for mod in known.values():
        for imp in imports(mod):
            target = _resolve(imp.target, known)
            if target is not None and target != mod.name and not imp.type_only:
                graph[mod.name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


def cycle_violations(root: Path, packages: tuple[str, ...] = PACKAGES) -> list[str]:
    graph = import_graph(root, packages)
    out = []
    for comp in cycles(graph):
        edges = [f"{a} -> {b}" for a in comp for b in sorted(graph[a]) if b in comp]
        out.append(f"import cycle {' / '.join(comp)}: {'; '.join(edges)}")
    return out


def native_violations(root: Path, packages: tuple[str, ...] = PACKAGES, engine: str = ENGINE) -> list[str]:
    return [
        f"{imp.importer}:{imp.line} imports {imp.target}: only {engine} uses the media engine"
        for mod in modules(root, packages).values()
        if mod.name != engine
        for imp in imports(mod)
        if _within(imp.target, "native")
    ]


def signaling_violations(
    root: Path, packages: tuple[str, ...] = PACKAGES, allowed: tuple[str, ...] = COMPOSITION_ROOT
) -> list[str]:
    return [
        f"{imp.importer}:{imp.line} imports {imp.target}: only the composition root ({', '.join(allowed)}) "
        "wires signaling"
        for mod in modules(root, packages).values()
        if _within(mod.name, "mediaserver") and mod.name not in allowed
        for imp in imports(mod)
        if _within(imp.target, "signaling")
    ]


_PYX_IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+c?import\b|c?import\s+([\w.]+))", re.M)


def native_import_violations(root: Path, ours: tuple[str, ...] = OURS) -> list[str]:
    out = []
    for path in sorted((root / "native").rglob("*")):
        if path.suffix not in (".py", ".pyx", ".pxd"):
            continue
        for m in _PYX_IMPORT.finditer(path.read_text()):
            name = m.group(1) or m.group(2)
            if any(_within(name, top) for top in ours if top != "native"):
                line = path.read_text().count("\n", 0, m.start()) + 1
                out.append(f"{path.relative_to(root)}:{line} imports {name}: native imports nothing of ours")
    return out


def _receiver(node: ast.expr) -> bool:
    """A database session: ``s``, ``session`` or an attribute ``.s`` (``ctx.s``)."""
    return (isinstance(node, ast.Name) and node.id in SESSION_NAMES) or (
        isinstance(node, ast.Attribute) and node.attr in SESSION_NAMES
    )


def sql_fs_violations(
    root: Path, package: str = "signaling", fs_allowed: dict[str, str] | None = None
) -> list[str]:
    fs_allowed = FS_ALLOWED if fs_allowed is None else fs_allowed
    out = []
    for mod in modules(root, (package,)).values():
        for imp in imports(mod):
            if _within(imp.target, "sqlalchemy") and imp.target not in SQL_TYPES:
                out.append(f"{mod.name}:{imp.line} imports {imp.target}: no SQL in {package}/")
            elif any(_within(imp.target, m) for m in FS_MODULES) and mod.name not in fs_allowed:
                out.append(f"{mod.name}:{imp.line} imports {imp.target}: no file system in {package}/")
        for node, _, _ in _walk(mod.tree):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            if isinstance(f, ast.Attribute) and f.attr in SESSION_CALLS and _receiver(f.value):
                out.append(
                    f"{mod.name}:{node.lineno} queries the database ({ast.unparse(f)}): no SQL in {package}/"
                )
            elif mod.name in fs_allowed:
                continue
            elif isinstance(f, ast.Name) and f.id == "open":
                out.append(f"{mod.name}:{node.lineno} opens a file: no file system in {package}/")
            elif (
                isinstance(f, ast.Attribute)
                and f.attr in OS_FS_CALLS
                and isinstance(f.value, ast.Name)
                and f.value.id == "os"
            ):
                out.append(f"{mod.name}:{node.lineno} calls os.{f.attr}: no file system in {package}/")
        if mod.name not in fs_allowed:
            out += [
                f"{mod.name}:{node.lineno} uses os.path: no file system in {package}/"
                for node, _, _ in _walk(mod.tree)
                if isinstance(node, ast.Attribute)
                and node.attr == "path"
                and isinstance(node.value, ast.Name)
                and node.value.id == "os"
            ]
    return out


def local_import_violations(
    root: Path, packages: tuple[str, ...] = PACKAGES, allowed: dict[tuple[str, str], str] | None = None
) -> list[str]:
    allowed = LOCAL_ALLOWED if allowed is None else allowed
    known = modules(root, packages)
    out = []
    for mod in known.values():
        for imp in imports(mod):
            target = _resolve(imp.target, known) or imp.target
            ours = any(_within(target, top) for top in (*packages, "native"))
            if imp.local and ours and (mod.name, target) not in allowed:
                out.append(
                    f"{mod.name}:{imp.line} imports {target} inside a function: move it to the top (or "
                    "list it in LOCAL_ALLOWED with the reason)"
                )
    return sorted(set(out))


# ---------------------------------------------------------------- the rules on this repository

RULES = {
    "no import cycle": cycle_violations,
    "only the engine binding imports native": native_violations,
    "only the composition root imports signaling": signaling_violations,
    "native imports nothing of ours": native_import_violations,
    "no SQL or file system in signaling": sql_fs_violations,
    "function-local imports are justified": local_import_violations,
}


@pytest.mark.parametrize("rule", RULES)
def test_the_repository_keeps_the_rule(rule: str) -> None:
    assert RULES[rule](ROOT) == [], rule


def test_the_allow_lists_are_still_needed() -> None:
    """An exception that no longer happens goes from the list."""
    known = modules(ROOT)
    local = {
        (m.name, _resolve(i.target, known) or i.target) for m in known.values() for i in imports(m) if i.local
    }
    assert set(LOCAL_ALLOWED) <= local
    touching = {v.split(":")[0] for v in sql_fs_violations(ROOT, fs_allowed={}) if "file system" in v}
    assert set(FS_ALLOWED) <= touching
    assert ENGINE in known and all(c in known for c in COMPOSITION_ROOT)


# ---------------------------------------------------------------- each rule fires (a synthetic package)


def _package(tmp: Path, files: dict[str, str]) -> Path:
    for name, text in {"mediaserver/__init__.py": "", "signaling/__init__.py": "", **files}.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp


def test_a_cycle_fires_also_through_a_function_local_import(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "mediaserver/a.py": "from mediaserver import b\n",
            "mediaserver/b.py": "def f():\n    from mediaserver.a import x\n",
        },
    )
    assert cycle_violations(root) == [
        "import cycle mediaserver.a / mediaserver.b: mediaserver.a -> mediaserver.b; "
        "mediaserver.b -> mediaserver.a"
    ]


FIRES = {
    "a cycle across packages and relative imports fires": (
        cycle_violations,
        {
            "mediaserver/app.py": "from signaling.http import x\n",
            "signaling/http.py": "from .api import y\n",
            "signaling/api.py": "import mediaserver.app\n",
        },
        ["import cycle mediaserver.app / signaling.api / signaling.http"],
    ),
    "a TYPE_CHECKING import makes no cycle": (
        cycle_violations,
        {
            "mediaserver/a.py": "from mediaserver import b\n",
            "mediaserver/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from mediaserver.a import x\n",
        },
        [],
    ),
    "native outside the engine fires": (
        native_violations,
        {
            "mediaserver/rtc/__init__.py": "",
            "mediaserver/rtc/engine.py": "import native\n",
            "mediaserver/rtc/rooms.py": "def f():\n    from native import _core\n",
        },
        ["mediaserver.rtc.rooms"],
    ),
    "signaling from mediaserver fires": (
        signaling_violations,
        {
            "mediaserver/app.py": "from signaling import http\n",
            "mediaserver/events.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    import signaling.keys\n",
        },
        ["mediaserver.events"],
    ),
}


@pytest.mark.parametrize("case", FIRES)
def test_the_rule_fires_where_it_should(tmp_path: Path, case: str) -> None:
    """Each case: the rule, a synthetic package, and the modules it names (before the first colon)."""
    rule, files, expected = FIRES[case]
    assert [v.split(":")[0] for v in rule(_package(tmp_path, files))] == expected


def test_native_importing_ours_fires(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "native/__init__.py": "",
            "native/_core.pyx": '"""doc: from a buffer"""\n'
            "from libc.stdint cimport uint8_t\nfrom native._decl cimport *\n",
            "native/_units.pxd": "from mediaserver.rtc cimport engine\n",
        },
    )
    assert native_import_violations(root) == [
        "native/_units.pxd:1 imports mediaserver.rtc: native imports nothing of ours"
    ]


def test_sql_and_file_system_in_signaling_fire(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "signaling/a.py": "from sqlalchemy import select\n",
            "signaling/b.py": "async def h(ctx):\n    return await ctx.s.get(Event, 1)\n",
            "signaling/c.py": "async def h(s):\n    await s.execute(q)\n",
            "signaling/d.py": "from pathlib import Path\n",
            "signaling/e.py": "def h(p):\n    return open(p).read()\n",
            "signaling/f.py": "import os\ndef h(p):\n    os.unlink(p)\n",
            "signaling/g.py": "import os\nHERE = os.path.dirname(__file__)\n",
            "signaling/ok.py": "def h(ctx, d):\n    return d.get('x'), ctx.app.get('y')\n",
        },
    )
    found = sorted(v.split(":")[0] for v in sql_fs_violations(root, fs_allowed={}))
    assert found == [
        "signaling.a",
        "signaling.b",
        "signaling.c",
        "signaling.d",
        "signaling.e",
        "signaling.f",
        "signaling.g",
    ]
    fs = {f"signaling.{n}": "why" for n in "defg"}  # the file system may be allowed, SQL never
    assert sorted(v.split(":")[0] for v in sql_fs_violations(root, fs_allowed=fs)) == [
        "signaling.a",
        "signaling.b",
        "signaling.c",
    ]


def test_an_unlisted_function_local_import_fires(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "mediaserver/a.py": "",
            "mediaserver/cli.py": "def f():\n    import json\n    from mediaserver import a\n",
        },
    )
    assert len(local_import_violations(root, allowed={})) == 1
    assert local_import_violations(root, allowed={("mediaserver.cli", "mediaserver.a"): "why"}) == []
