"""Auto-pipelining in the asyncio store: concurrent callers share round trips, and each gets its own
reply or its own exception, on every backend (fakeredis, each real server, the cluster; RESP2/3)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import redis
import redis.asyncio
import redis.asyncio.cluster
from langchain_core.messages import AIMessage, HumanMessage
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from langchain_streamlog import AsyncStreamStore, ConflictError, StoreError, StoreUnavailable
from langchain_streamlog._store import autopipeline
from tests.conftest import real_server_names, topologies
from tests.proxy import Proxy

BACKENDS = [(b, p) for b in ["fakeredis", *real_server_names(), *topologies("cluster")] for p in (2, 3)]


@pytest.fixture(params=BACKENDS, ids=lambda p: f"{p[0]}-resp{p[1]}")
def make_client(request: pytest.FixtureRequest) -> Any:
    import fakeredis

    name, protocol = request.param
    if name == "fakeredis":
        server = fakeredis.FakeServer()
        return lambda: fakeredis.FakeAsyncRedis(server=server, protocol=protocol)
    if name == "cluster":
        cluster = request.getfixturevalue("redis_cluster")
        return lambda: redis.asyncio.cluster.RedisCluster(host=cluster.host, port=cluster.port, protocol=protocol)
    server = request.getfixturevalue("real_server_by_name")(name)
    return lambda: redis.asyncio.Redis(host=server.host, port=server.port, protocol=protocol)


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of the batches the auto-pipeline sent (on every client kind)."""
    sizes: list[int] = []
    original = autopipeline.AutoPipeline._send

    async def spy(self: Any, batch: list[Any]) -> None:
        sizes.append(len(batch))
        await original(self, batch)

    monkeypatch.setattr(autopipeline.AutoPipeline, "_send", spy)
    return sizes


def run(make_client: Any, work: Any, **settings: Any) -> Any:
    async def go() -> Any:
        client = make_client()
        store = AsyncStreamStore(client, key_prefix=f"ap{uuid.uuid4().hex[:8]}", **settings)
        try:
            return await work(store)
        finally:
            await store.aclose()
            await client.aclose()

    return asyncio.run(go())


def test_concurrent_callers_share_round_trips_and_each_gets_its_own_reply(make_client, batches):
    async def work(store: AsyncStreamStore) -> None:
        await store.append("warm", [HumanMessage("x")])  # first use (the server check) done
        batches.clear()
        offsets = await asyncio.gather(
            *(store.append(f"s{i}", [HumanMessage(f"q{i}"), AIMessage(f"a{i}")]) for i in range(300))
        )
        assert len(batches) < 30 and max(batches) > 50  # far fewer round trips than calls
        part = store.keyspace.partition_of  # offsets are unique within a partition's feed
        assert len({(part(f"s{i}"), o) for i, pair in enumerate(offsets) for o in pair}) == 600
        seen = await asyncio.gather(*(store.messages(f"s{i}") for i in range(300)))
        for i, messages in enumerate(seen):
            assert [m.content for m in messages] == [f"q{i}", f"a{i}"]
        events = await asyncio.gather(*(store.events(f"s{i}") for i in range(300)))
        assert [[o for o, _ in e] for e in events] == offsets

    run(make_client, work)


def test_an_error_reply_fails_only_its_own_caller(make_client, batches):
    async def work(store: AsyncStreamStore) -> None:
        await store.append("good0", [HumanMessage("x")])
        # The session "bad"'s log key holds a string: its append script fails WRONGTYPE.
        await store.client.set(store.keyspace.session("bad").log, b"not a stream")
        last = await store.last_offset("good0")
        calls = [store.append(f"good{i}", [HumanMessage(f"m{i}")]) for i in range(1, 40)]
        calls.append(store.append("bad", [HumanMessage("refused")]))
        calls.append(store.append("good0", [HumanMessage("late")], expected_offset="1-0"))
        calls.append(store.append("good0", [HumanMessage("ok")], expected_offset=last))
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert all(isinstance(r, list) for r in results[:39])
        assert isinstance(results[39], StoreError) and "WRONGTYPE" in str(results[39])
        assert isinstance(results[40], ConflictError)
        assert isinstance(results[41], list)
        assert [m.content for m in await store.messages("good0")] == ["x", "ok"]
        assert max(batches) >= 40

    run(make_client, work)


def test_a_flushed_script_cache_is_reloaded_by_every_caller_in_a_batch(make_client, batches):
    async def work(store: AsyncStreamStore) -> None:
        await store.append("warm", [HumanMessage("x")])
        nodes = store.client.get_nodes() if hasattr(store.client, "get_nodes") else None
        if nodes:
            for node in nodes:
                await store.client.execute_command("SCRIPT", "FLUSH", target_nodes=node)
        else:
            await store.client.script_flush()
        results = await asyncio.gather(*(store.append(f"n{i}", [HumanMessage(str(i))]) for i in range(100)))
        assert len(results) == 100 and all(len(r) == 1 for r in results)
        assert [len(await store.messages(f"n{i}")) for i in range(100)] == [1] * 100

    run(make_client, work)


