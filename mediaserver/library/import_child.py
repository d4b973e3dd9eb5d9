"""The contacts-import worker process (issue 14 finding 2): ``python -S -m mediaserver.library.import_child
MEMORY_BYTES CPU_SECONDS FILENAME_AS_JSON``, started by :mod:`mediaserver.library.import_worker`.

It limits its own address space (RLIMIT_AS) and CPU time first, then reads the file's bytes on stdin, runs
:func:`contacts_import.parse_contacts`, and writes one JSON object on stdout: ``{"result": ...}``,
``{"refused": {"code", "message"}}``, ``{"limit": "memory"}`` when the reader ran out of memory, or
``{"error": ...}`` when it failed otherwise. It imports only what reading needs, to start fast.
"""

from __future__ import annotations

import dataclasses
import json
import resource
import sys
import traceback

from mediaserver.library import contacts_import
from mediaserver.library.contacts_import import ImportRefused

_RESERVE = 4 * 1024 * 1024  # freed on MemoryError so the worker can still report it


def _limit(kind: int, value: int) -> None:
    hard = resource.getrlimit(kind)[1]
    value = value if hard == resource.RLIM_INFINITY else min(value, hard)
    resource.setrlimit(kind, (value, value))


def main(argv: list[str]) -> None:
    memory, cpu = int(argv[0]), int(argv[1])
    _limit(resource.RLIMIT_AS, memory)
    _limit(resource.RLIMIT_CPU, cpu)
    _limit(resource.RLIMIT_CORE, 0)
    # openpyxl imports numpy when it can, whose OpenBLAS reserves hundreds of MB of address space per thread
    # at start (and aborts past RLIMIT_AS); reading needs none of it
    sys.modules["numpy"] = None  # type: ignore[assignment]
    reserve: bytearray | None = bytearray(_RESERVE)
    text = json.dumps({"limit": "memory"})
    try:
        filename = json.loads(argv[2])
        result = contacts_import.parse_contacts(sys.stdin.buffer.read(), str(filename))
        text = json.dumps({"result": dataclasses.asdict(result)})
    except ImportRefused as e:
        text = json.dumps({"refused": {"code": e.code, "message": e.message}})
    except MemoryError:
        reserve = None  # the reader's memory goes with the exception, at the end of this block
    except Exception as e:  # a bug, or a reader missing: the server's fault, told as such
        traceback.print_exc()
        text = json.dumps({"error": f"{type(e).__name__}: {e}"[:500]})
    del reserve
    sys.stdout.write(text)
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
