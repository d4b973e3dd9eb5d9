"""Secrets at rest (issue 14 finding 11): what the server must use in clear later (webhook signing secrets,
payment providers' callback secrets, events' host keys, invitees' tokens, the stored answers of
Idempotency-Keys, the e-mails of the outbox with the links they carry) is kept in the database encrypted
(Fernet: AES-128-CBC with HMAC-SHA256) under a key that lives in a file of its own in the data directory
(``sealing.key``, mode 0600), so that a dump or a backup of the database alone reveals none of them. What
only needs comparing is stored as a SHA-256 digest instead (API keys, sessions, activation links, and the
lookup column of invitation tokens).

A :class:`Sealed` column encrypts on the way in and decrypts on the way out, with the key registered for the
engine's dialect by :class:`mediaserver.store.db.Database`; it cannot be searched (each encryption differs),
so a sealed value that is looked up has a digest column beside it. Values written before the migration that
sealed them (plain text, without :data:`PREFIX`) are read as they are.

The data directory itself is made private (0700) here: everything the server writes lives under it."""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import weakref
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

log = logging.getLogger("mediaserver.store")

KEY_FILE = "sealing.key"
PREFIX = "sealed:v1:"
_KEYS: weakref.WeakKeyDictionary[Dialect, Fernet] = weakref.WeakKeyDictionary()


def digest(token: str) -> str:
    """SHA-256 (hex) of a random, long token: enough to find and compare it, nothing to recover it from."""
    return hashlib.sha256(token.encode()).hexdigest()


def private_dir(path: str | Path) -> Path:
    """``path`` as a directory only the server's user may enter (0700): made so, or narrowed to it when it
    is the server's own and open to others (an older installation's 0755)."""
    path = Path(path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.stat()
    if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) & 0o077:
        log.warning("%s was open to other users (%o): now 0700", path, stat.S_IMODE(st.st_mode))
        path.chmod(0o700)
    return path


def valid_key(key: str) -> bool:
    try:
        Fernet(key.encode())
    except (ValueError, TypeError):
        return False
    return True


def load_key(data_dir: str | Path, configured: str = "") -> bytes:
    """The sealing key of the server whose data directory is ``data_dir``: ``configured`` (the setting
    ``sealing_key``: every node of a cluster has the same), or read from ``sealing.key``, or made there on the
    first start (0600, never rewritten). Back it up apart from the database: without it the sealed secrets
    cannot be read."""
    path = private_dir(data_dir) / KEY_FILE
    if configured:
        return configured.encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes().strip()
    else:
        key = Fernet.generate_key()
        with os.fdopen(fd, "wb") as f:
            f.write(key + b"\n")
        log.info("made the sealing key %s", path)
    Fernet(key)  # a damaged file is an error at start, not at the first secret
    return key


def register(dialect: Dialect, key: bytes) -> None:
    """Seal and unseal with ``key`` on the engine whose dialect this is (one per Database)."""
    _KEYS[dialect] = Fernet(key)


def _fernet(dialect: Dialect) -> Fernet:
    f = _KEYS.get(dialect)
    if f is None:
        raise RuntimeError("no sealing key for this database: Database(url, key) with sealed.load_key()")
    return f


def seal(dialect: Dialect, value: str) -> str:
    """``value`` encrypted under the dialect's key, as stored."""
    return PREFIX + _fernet(dialect).encrypt(value.encode()).decode("ascii")


def unseal(dialect: Dialect, stored: str) -> str:
    """The clear value of a stored one; a value stored before sealing (no PREFIX) is returned as it is."""
    if not stored.startswith(PREFIX):
        return stored
    try:
        return _fernet(dialect).decrypt(stored[len(PREFIX) :].encode("ascii")).decode()
    except InvalidToken:
        raise RuntimeError("a sealed value does not open with this server's sealing key") from None


def is_sealed(stored: str | None) -> bool:
    return stored is not None and stored.startswith(PREFIX)


class Sealed(TypeDecorator[str]):
    """A text column kept encrypted at rest (see the module); Python sees the clear text."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else seal(dialect, value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else unseal(dialect, str(value))
