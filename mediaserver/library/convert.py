"""Documents are converted and rendered in worker processes (issue 17 item 1, R-MEDIA-8), never in the server.

Each document gets a fresh interpreter (``python -S -m mediaserver.library.convert_child``, fork+exec as
:mod:`mediaserver.library.import_worker` does for contact files) in a process group of its own: it limits its
address space (RLIMIT_AS) and CPU time, LibreOffice (``soffice --headless --convert-to pdf``, a throwaway
profile) runs as its child under the same limits, and when the wall-clock limit passes the whole group is
killed. At most ``document_workers`` conversions run at once; the others wait in the database (status
``converting``), so a restart takes them up again. The worker reports the page count as soon as the PDF is
good, then each page image as it is rendered: the first page is shown before the last is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mediaserver.errors import ControlError
from mediaserver.library import convert_child, documents
from mediaserver.library.storage import Storage
from mediaserver.store.db import Database

log = logging.getLogger(__name__)

RENDER_TIMEOUT = 30.0  # seconds one page image requested at another width may take
RENDER_PARALLEL = 2  # page images rendered on request at once
PROGRESS_EVERY = 0.25  # seconds between two writes of a conversion's pages ready


@dataclass(frozen=True)
class Limits:
    memory_mb: int  # the worker's (and LibreOffice's) address space, RLIMIT_AS
    timeout: float  # seconds of wall-clock time for one document before its process group is killed
    max_pages: int  # a longer document is refused

    @classmethod
    def of(cls, settings: Any) -> Limits:
        return cls(settings.document_memory_mb, settings.document_timeout, settings.document_max_pages)


class Refusal(Exception):
    """The document cannot be shown: ``code`` and a message naming the problem."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _env() -> dict[str, str]:
    # -S: no site module; the worker gets this process's import path instead, so it runs this very code
    package = str(Path(__file__).resolve().parents[2])
    path = [package, *(p for p in sys.path if p and os.path.isdir(p))]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIASERVER_")}  # no secrets
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(path))
    return env


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # the worker and its LibreOffice: its own group (pid == pgid)


async def run_worker(
    args: list[str], timeout: float, on_line: Callable[[dict[str, Any]], Awaitable[None]]
) -> dict[str, Any] | None:
    """Run ``convert_child`` with ``args``, call ``on_line`` for each of its JSON lines and return the last;
    None when it said nothing. Raises TimeoutError when ``timeout`` passed (the group is killed)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-S",
        "-m",
        convert_child.__name__,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(),
        start_new_session=True,
    )
    last: dict[str, Any] | None = None
    err = b""

    async def pump() -> None:
        nonlocal last, err
        assert proc.stdout is not None and proc.stderr is not None
        stderr = asyncio.ensure_future(proc.stderr.read())
        async for raw in proc.stdout:
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if isinstance(line, dict):
                last = line
                await on_line(line)
        err = await stderr
        await proc.wait()

    try:
        await asyncio.wait_for(pump(), timeout)
    finally:
        _kill_group(proc)  # timed out, cancelled, or leftovers of a finished worker
        if proc.returncode is None:
            await proc.wait()
    if err.strip():
        log.log(
            logging.WARNING if proc.returncode or (last and "error" in last) else logging.DEBUG,
            "document worker: %s",
            err[-2000:].decode("utf-8", "replace"),
        )
    return last


def _outcome(last: dict[str, Any] | None, limits: Limits) -> None:
    """Raise the Refusal a worker's last line (or its silence) means; nothing when it was done."""
    if last is not None and last.get("done"):
        return
    if last is not None and isinstance(last.get("refused"), dict):
        raise Refusal(str(last["refused"]["code"]), str(last["refused"]["message"]))
    if last is not None and last.get("limit") == "memory":
        raise Refusal(
            "too_large",
            f"the document needs more than the {limits.memory_mb} MB of memory a conversion may use: "
            "split it or save it as PDF",
        )
    raise Refusal("conversion_failed", "the document could not be converted: the worker failed; try again")


async def convert(
    src: Path, out: Path, ext: str, limits: Limits, on_line: Callable[[dict[str, Any]], Awaitable[None]]
) -> None:
    """Convert and render one document into ``out``; raises Refusal naming what went wrong."""
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    args = [
        "convert",
        str(src),
        str(out),
        ext,
        str(limits.memory_mb * 1024 * 1024),
        str(max(1, int(limits.timeout) + 1)),
        str(limits.max_pages),
        str(documents.THUMB_WIDTH),
    ]
    try:
        last = await run_worker(args, limits.timeout, on_line)
    except TimeoutError:
        raise Refusal(
            "timed_out",
            f"converting the document took longer than the {limits.timeout:g} s allowed: "
            "split it or save it as PDF",
        ) from None
    _outcome(last, limits)


