"""`mediaserver serve` owns its process: the signaling thread yields a shared core to the media thread
(setting `signaling_nice`), while an application built inside another process (tests) leaves that
process's priorities alone."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


def _nice_by_thread(pid: int) -> dict[int, int]:
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            text = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        out[int(tid)] = int(fields[16])  # proc(5) field 19, "nice"
    return out


def test_serve_lowers_the_signaling_thread_only(server_process):
    pid = server_process["proc"].pid
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        nice = _nice_by_thread(pid)
        if nice.get(pid) == 10:
            break
        time.sleep(0.1)
    assert nice[pid] == 10, nice  # the main (signaling) thread, default signaling_nice
    assert 0 in nice.values(), nice  # the media worker thread, started before, keeps 0


async def test_an_embedded_application_keeps_the_process_priority(server):
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == 0
