"""Every third-party module that mediaserver/ and signaling/ import is a declared runtime dependency."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys

from packaging.requirements import Requirement

from tests.packaging.setup_py import ROOT, setup_keywords

FIRST_PARTY = {"mediaserver", "signaling", "native"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_top_level() -> dict[str, set[str]]:
    """Top-level modules imported anywhere in mediaserver/ and signaling/ (also inside functions), with the
    files importing them; imports under ``if TYPE_CHECKING:`` do not run and are left out."""
    found: dict[str, set[str]] = {}
    for pkg in ("mediaserver", "signaling"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            skip = {
                id(n)
                for b in ast.walk(tree)
                if isinstance(b, ast.If) and "TYPE_CHECKING" in ast.unparse(b.test)
                for s in b.body
                for n in ast.walk(s)
            }
            for node in ast.walk(tree):
                if id(node) in skip:
                    continue
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_third_party_import_is_in_install_requires() -> None:
    required = {_norm(Requirement(r).name) for r in setup_keywords()["install_requires"]}
    dists = importlib.metadata.packages_distributions()
    third_party = {
        m: files
        for m, files in imported_top_level().items()
        if m not in FIRST_PARTY and m not in sys.stdlib_module_names
    }
    assert {"aiohttp", "sqlalchemy", "av", "numpy"} <= set(third_party)  # the scan does see imports
    missing = {}
    for module, files in sorted(third_party.items()):
        providers = {_norm(d) for d in dists.get(module, [])}
        assert providers, f"{module} (imported by {sorted(files)}) is not installed here"
        if not providers & required:
            missing[module] = (sorted(providers), sorted(files))
    assert not missing, f"imported at run time but not in install_requires: {missing}"


def test_test_tools_are_not_runtime_dependencies() -> None:
    """The test extra holds only what the tests need beyond the runtime dependencies, never a copy of one."""
    kw = setup_keywords()
    runtime = {_norm(Requirement(r).name) for r in kw["install_requires"]}
    test = {_norm(Requirement(r).name) for r in kw["extras_require"]["test"]}
    assert not runtime & test
