"""Where the file library's bytes live: the one module that knows the on-disk layout (R-FILE-1..4, R-ACC-3).

Under ``files_dir/uploads`` (``files_dir``: ``<data_dir>/files`` by default; shared by a cluster's nodes)
every stored file is ``<key>.bin``; a tus upload in progress is the same ``<key>.bin`` (its size is the
upload's offset) with a JSON sidecar ``<key>.json`` (:class:`UploadStore`), and a finished upload keeps its id
as the library file's ``storage_key``. Recordings are written there too (mediaserver.output.recording).
Nothing else spells these paths out: callers ask for :class:`Storage`.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path
from typing import IO, Any

TOMBSTONE_KEEP = 7 * 86400.0  # seconds an expired upload is still answered with 410 Gone
_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class Storage:
    """The stored files under one files directory (settings.files_dir)."""

    def __init__(self, files_dir: str | Path) -> None:
        self.root = Path(files_dir) / "uploads"  # stored files and tus uploads in progress

    @classmethod
    def of(cls, settings: Any) -> Storage:
        """The storage of a server's settings."""
        return cls(settings.files_dir)

    def path(self, key: str) -> Path:
        """Where the bytes of the library file with this storage key live (an upload's or a recording's)."""
        return self.root / f"{key}.bin"

    def create(self, key: str) -> Path:
        """A new, empty stored file for ``key`` (0600 in a 0700 directory, issue 14 finding 11): a writer that
        truncates it (PyAV's WebM muxer) keeps that mode."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.path(key)
        path.touch(mode=0o600)
        return path

    def document_dir(self, key: str) -> Path:
        """Where the converted PDF and the page images of the library file with this storage key live
        (issue 17): a directory beside its bytes, ``<key>.doc``, removed with them."""
        return self.root / f"{key}.doc"

    def uploads(self) -> UploadStore:
        """The tus uploads in progress (they become stored files under their id)."""
        return UploadStore(self.root)

    def remove(self, storage_keys: Iterable[str]) -> None:
        """Delete stored bytes (once their rows are gone: irreversible); a key that would leave the
        directory is ignored."""
        root = self.root.resolve()
        for key in storage_keys:
            for suffix in (".bin", ".json"):
                path = (root / f"{key}{suffix}").resolve()
                if path.parent == root:
                    path.unlink(missing_ok=True)
            derived = (root / f"{key}.doc").resolve()
            if derived.parent == root and derived.is_dir():
                shutil.rmtree(derived, ignore_errors=True)

    def forget_account(self, storage_keys: Iterable[str], account_id: int) -> None:
        """R-ACC-3, irreversible: the stored bytes of an account's library files, and its unfinished uploads
        (whose rows had no storage key yet), leave the disk. (A reassigned sub-account keeps its id: the old
        user's unfinished uploads must not become the new user's.)"""
        self.remove(storage_keys)
        store = self.uploads()
        for upload in store.all():
            if upload.owner == str(account_id):
                store.delete(upload)


@dataclass
class Upload:
    """One upload's durable state (the sidecar); ``offset`` is read from the data file's size."""

    id: str
    owner: str
    filename: str
    length: int
    into_room: bool = False
    metadata: dict[str, str] = field(default_factory=dict)
    created: float = 0.0
    completed: bool = False
    expired: float = 0.0  # when it was swept (a tombstone: the data is gone)
    released: bool = False  # on_expire ran for the tombstone
    extra: dict[str, Any] = field(default_factory=dict)  # what on_create returned (the app's own state)
    offset: int = 0
    path: Path = Path()

    @property
    def done(self) -> bool:
        return self.offset >= self.length


class UploadStore:
    """Uploads on disk: ``<id>.bin`` holds the bytes, ``<id>.json`` the rest."""

    def __init__(self, root: str | PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.locks: dict[str, asyncio.Lock] = {}

    def _paths(self, upload_id: str) -> tuple[Path, Path]:
        return self.root / f"{upload_id}.bin", self.root / f"{upload_id}.json"

    def create(
        self,
        owner: str,
        filename: str,
        length: int,
        into_room: bool,
        metadata: dict[str, str],
        extra: dict[str, Any] | None = None,
    ) -> Upload:
        upload_id = secrets.token_urlsafe(18)
        data, side = self._paths(upload_id)
        data.touch(mode=0o600, exist_ok=False)  # the server's own (issue 14 finding 11)
        upload = Upload(
            upload_id,
            owner,
            filename,
            length,
            into_room,
            metadata,
            time.time(),
            extra=dict(extra or {}),
            path=data,
        )
        self.save(upload)
        return upload

    def save(self, upload: Upload) -> None:
        _, side = self._paths(upload.id)
        state = {k: v for k, v in asdict(upload).items() if k not in ("offset", "path")}
        tmp = side.with_suffix(".tmp")
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as f:
            f.write(json.dumps(state))
        os.replace(tmp, side)

    def get(self, upload_id: str) -> Upload | None:
        if not _ID.match(upload_id):
            return None
        data, side = self._paths(upload_id)
        try:
            state = json.loads(side.read_text(encoding="utf-8"))
            offset = data.stat().st_size
        except (OSError, ValueError):
            return None
        upload = Upload(**state, offset=offset, path=data)
        return None if upload.expired else upload

    def tombstone(self, upload_id: str) -> Upload | None:
        """The sidecar of an upload swept by :meth:`expire` (its data is gone), if it is still kept."""
        if not _ID.match(upload_id):
            return None
        data, side = self._paths(upload_id)
        try:
            upload = Upload(**json.loads(side.read_text(encoding="utf-8")), path=data)
        except (OSError, ValueError, TypeError):
            return None
        return upload if upload.expired else None

    def all(self) -> list[Upload]:
        """Every upload with a sidecar: those in progress or finished, and the tombstones."""
        found = []
        for side in list(self.root.glob("*.json")):
            upload = self.get(side.stem) or self.tombstone(side.stem)
            if upload is not None:
                found.append(upload)
        return found

    def writer(self, upload: Upload) -> IO[bytes]:
        """The upload's data file opened for writing at any offset (a tus PATCH appends through it)."""
        return open(upload.path, "r+b")

    def last_progress(self, upload: Upload) -> float:
        """When the upload last moved: its last write (the data file's mtime), or its creation."""
        try:
            return max(upload.created, upload.path.stat().st_mtime)
        except OSError:
            return upload.created

    def expire(self, max_idle: float, now: float | None = None) -> list[Upload]:
        """R-FILE-3: sweep unfinished uploads idle for ``max_idle`` seconds (their data goes, a tombstone
        stays); return the new tombstones and the older ones whose space was not given back yet
        (``released`` False). Tombstones older than :data:`TOMBSTONE_KEEP` go for good."""
        now = time.time() if now is None else now
        due = []
        for side in self.root.glob("*.json"):
            upload = self.get(side.stem)
            if upload is not None:
                if (
                    upload.completed
                    or self.lock(upload.id).locked()
                    or self.last_progress(upload) + max_idle > now
                ):
                    continue
                upload.path.unlink(missing_ok=True)
                upload.expired = now
                self.save(upload)
                self.locks.pop(upload.id, None)
                due.append(upload)
                continue
            tomb = self.tombstone(side.stem)
            if tomb is None:
                continue
            if not tomb.released:
                due.append(tomb)
            elif tomb.expired + TOMBSTONE_KEEP < now:
                side.unlink(missing_ok=True)
        return due

    def delete(self, upload: Upload) -> None:
        for path in self._paths(upload.id):
            path.unlink(missing_ok=True)
        self.locks.pop(upload.id, None)

    def purge(self, older_than: float, now: float | None = None) -> list[Upload]:
        """Remove unfinished uploads created more than ``older_than`` seconds ago; return them."""
        cutoff = (time.time() if now is None else now) - older_than
        gone = []
        for side in self.root.glob("*.json"):
            upload = self.get(side.stem)
            if (
                upload
                and not upload.completed
                and upload.created < cutoff
                and not self.lock(upload.id).locked()
            ):
                self.delete(upload)
                gone.append(upload)
        return gone

    def lock(self, upload_id: str) -> asyncio.Lock:
        return self.locks.setdefault(upload_id, asyncio.Lock())