def test_cancelled_callers_leave_no_half_read_reply_behind(make_client):
    async def work(store: AsyncStreamStore) -> None:
        await store.append("warm", [HumanMessage("x")])
        for round_ in range(5):
            tasks = [
                asyncio.ensure_future(store.append(f"c{round_}-{i}", [HumanMessage("a"), AIMessage("b")]))
                for i in range(200)
            ]
            await asyncio.sleep(0)  # queued; some batches on the wire
            for task in tasks[::2]:
                task.cancel()
            done = await asyncio.gather(*tasks, return_exceptions=True)
            assert sum(isinstance(d, asyncio.CancelledError) for d in done) >= 1
            # Every later reply still belongs to its own caller: nothing is out of step.
            checks = await asyncio.gather(*(store.messages(f"c{round_}-{i}") for i in range(200)))
            for d, messages in zip(done, checks, strict=True):
                contents = [m.content for m in messages]
                assert contents in ([], ["a", "b"])  # whole or absent, never half
                if isinstance(d, list):
                    assert contents == ["a", "b"]
            assert [m.content for m in await store.messages("warm")] == ["x"]

    run(make_client, work)


def test_with_the_default_retry_a_dropped_batch_is_resent_and_keyed_appends_store_once(real_server_by_name):
    server = real_server_by_name(real_server_names()[0])
    with Proxy(server.port) as proxy:

        async def go() -> None:
            client = redis.asyncio.Redis(host=proxy.host, port=proxy.port)  # redis-py's default retry
            store = AsyncStreamStore(client, key_prefix=f"rt{uuid.uuid4().hex[:8]}")
            await store.append("warm", [HumanMessage("x")])
            proxy.cut_replies(1)
            results = await asyncio.gather(
                *(store.append(f"r{i}", [HumanMessage(str(i))], idempotency_key=f"k{i}") for i in range(50))
            )
            assert proxy.cut_count >= 1 and len(results) == 50
            for i in range(50):
                assert [m.content for m in await store.messages(f"r{i}")] == [str(i)]
            await store.aclose()
            await client.aclose()

        asyncio.run(go())


def test_a_dropped_connection_fails_only_its_batch_and_keyed_retries_store_once(real_server_by_name):
    server = real_server_by_name(real_server_names()[0])
    with Proxy(server.port) as proxy:

        async def go() -> None:
            # No redis-py retries: the test sees which calls a dropped connection failed.
            client = redis.asyncio.Redis(host=proxy.host, port=proxy.port, retry=Retry(NoBackoff(), 0))
            store = AsyncStreamStore(client, key_prefix=f"dc{uuid.uuid4().hex[:8]}")
            await store.append("warm", [HumanMessage("x")])
            proxy.cut_replies(1)  # the next batch's replies are lost and its connection closed
            keys = [f"k{i}" for i in range(50)]
            first = await asyncio.gather(
                *(store.append(f"d{i}", [HumanMessage(str(i))], idempotency_key=keys[i]) for i in range(50)),
                return_exceptions=True,
            )
            failed = [i for i, r in enumerate(first) if isinstance(r, BaseException)]
            assert failed and all(isinstance(first[i], StoreUnavailable) for i in failed)
            # The callers retry with the same keys: each batch is stored exactly once.
            again = await asyncio.gather(
                *(store.append(f"d{i}", [HumanMessage(str(i))], idempotency_key=keys[i]) for i in range(50))
            )
            for i in range(50):
                if not isinstance(first[i], BaseException):
                    assert again[i] == first[i]
                assert [m.content for m in await store.messages(f"d{i}")] == [str(i)]
            await store.aclose()
            await client.aclose()

        asyncio.run(go())


def test_blocking_reads_keep_a_connection_of_their_own(make_client, batches):
    async def work(store: AsyncStreamStore) -> None:
        await store.append("t", [HumanMessage("before")])
        got: list[str] = []

        async def follow() -> None:
            async for _, event in store.tail("t", block=0.2):
                got.append(event.messages[0]["content"])
                if len(got) == 3:
                    return

        follower = asyncio.ensure_future(follow())
        await asyncio.sleep(0.05)
        # While the tail blocks on the server, other calls are not held behind it.
        results = await asyncio.wait_for(
            asyncio.gather(*(store.append("t", [HumanMessage(f"m{i}")]) for i in range(3))), timeout=5
        )
        assert len(results) == 3
        await asyncio.wait_for(follower, timeout=5)
        assert got == ["m0", "m1", "m2"]

    run(make_client, work)


def test_the_auto_pipeline_can_be_turned_off(make_client, batches):
    async def work(store: AsyncStreamStore) -> None:
        await asyncio.gather(*(store.append(f"o{i}", [HumanMessage("x")]) for i in range(20)))
        assert batches == []

    run(make_client, work, auto_pipeline=False)
