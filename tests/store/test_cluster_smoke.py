"""The store on a real 3-master Redis Cluster that this module starts (loopback only).

A first guard for cluster use: every command and script streamlog sends reaches the
right master (no CROSSSLOT, no client routing errors), for the sync and the asyncio
cluster clients. The full cluster suite (resharding, failover, spread checks on the
live cluster) is separate work.
"""

from __future__ import annotations

import asyncio

import pytest
import redis
from langchain_core.messages import AIMessage, HumanMessage, RemoveMessage
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import ClusterNode, RedisCluster

from streamlog import AsyncStreamStore, LastN, StreamStore

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
