"""streamlog on a real Redis Cluster that the suite starts (loopback only).

The behavioural suites run on the cluster as a backend of their own (tests/store,
tests/history, tests/workers, tests/langgraph, tests/agents); this module checks what is particular to a cluster: every command
touches one slot, partitions spread evenly over the masters, feeds are read on the
master that owns them, and the sync and asyncio cluster clients route every command.
"""

from __future__ import annotations

import asyncio
import collections
import time
import uuid

import pytest
import redis
from langchain_core.messages import AIMessage, HumanMessage, RemoveMessage
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import ClusterNode, RedisCluster

from langchain_streamlog import AsyncStreamStore, LastN, StreamStore
from langchain_streamlog._core.keys import key_slot
from tests.conftest import real_server_names
from tests.langgraph.test_savers import every_checkpoint_command

SESSIONS = ["alice", "bob", "{p0}", "c:{x}*", "zz" * 40]


@pytest.fixture
def cluster(redis_cluster):
    return redis_cluster


def exercise(store: StreamStore, window: StreamStore, sid: str) -> None:
    offsets = store.append(sid, [HumanMessage("q", id="h"), AIMessage("a")], idempotency_key="k")
    assert store.append(sid, [HumanMessage("q", id="h"), AIMessage("a")], idempotency_key="k") == offsets
    store.append(sid, [RemoveMessage(id="h"), HumanMessage("q2")], expected_offset=offsets[-1])
    assert [m.content for m in store.messages(sid)] == ["a", "q2"]
    assert [m.content for m in window.messages(sid)] == ["q2"]
    assert [o for o, _ in store.iter_events(sid, page=2)][:2] == offsets
    assert [m.content for m in store.messages_at(sid, offsets[0])] == ["q"]
    tail = store.tail(sid, after=offsets[0], block=0.05)
    assert next(tail)[0] == offsets[1]
    tail.close()
    store.clear(sid)
    assert store.messages(sid) == [] and store.delete(sid)


def test_sync_cluster_client(cluster):
    client = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", cluster.nodes[0].port)])
    try:
        store = StreamStore(client, key_prefix="cl")
        window = StreamStore(client, key_prefix="cl", trim=LastN(1), cache_size=0)
        for sid in SESSIONS:
            exercise(store, window, sid)
        partitions = {store.keyspace.session(sid).partition for sid in SESSIONS}
        assert len(partitions) > 1  # the sessions really live on different partitions
    finally:
        client.close()


def test_asyncio_cluster_client(cluster):
    async def go() -> list[str]:
        client = AsyncRedisCluster(host="127.0.0.1", port=cluster.nodes[1].port)
        try:
            store = AsyncStreamStore(client, key_prefix="acl")
            out = []
            for sid in SESSIONS:
                offsets = await store.append(sid, [HumanMessage("hi"), AIMessage("yo")], idempotency_key="k")
                assert await store.append(sid, [HumanMessage("hi")], idempotency_key="k") == offsets
                out += [m.content for m in await store.messages(sid, trim=LastN(1))]
                assert [o async for o, _ in store.iter_events(sid)] == offsets
                assert await store.delete(sid)
            return out
        finally:
            await client.aclose()

    assert asyncio.run(go()) == ["yo"] * len(SESSIONS)


def test_keys_of_one_session_never_cross_slots(cluster):
    with redis.Redis(port=cluster.nodes[0].port) as client:
        store = StreamStore(client)
        for sid in SESSIONS:
            keys = store.keyspace.session(sid)
            slots = {client.execute_command("CLUSTER", "KEYSLOT", k) for k in keys[1:]}
            assert len(slots) == 1


