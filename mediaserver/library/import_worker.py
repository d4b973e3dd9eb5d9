"""Contact files are read in a worker process with a memory and a time limit (issue 14 finding 2).

A spreadsheet is a program of sorts for its reader: a 1.5 KB workbook declaring the dimension A1:XFD100000
made openpyxl build 16,384 cells a row, ~13 GB, in the server process that also runs the media threads.
:mod:`contacts_import` now checks sizes before it reads, but a reader may still need more than a file looks
like it would, so :func:`parse` runs :func:`contacts_import.parse_contacts` in a fresh interpreter
(``python -m mediaserver.library.import_child``; started by fork+exec with nothing run in between, which is
safe in a process with native threads, and awaited without blocking the event loop) that first limits its own
address space (``RLIMIT_AS``) and CPU time (``RLIMIT_CPU``), and is killed when the wall-clock limit passes.
A reader that runs out of memory or time is a 413 ``too_large`` naming the limit; the server never grows.
The worker's side is :mod:`mediaserver.library.import_child`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import weakref
from dataclasses import dataclass
from pathlib import Path

from mediaserver.library import contacts_import, import_child
from mediaserver.library.contacts_import import ContactRow, ImportRefused, ImportResult

log = logging.getLogger(__name__)

PARALLEL = 2  # workers at once per server; more imports wait their turn


@dataclass(frozen=True)
class Limits:
    memory_mb: int  # the worker's address space (RLIMIT_AS)
    timeout: float  # seconds of wall-clock time before the worker is killed


_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _slot() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slot = _slots.get(loop)
    if slot is None:
        slot = _slots[loop] = asyncio.Semaphore(PARALLEL)
    return slot


async def parse(data: bytes, filename: str, limits: Limits) -> ImportResult:
    """:func:`contacts_import.parse_contacts` in a worker process within ``limits``; raises ImportRefused."""
    # what can be refused without reading is refused here, at once (a worker takes ~0.2 s to start)
    await asyncio.to_thread(contacts_import.check_file, data, filename, True)
    async with _slot():
        out = await _run(data, filename, limits)
    try:
        answer = json.loads(out)
    except ValueError:
        answer = None
    if isinstance(answer, dict) and "result" in answer:
        r = answer["result"]
        return ImportResult(
            rows=[ContactRow(**row) for row in r["rows"]],
            skipped=[(line, reason) for line, reason in r["skipped"]],
            format=r["format"],
            encoding=r["encoding"],
        )
    if isinstance(answer, dict) and "refused" in answer:
        raise ImportRefused(answer["refused"]["code"], answer["refused"]["message"])
    if isinstance(answer, dict) and answer.get("limit") == "memory":
        raise _memory_refusal(limits)
    raise ImportRefused(
        "import_failed", "the file could not be read: the import worker failed; try again later"
    )


def _memory_refusal(limits: Limits) -> ImportRefused:
    return ImportRefused(
        "too_large",
        f"reading the file needs more than the {limits.memory_mb} MB of memory an import may use: "
        "split it into smaller files",
    )


async def _run(data: bytes, filename: str, limits: Limits) -> bytes:
    """The worker's stdout; ImportRefused when it ran out of time or died of its memory limit."""
    # -S: no site module (half the start-up time); the worker gets this process's import path instead, so it
    # runs this very code and finds the same packages
    package = str(Path(__file__).resolve().parents[2])
    path = [package, *(p for p in sys.path if p and os.path.isdir(p))]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIASERVER_")}  # no secrets
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(path))
    cpu = max(1, int(limits.timeout) + 1)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-S",
        "-m",
        import_child.__name__,
        str(limits.memory_mb * 1024 * 1024),
        str(cpu),
        json.dumps(filename[-255:]),  # ASCII, no NUL, short: a safe argument (its extension is what counts)
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(data), limits.timeout)
    except TimeoutError:
        raise ImportRefused(
            "too_large",
            f"reading the file takes longer than the {limits.timeout:g} s an import may take: "
            "split it into smaller files",
        ) from None
    finally:
        if proc.returncode is None:  # timed out, or the request was cancelled
            try:
                proc.kill()
            except ProcessLookupError:
                pass
            await proc.wait()
    if err:  # readers warn about what they skip (openpyxl: "Data Validation extension is not supported")
        tail = err[-2000:].decode("utf-8", "replace")
        log.log(logging.WARNING if proc.returncode else logging.DEBUG, "contacts import worker: %s", tail)
    if proc.returncode and b"MemoryError" in err:  # died of its memory limit past reporting it
        raise _memory_refusal(limits)
    if proc.returncode:
        log.warning("contacts import worker exited with %s", proc.returncode)
    return out
