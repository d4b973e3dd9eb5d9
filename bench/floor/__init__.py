"""The C floor of the side-by-side benchmark: a single-threaded SRTP forwarder without ICE or DTLS.

``floor.c`` does per packet what an SFU must do at the least (decrypt once, per receiver rewrite
SSRC/sequence/timestamp and encrypt with AEAD_AES_128_GCM, send), so it marks the best one core can
do. Peers register with a plaintext ``FLOOR <name> <send|recv|sendrecv>`` datagram from their socket
and use pre-shared keys, see :func:`keys`.

``build()`` compiles the binary (cached under ``bench/.cache/``), ``keys(seed, label)`` derives the
28-byte SRTP master key + salt of a direction (``"<name>-up"``: peer -> floor, ``"<name>-down"``:
floor -> peer) and ``out_ssrc(...)`` the SSRC a receiver sees for a sender's stream.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SOURCE = Path(__file__).resolve().parent / "floor.c"
SRTP_SOURCES = (ROOT / "native" / "core" / "srtp.c", ROOT / "native" / "core" / "srtp.h")
CACHE = ROOT / "bench" / ".cache"
MODES = ("sendto", "sendmmsg", "gso")


def build(out_dir: Path | None = None) -> Path:
    """Compile ``floor.c`` + ``native/core/srtp.c`` unless the binary is newer than every source.

    Returns the binary's path (``<out_dir or bench/.cache>/floor``).
    """
    return _compile(SOURCE, "floor", out_dir)


def build_driver(out_dir: Path | None = None) -> Path:
    """Compile ``drive.c``, the measurement driver of ``python -m bench.floor.measure``."""
    return _compile(SOURCE.with_name("drive.c"), "floor-drive", out_dir)


def _compile(source: Path, name: str, out_dir: Path | None) -> Path:
    out_dir = Path(out_dir) if out_dir is not None else CACHE
    out_dir.mkdir(parents=True, exist_ok=True)
    binary = out_dir / name
    newest = max(p.stat().st_mtime for p in (source, *SRTP_SOURCES))
    if binary.exists() and binary.stat().st_mtime >= newest:
        return binary
    tmp = out_dir / f".{name}.{os.getpid()}.tmp"
    cmd = [
        "cc",
        "-O2",
        "-march=x86-64-v2",
        "-o",
        str(tmp),
        str(source),
        str(SRTP_SOURCES[0]),
        f"-I{ROOT / 'native' / 'core'}",
        "-lcrypto",
    ]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"building {name} failed: {' '.join(cmd)}\n{e.stderr}") from e
    os.replace(tmp, binary)  # atomic: concurrent builders never see a half-written binary
    return binary


def keys(seed: int | str, label: str) -> bytes:
    """SRTP master key (16 bytes) + salt (12 bytes) of a direction: SHA-256(f"{seed}:{label}")[:28]."""
    return hashlib.sha256(f"{seed}:{label}".encode()).digest()[:28]


def out_ssrc(seed: int | str, receiver: str, sender: str, ssrc: int) -> int:
    """The SSRC ``receiver`` sees for ``sender``'s stream ``ssrc``.

    The floor adds 1 until the value is non-zero and unique among that receiver's streams, which a
    32-bit hash of a few hundred streams practically never needs.
    """
    return int.from_bytes(hashlib.sha256(f"{seed}:{receiver}:{sender}:{ssrc}".encode()).digest()[:4], "big")
