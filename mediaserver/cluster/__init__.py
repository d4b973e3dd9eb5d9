"""One webinar across several servers (issue 19): what the nodes share through Redis.

* :mod:`.registry`: the live nodes, their addresses and load, each under a key that expires unless its node
  renews it;
* :mod:`.leases`: a room's owner node, as a lease with an epoch (a fencing token) that every cross-node
  request about the room carries;
* :mod:`.rpc`: a request/reply channel per node.

The single-node default (SQLite, no Redis) uses none of this.
"""
