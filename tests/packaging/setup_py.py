"""What setup.py declares, read from its source (running it would build the native core)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def setup_keywords() -> dict[str, Any]:
    """The literal keyword arguments of the ``setup(...)`` call in setup.py (non-literal ones are left
    out)."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup":
            out: dict[str, Any] = {}
            for kw in node.keywords:
                try:
                    out[kw.arg] = ast.literal_eval(kw.value)
                except ValueError:
                    continue
            return out
    raise AssertionError("setup.py has no setup(...) call")
