"""Whether the nodes of a cluster share their files directory (issue 19): the library's bytes (uploads,
documents, recordings) are written by the node that receives them and read by any node, so ``files_dir``
must be one directory every node mounts (NFS, CephFS ...).

Each node leaves a mark of itself in ``files_dir/.nodes`` when it starts, and looks for the live nodes'
marks there whenever it reads the registry: ``GET /api/v1/cluster/nodes`` says ``filesShared: false`` for a
node whose mark it does not see (yet: a shared filesystem may take a while to show a new file), and after
``GRACE`` seconds without it the log says so once, as an error (and again when the mark appears).
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)

#: seconds a node's mark may stay unseen before the log calls it an error (NFS caches directory entries for
#: up to a minute by default)
GRACE = 60.0


class SharedFiles:
    def __init__(self, files_dir: str | Path, node_id: str) -> None:
        self.dir = Path(files_dir) / ".nodes"
        self.node_id = node_id
        self.seen: set[str] = set()  # nodes whose mark is here
        self.missing_since: dict[str, float] = {}  # nodes whose mark is not here (yet), since
        self.unshared: set[str] = set()  # ... for longer than GRACE: said so in the log

    def _mark(self, node_id: str) -> Path:
        return self.dir / hashlib.sha256(node_id.encode()).hexdigest()[:32]

    def mark(self) -> None:
        """This node's mark (at its start, before it registers)."""
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._mark(self.node_id).write_text(self.node_id + "\n")

    def check(self, node_ids: list[str]) -> None:
        """Look for the marks of the live nodes not seen yet (a stat each)."""
        now = time.monotonic()
        for node_id in node_ids:
            if node_id == self.node_id or node_id in self.seen:
                continue
            if self._mark(node_id).exists():
                self.seen.add(node_id)
                self.missing_since.pop(node_id, None)
                if node_id in self.unshared:
                    self.unshared.discard(node_id)
                    log.warning("files_dir: node %s's files are seen here now", node_id)
                continue
            since = self.missing_since.setdefault(node_id, now)
            if now - since >= GRACE and node_id not in self.unshared:
                self.unshared.add(node_id)
                log.error(
                    "files_dir %s is not shared with node %s: files uploaded, converted or recorded there "
                    "are missing here (mount one directory on every node and set files_dir to it)",
                    self.dir.parent,
                    node_id,
                )

    def shared_with(self, node_id: str) -> bool | None:
        """Whether this node sees ``node_id``'s mark (None for itself)."""
        return None if node_id == self.node_id else node_id in self.seen