_render_slots: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}


async def render(pdf: Path, page: int, width: int, fmt: str, out: Path, limits: Limits) -> None:
    """Render one page image on request (a width or format the worker did not make); raises Refusal."""
    loop = asyncio.get_running_loop()
    slot = _render_slots.setdefault(loop, asyncio.Semaphore(RENDER_PARALLEL))

    async def nothing(line: dict[str, Any]) -> None:
        pass

    memory = str(limits.memory_mb * 1024 * 1024)
    async with slot:
        try:
            last = await run_worker(
                ["render", str(pdf), str(page), str(width), fmt, str(out), memory, str(int(RENDER_TIMEOUT))],
                RENDER_TIMEOUT,
                nothing,
            )
        except TimeoutError:
            raise Refusal("timed_out", "rendering the page took too long") from None
    _outcome(last, limits)


class Converter:
    """The server's document conversions: takes up the documents ``converting`` in the database, at most
    ``workers`` at once, and records their progress there."""

    def __init__(self, db: Database, store: Storage, limits: Limits, workers: int) -> None:
        self.db, self.store, self.limits = db, store, limits
        self.workers = workers
        self.running: dict[int, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._slots: asyncio.Semaphore | None = None

    def start(self) -> None:
        """Start; the documents left converting by the last run go first (a restart re-queues them)."""
        self._slots = asyncio.Semaphore(self.workers)
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._wake.set()

    def wake(self) -> None:
        """Look for documents to convert (one was uploaded, or asked for again)."""
        self._wake.set()

    async def close(self) -> None:
        tasks = [t for t in (self._task, *self.running.values()) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                async with self.db.read() as s:
                    due = await documents.queued(s)
            except Exception:
                log.exception("documents to convert could not be read")
                continue
            for file_id, key, name in due:
                if file_id not in self.running:
                    task = asyncio.get_running_loop().create_task(self._convert(file_id, key, name))
                    self.running[file_id] = task

    async def _convert(self, file_id: int, key: str, name: str) -> None:
        assert self._slots is not None
        try:
            async with self._slots:
                await self._one(file_id, key, name)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("converting document %s failed", file_id)
        finally:
            self.running.pop(file_id, None)
        self._wake.set()  # asked for again meanwhile

    async def _one(self, file_id: int, key: str, name: str) -> None:
        out = self.store.document_dir(key)
        shutil.rmtree(out, ignore_errors=True)  # a conversion cut short by a restart starts again
        gone = False
        noted = 0.0  # when progress was last written: at most every PROGRESS_EVERY s, but page 1 at once

        async def on_line(line: dict[str, Any]) -> None:
            nonlocal gone, noted
            now = asyncio.get_running_loop().time()
            if (
                "pages" in line
                or line.get("ready") == 1
                or ("ready" in line and now - noted >= PROGRESS_EVERY)
            ):
                noted = now
                async with self.db.tx() as s:
                    gone = not await documents.progress(s, file_id, line.get("pages"), line.get("ready"))

        ext = documents.extension(name)
        started = asyncio.get_running_loop().time()
        pages: int | None = None

        async def on_progress(line: dict[str, Any]) -> None:
            nonlocal pages
            pages = line.get("pages", pages)
            await on_line(line)

        try:
            await convert(self.store.path(key), out, ext, self.limits, on_progress)
            code = message = None
        except Refusal as e:
            code, message = e.code, e.message
        async with self.db.tx() as s:
            done = await documents.finish(s, file_id, code, message, None if code else pages)
            gone = not done or gone
        took = asyncio.get_running_loop().time() - started
        log.info("document %s (%s) %s in %.1f s", file_id, ext, code or "converted", took)
        if gone or (code and ext != "pdf"):
            shutil.rmtree(out, ignore_errors=True)  # the file went meanwhile, or nothing good was made


async def page_image(
    store: Storage, doc: documents.Doc, page: int, width: int, fmt: str, limits: Limits
) -> Path:
    """The page image's file, rendered now when no worker made it yet; raises Refusal."""
    path = documents.page_path(store, doc.file, page, width, fmt)
    if not path.is_file():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        await render(documents.pdf_path(store, doc.file), page, width, fmt, path, limits)
    return path


async def page_file(
    store: Storage, doc: documents.Doc, page: int, width: int, fmt: str, limits: Limits
) -> Path:
    """:func:`page_image` for the API: a Refusal is a ControlError (422)."""
    try:
        return await page_image(store, doc, page, width, fmt, limits)
    except Refusal as e:
        raise ControlError(e.code, f"page {page} could not be rendered: {e.message}", 409) from None
