"""A test host in a network namespace of its own, joined to this one by a veth pair.

Firefox gathers only the machine's interface addresses and never pairs them with a server candidate on
127.0.0.1 (issue 15), so the tests that run it put the server on a 10.x address inside a namespace they create
and remove: browsers in this namespace reach it over the veth pair, as they would reach a server on a LAN.
Needs root and iproute2's `ip`; traffic stays on the pair.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Host:
    """A namespace and its address; ``gateway`` is this side's end of the veth pair."""

    name: str
    address: str
    gateway: str

    def exec(self) -> list[str]:
        """The prefix that runs a command inside the namespace."""
        return ["ip", "netns", "exec", self.name]


def missing() -> str | None:
    """Why a namespace cannot be made here, or None when it can."""
    if shutil.which("ip") is None:
        return "iproute2's ip is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root"
    return None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@contextmanager
def namespace() -> Iterator[Host]:
    """A fresh namespace with a veth pair on a random 10.x.y.0/24 (this side .1, the namespace .2); removed
    on exit, pass or fail."""
    tag = f"{os.getpid() % 10000}{random.randrange(100, 1000)}"
    name, outer, inner = f"ms{tag}", f"vh{tag}", f"vn{tag}"
    net = f"10.{random.randrange(100, 250)}.{random.randrange(1, 250)}"
    host = Host(name=name, address=f"{net}.2", gateway=f"{net}.1")
    _ip("netns", "add", name)
    try:
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        _ip("link", "set", inner, "netns", name)
        _ip("addr", "add", f"{host.gateway}/24", "dev", outer)
        _ip("link", "set", outer, "up")
        for args in (
            ("addr", "add", f"{host.address}/24", "dev", inner),
            ("link", "set", inner, "up"),
            ("link", "set", "lo", "up"),
        ):
            _ip("-n", name, *args)
        yield host
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
        subprocess.run(["ip", "link", "del", outer], capture_output=True, timeout=10)
