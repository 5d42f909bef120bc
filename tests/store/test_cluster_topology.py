"""Topology changes under load, on private clusters the tests start (loopback only).

A slot that holds live sessions moves to another master while writers append and a
reader reads; a master is killed and its replica promoted while writers append.
Writers do what the docs tell applications to do: retry a failed append with the
same idempotency key until it is acknowledged.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from langchain_streamlog import AsyncStreamStore, StreamlogError, StreamStore
from langchain_streamlog._core.keys import Keyspace, key_slot
from langchain_streamlog.testing import LocalCluster, LocalServer
from tests.store.conftest import Blocking

pytestmark = pytest.mark.slow


def sessions_in(space: Keyspace, partition: int, count: int, name: str) -> list[str]:
    """``count`` session ids that live in ``partition``."""
    ids = (f"{name}-{i}" for i in itertools.count())
    return list(itertools.islice((s for s in ids if space.partition_of(s) == partition), count))


def wait_until(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.005)


class Writer:
    """Appends "0", "1", ... to each of its sessions in turn; retries with the same key."""

    def __init__(self, sessions: list[str]) -> None:
        self.sessions = sessions
        self.acked = dict.fromkeys(sessions, 0)
        self.retries = 0
        self.attempts = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None

    @property
    def total(self) -> int:
        return sum(self.acked.values())

    def batches(self) -> Any:
        while not self.stop.is_set():
            for sid in self.sessions:
                n = self.acked[sid]
                yield sid, [HumanMessage(str(n))], f"{sid}#{n}"
                self.acked[sid] = n + 1

    def run(self, store: Any) -> None:
        try:
            for sid, messages, key in self.batches():
                deadline = time.monotonic() + 30
                while True:
                    self.attempts += 1
                    try:
                        store.append(sid, messages, idempotency_key=key)
                        break
                    except StreamlogError:
                        assert time.monotonic() < deadline, "an append never went through"
                        self.retries += 1
                        time.sleep(0.01)
        except BaseException as exc:  # reported by the test
            self.error = exc

    def run_async(self, host: str, port: int, prefix: str) -> None:
        """:meth:`run` through an asyncio cluster client and ``AsyncStreamStore``, on a private loop."""
        loop = asyncio.new_event_loop()
        client = AsyncRedisCluster(host=host, port=port)
        try:
            self.run(Blocking(AsyncStreamStore(client, key_prefix=prefix), loop))
        finally:
            loop.run_until_complete(client.aclose())
            loop.close()


def check_logs(store: StreamStore, writers: list[Writer]) -> int:
    """Every session holds exactly what its writer had acknowledged, in order, once."""
    checked = 0
    for w in writers:
        for sid, acked in w.acked.items():
            contents = [m.content for m in store.messages(sid)]
            assert contents == [str(n) for n in range(acked)], (sid, contents[-5:], acked)
            checked += acked
    return checked


def move_slot(cluster: LocalCluster, slot: int, target: LocalServer, between: Any) -> int:
    """The CLUSTER SETSLOT / MIGRATE dance, one key at a time; ``between()`` runs after each key."""
    source = cluster.master_of(slot)
    src, dst = cluster.ids[source.port], cluster.ids[target.port]
    moved = 0
    with source.client() as s, target.client() as t:
        t.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src)
        s.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst)
        while keys := s.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1):
            s.execute_command("MIGRATE", target.host, target.port, "", 0, 5000, "KEYS", *keys)
            moved += 1
            between()
        for node in cluster.nodes[: cluster.master_count]:
            with node.client() as c:
                c.execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst)
    return moved


def test_moving_a_live_slot_loses_and_duplicates_nothing(fresh_cluster):
    cluster = fresh_cluster(masters=3)
    prefix = "mig"
    space = Keyspace(prefix)
    client = RedisCluster(host=cluster.host, port=cluster.port)
    store = StreamStore(client, key_prefix=prefix)
    slot = key_slot(space.feed(0))
    moving = sessions_in(space, 0, 6, "m")
    writers = [Writer(moving[:3]), Writer(moving[3:]), Writer(sessions_in(space, 5, 2, "x"))]
    threads = [
        threading.Thread(target=writers[0].run, args=(store,)),
        threading.Thread(target=writers[1].run_async, args=(cluster.host, cluster.port, prefix)),
        threading.Thread(target=writers[2].run, args=(store,)),
    ]
    reads = {"count": 0, "bad": []}

    def read_while_moving() -> None:
        reader = StreamStore(RedisCluster(host=cluster.host, port=cluster.port), key_prefix=prefix)
        while not writers[0].stop.is_set():
            for sid in moving:
                try:
                    contents = [m.content for m in reader.messages(sid)]
                except StreamlogError:
                    continue  # a read may fail mid-move; it must never be wrong
                if contents != [str(n) for n in range(len(contents))]:
                    reads["bad"].append((sid, contents))
                reads["count"] += 1
        reader.client.close()

    threads.append(threading.Thread(target=read_while_moving))
    for t in threads:
        t.start()
    try:
        wait_until(lambda: all(w.total >= 20 for w in writers))
        target = next(n for n in cluster.nodes if n is not cluster.master_of(slot))

        def let_writers_in() -> None:  # appends to the moving slot interleave with every key moved
            before = writers[0].attempts + writers[1].attempts
            wait_until(lambda: writers[0].attempts + writers[1].attempts > before, timeout=10)

        moved = move_slot(cluster, slot, target, let_writers_in)
        assert cluster.master_of(slot) is target
        mark = [w.total for w in writers]
        wait_until(lambda: all(w.total > m + 10 for w, m in zip(writers, mark, strict=True)))
    finally:
        for w in writers:
            w.stop.set()
        for t in threads:
            t.join(30)
    assert [w.error for w in writers] == [None, None, None]
    assert moved >= 2 + 2 * len(moving)  # feed, session index, each session's log and idempotency keys
    assert reads["count"] > 0 and reads["bad"] == []
    checked = check_logs(store, writers)
    assert checked == sum(w.total for w in writers)
    print(
        f"slot move: {moved} keys moved, {checked} appends checked, {reads['count']} reads, "
        f"retries {sum(w.retries for w in writers)}"
    )
    with target.client() as direct:  # the moved sessions now live on the target
        assert direct.exists(space.session(moving[0]).log) == 1
    client.close()


def replica_caught_up(cluster: LocalCluster, master: LocalServer) -> Any:
    """A check: the master's replica has applied every write the master had made when called."""
    with master.client() as m:
        offset = m.info("replication")["master_repl_offset"]
    (replica,) = cluster.replicas_of(master)

    def check() -> bool:
        with replica.client() as r:
            return int(r.info("replication")["slave_repl_offset"]) >= offset

    return check


