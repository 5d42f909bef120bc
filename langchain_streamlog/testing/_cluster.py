"""A throwaway Redis Cluster on 127.0.0.1, made of `LocalServer` nodes, and its even slot split."""

from __future__ import annotations

import time
from typing import Any

import redis

from ._binaries import ServerBinary
from ._server import HOST, LocalServer

__all__ = ["LocalCluster", "even_slots"]


def even_slots(masters: int) -> list[tuple[int, int]]:
    """``(first, last)`` slots of each master, split as ``redis-cli --cluster create`` does."""
    per, cursor, first, out = 16384 / masters, 0.0, 0, []
    for i in range(masters):
        last = int(cursor + per - 1 + 0.5)  # lround(), as redis-cli
        if last > 16383 or i == masters - 1:
            last = 16383
        last = max(last, first)
        out.append((first, last))
        first, cursor = last + 1, cursor + per
    return out


class LocalCluster:
    """A Redis Cluster on 127.0.0.1 that this object starts and stops (a context manager).

    ``masters`` masters split the 16384 slots evenly (`even_slots`, as
    ``redis-cli --cluster create`` does), each with ``replicas``
    replicas. `start` returns once every node reports ``cluster_state:ok``, knows
    every other node and every replica's link to its master is up.

    Args:
        binary: which executable to run (a cluster is one binary).
        masters: how many masters (at least 1).
        replicas: replicas per master.
        node_timeout_ms: ``cluster-node-timeout``: how long a node may be unreachable
            before the others fail it over.
    """

    def __init__(
        self, binary: ServerBinary, *, masters: int = 3, replicas: int = 0, node_timeout_ms: int = 2000
    ) -> None:
        if masters < 1 or replicas < 0:
            raise ValueError("a cluster needs at least one master and no negative replica count")
        self.binary, self.master_count, self.replica_count = binary, masters, replicas
        extra = ["--cluster-node-timeout", str(node_timeout_ms)]
        self.nodes = [
            LocalServer(binary, cluster=True, extra_args=extra) for _ in range(masters * (1 + replicas))
        ]
        self.ids: dict[int, str] = {}  # port -> node id

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        """The port of the first node (any node serves as a startup node)."""
        return self.nodes[0].port

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self, timeout: float = 30.0) -> LocalCluster:
        """Start every node, assign slots and replicas, and wait until the cluster is healthy."""
        try:
            for node in self.nodes:
                node.start()
            for node in self.nodes:
                with node._quick_client() as client:
                    self.ids[node.port] = client.execute_command("CLUSTER", "MYID").decode()
            for node, (first, last) in zip(self.nodes, even_slots(self.master_count), strict=False):
                with node._quick_client() as client:
                    client.execute_command("CLUSTER", "ADDSLOTS", *range(first, last + 1))
            with self.nodes[0]._quick_client() as client:
                for node in self.nodes[1:]:
                    client.execute_command("CLUSTER", "MEET", HOST, node.port)
            self._wait(timeout, self._everyone_known)
            for i, node in enumerate(self.nodes[self.master_count :]):
                master = self.nodes[i % self.master_count]
                with node._quick_client() as client:
                    client.execute_command("CLUSTER", "REPLICATE", self.ids[master.port])
            self._wait(timeout, self.healthy)
            return self
        except BaseException:
            self.stop()
            raise

    def _wait(self, timeout: float, check: Any) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster did not become healthy within {timeout} s")
            time.sleep(0.05)

    def _info(self, node: LocalServer) -> str:
        with node._quick_client() as client:
            return str(client.execute_command("CLUSTER", "INFO").decode())

    def _replication(self, node: LocalServer) -> dict[str, Any]:
        with node._quick_client() as client:
            return dict(client.info("replication"))

    def _everyone_known(self) -> bool:
        total = f"cluster_known_nodes:{len(self.nodes)}"
        return all(total in self._info(node) for node in self.nodes)

    def healthy(self) -> bool:
        """Every running node: cluster ok, all slots served; every running replica linked up."""
        for node in self.nodes:
            if not node.running:
                continue
            try:
                info = self._info(node)
                if "cluster_state:ok" not in info or "cluster_slots_ok:16384" not in info:
                    return False
                replication = self._replication(node)
            except redis.RedisError:
                return False
            if replication.get("role") == "slave" and replication.get("master_link_status") != "up":
                return False
        return True

    def master_of(self, slot: int) -> LocalServer:
        """The running node that serves ``slot`` now (asks the cluster)."""
        for node in self.nodes:
            if not node.running:
                continue
            with node._quick_client() as client:
                for first, last, owner, *_ in client.execute_command("CLUSTER", "SLOTS"):
                    if first <= slot <= last:
                        port = int(owner[1])
                        return next(n for n in self.nodes if n.port == port)
        raise RuntimeError(f"no running node serves slot {slot}")

    def replicas_of(self, master: LocalServer) -> list[LocalServer]:
        """The nodes that replicate ``master`` now."""
        out = []
        for node in self.nodes:
            if node is master or not node.running:
                continue
            if self._replication(node).get("master_port") == master.port:
                out.append(node)
        return out

    def stop(self) -> None:
        """Stop every node and remove their directories; idempotent."""
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
