"""A benchmark's JSON under bench/results/: when, on what machine, with which arguments, and its figures."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
from pathlib import Path
from typing import Any


def write(path: Path, args: argparse.Namespace, **figures: Any) -> None:
    """``path`` (its folder made) holds ``when``, ``machine`` (CPU name, cores, the CPUs this process may
    use), ``args`` (paths as strings) and ``figures``."""
    doc = {
        "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "affinity": sorted(os.sched_getaffinity(0)),
        },
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        **figures,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")