def test_failover_keeps_replicated_and_durable_appends(fresh_cluster):
    """Kill a master, promote its replica, bring the old master back as a replica.

    Appends the replica had applied survive; durable appends (``wait_replicas=1``)
    that were acknowledged all survive; retries with the same key never duplicate.
    Plain appends acknowledged in the moment before the crash may be lost: Redis
    replicates asynchronously, and the test reports how many were.
    """
    cluster = fresh_cluster(masters=3, replicas=1, node_timeout_ms=1000)
    prefix = "fo"
    space = Keyspace(prefix)
    slot = key_slot(space.feed(0))
    master = cluster.master_of(slot)
    (replica,) = cluster.replicas_of(master)
    client = RedisCluster(host=cluster.host, port=cluster.port)
    plain = StreamStore(client, key_prefix=prefix)
    durable = StreamStore(client, key_prefix=prefix, wait_replicas=1, wait_timeout=0.5)
    sessions = sessions_in(space, 0, 6, "f")
    writers = [Writer(sessions[:3]), Writer(sessions[3:])]

    def start() -> list[threading.Thread]:
        for w in writers:
            w.stop.clear()
        threads = [
            threading.Thread(target=w.run, args=(store,))
            for w, store in zip(writers, (plain, durable), strict=True)
        ]
        for t in threads:
            t.start()
        return threads

    def stop(threads: list[threading.Thread]) -> None:
        for w in writers:
            w.stop.set()
        for t in threads:
            t.join(60)

    threads = start()
    try:
        wait_until(lambda: all(w.total >= 30 for w in writers))
        stop(threads)
        before = dict(writers[0].acked)
        wait_until(replica_caught_up(cluster, master))  # phase 1: known to be replicated
        threads = start()
        mark = [w.total for w in writers]
        wait_until(lambda: all(w.total >= m + 20 for w, m in zip(writers, mark, strict=True)))
        master.kill()  # phase 2: a crash while appends go on
        with replica.client() as r:
            r.execute_command("CLUSTER", "FAILOVER", "TAKEOVER")
        wait_until(lambda: cluster.master_of(slot) is replica)
        master.restart()  # the old master comes back as the new master's replica
        wait_until(cluster.healthy)
        assert cluster.replicas_of(replica) == [master]
        mark = [w.total for w in writers]
        wait_until(lambda: all(w.total >= m + 20 for w, m in zip(writers, mark, strict=True)))
    finally:
        stop(threads)
    assert [w.error for w in writers] == [None, None]
    reader = StreamStore(RedisCluster(host=replica.host, port=replica.port), key_prefix=prefix, cache_size=0)
    lost = 0
    for sid, acked in writers[0].acked.items():
        numbers = [int(m.content) for m in reader.messages(sid)]
        assert numbers[: before[sid]] == list(range(before[sid]))  # phase 1: all kept
        assert numbers == sorted(set(numbers)) and numbers[-1] == acked - 1  # no duplicate, in order
        lost += acked - len(numbers)
    for sid, acked in writers[1].acked.items():  # durable: every acknowledged append is there
        assert [int(m.content) for m in reader.messages(sid)] == list(range(acked))
    print(
        f"failover: plain appends acked {writers[0].total}, lost {lost}; durable acked "
        f"{writers[1].total}, lost 0; retries {writers[0].retries} + {writers[1].retries}"
    )
    reader.client.close()
    client.close()