class Recording(redis.Redis):
    """A client that keeps every command it sends."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sent = []

    def execute_command(self, *args, **options):
        self.sent.append(args)
        return super().execute_command(*args, **options)


def every_kind_of_command(store: StreamStore) -> None:
    """Drive every public operation, so the store sends every command and script it has."""
    from langchain_streamlog import KeepLast, Worker
    from langchain_streamlog._core.groups import dead_letters, group_stats, requeue

    prefix = store.keyspace.prefix
    window = StreamStore(store.client, key_prefix=prefix, trim=LastN(1), cache_size=0)
    for sid in SESSIONS:
        exercise(store, window, sid)
    snapshotting = StreamStore(
        store.client, key_prefix=prefix + "s", snapshot_every=2, retention=KeepLast(1), cache_size=0
    )
    for i in range(4):
        snapshotting.append("snap", [HumanMessage(str(i))])
        snapshotting.messages("snap")
    snapshotting.messages_at("snap", snapshotting.last_offset("snap"))
    snapshotting.messages("snap", trim=LastN(1))
    snapshotting.read("snap")
    snapshotting.trim_feeds()
    touching = StreamStore(store.client, key_prefix=prefix, ttl=60, refresh_ttl_on_read=True, cache_size=0)
    touching.messages("snap", trim=LastN(1))
    lapsing = StreamStore(store.client, key_prefix=prefix + "s", ttl=0.05)
    for sid in SESSIONS:  # expiry: the sweep's candidates and its erasure, in each session's slot
        lapsing.append(sid, [HumanMessage("soon gone")])
    # Written without a TTL: alive past the sweep's cutoff, so the sweep rescores it.
    StreamStore(store.client, key_prefix=prefix + "s").append("lives", [HumanMessage("alive")])
    deadline = time.monotonic() + 10
    while any(store.client.exists(lapsing.keyspace.session(sid).log) for sid in SESSIONS):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert lapsing.sweep() == len(SESSIONS)
    lapsing.append(SESSIONS[0], [HumanMessage("reborn")])

    def fail(delivery):
        raise RuntimeError("boom")

    Worker(snapshotting, "g", fail, max_deliveries=1).run_check()  # dead letters
    snapshotting.run(dead_letters(snapshotting.keyspace))
    snapshotting.run(requeue(snapshotting.keyspace, "g"))
    Worker(snapshotting, "g", fail, max_deliveries=2, min_idle=0).run_check()  # claims its own pending
    snapshotting.run(group_stats(snapshotting.keyspace))
    Worker(snapshotting, "ok", lambda d: None).run_check()
    sharing = Worker(snapshotting, "g", lambda d: None, consumer="w", lease=0.05)
    sharing.rebalance()
    time.sleep(0.06)  # the consumers of the workers above are now idle for longer than a lease
    sharing.rebalance()
    assert sharing.forget_dead() >= 1  # the gone workers' consumers leave the group
    sharing.leave()


def test_every_command_and_script_touches_one_slot(real_server_by_name, redis_cluster):
    """Every command streamlog sends names keys of one slot (the server says which are keys)."""
    from langchain_streamlog._core import scripts as _scripts
    from langchain_streamlog._core.keys import key_slot
    from langchain_streamlog.langgraph._core import scripts as _checkpoint_scripts  # noqa: F401

    server = real_server_by_name(real_server_names()[0])
    client = Recording(host=server.host, port=server.port)
    try:
        every_kind_of_command(StreamStore(client, key_prefix=f"rec{uuid.uuid4().hex[:8]}"))
        every_checkpoint_command(client, f"rec{uuid.uuid4().hex[:8]}")
        checked, multi = set(), 0
        with server.client() as plain, redis_cluster.nodes[0].client() as node:
            for args in client.sent:
                try:
                    keys = plain.execute_command(b"COMMAND", b"GETKEYS", *args)
                except redis.ResponseError:
                    keys = []  # a command without keys
                if len(keys) > 1:
                    multi += 1
                    assert len({key_slot(k) for k in keys}) == 1, args
                for k in keys:  # our CRC16 slot is the cluster's
                    if k not in checked:
                        checked.add(k)
                        assert node.execute_command("CLUSTER", "KEYSLOT", k) == key_slot(k)
        names = {(a[0].decode() if isinstance(a[0], bytes) else a[0]).upper() for a in client.sent}
        shas = {a[1] for a in client.sent if a[0] == "EVALSHA"}
    finally:
        client.close()
    assert multi > 0  # multi-key commands were among them (scripts with several KEYS)
    every_script = {s.sha for s in _scripts.LOADED}
    assert every_script <= shas  # every script was sent and checked
    assert {
        "EVALSHA",
        "XRANGE",
        "XREVRANGE",
        "XREAD",
        "XREADGROUP",
        "XAUTOCLAIM",
        "XPENDING",
        "XACK",
    } <= names


@pytest.mark.parametrize("partitions", [16])
def test_partitions_spread_evenly_over_the_live_masters(redis_cluster, partitions):
    from langchain_streamlog import Keyspace
    from langchain_streamlog._core.keys import key_slot

    space = Keyspace("spread", partitions)
    counts = collections.Counter()
    with redis_cluster.nodes[0].client() as node:
        for p in range(partitions):
            slot = node.execute_command("CLUSTER", "KEYSLOT", space.feed(p))
            assert slot == key_slot(space.feed(p))
            counts[redis_cluster.master_of(slot).port] += 1
    mean = partitions / redis_cluster.master_count
    assert len(counts) == redis_cluster.master_count
    assert all(abs(n - mean) <= 1 for n in counts.values()), counts


def test_each_feed_is_read_on_the_master_that_owns_it(cluster):
    """A worker's group lives on each feed's own master, which serves it without a redirect."""
    from langchain_streamlog import Worker

    client = RedisCluster(host=cluster.host, port=cluster.port)
    try:
        store = StreamStore(client, key_prefix="own")
        for i in range(40):
            store.append(f"s{i}", [HumanMessage(str(i))])
        seen = []
        assert Worker(store, "owners", seen.append).run_check() == 40
    finally:
        client.close()
    masters = set()
    for p in range(store.keyspace.partitions):
        feed = store.keyspace.feed(p)
        owner = cluster.master_of(key_slot(feed))
        masters.add(owner.port)
        with owner.client() as direct:  # a plain client: MOVED would raise here
            groups = direct.xinfo_groups(feed) if direct.exists(feed) else []
            assert all(g["name"] == b"owners" and g["pending"] == 0 for g in groups)
    assert len(masters) == cluster.master_count
    assert len({d.partition for d in seen}) > cluster.master_count
