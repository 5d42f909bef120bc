"""Sentinel-managed clients on a real deployment: every URL taker, given clients and their twins, settings.

Every test writes through Sentinel and then looks at the master itself (``LocalSentinel.master``,
a plain client of the server the sentinels name), so it shows that the write went where the
sentinels said, not merely that something answered.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio
import redis.asyncio.retry
import redis.asyncio.sentinel
import redis.retry
import redis.sentinel
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.base import empty_checkpoint
from redis.backoff import ExponentialBackoff

from langchain_streamlog import (
    AsyncStreamStore,
    ConfigError,
    NotReplicated,
    PoolExhausted,
    RedisStreamChatMessageHistory,
    StoreUnavailable,
    Streamlog,
    StreamStore,
)
from langchain_streamlog.langgraph import AsyncStreamlogSaver, StreamlogSaver
from langchain_streamlog.testing import LocalSentinel
from tests.conftest import _first_binary, _unavailable


def prefix() -> str:
    return f"s{uuid.uuid4().hex[:10]}"


def keys_on_master(deployment: LocalSentinel, key_prefix: str) -> list[bytes]:
    with deployment.master.client() as master:
        return sorted(master.scan_iter(match=f"{key_prefix}:*"))


def contents(deployment: LocalSentinel, key_prefix: str, session: str) -> list[str]:
    """The session's messages, read with a plain store on the master's address."""
    with deployment.master.client() as master:
        return [str(m.content) for m in StreamStore(master, key_prefix=key_prefix).messages(session)]


# -- every URL taker -------------------------------------------------------------------


def via_streamlog(url: str, p: str) -> None:
    log = Streamlog.from_url(url, key_prefix=p)
    log.history("s").add_messages([HumanMessage("hello")])
    log.close()


def via_streamlog_asyncio(url: str, p: str) -> None:
    async def go() -> None:
        log = Streamlog.from_url(url, key_prefix=p)
        assert isinstance(log.astore.client.connection_pool, redis.asyncio.sentinel.SentinelConnectionPool)
        await log.history("s").aadd_messages([HumanMessage("hello")])
        await log.aclose()

    asyncio.run(go())


def via_store(url: str, p: str) -> None:
    with StreamStore.from_url(url, key_prefix=p) as store:
        store.append("s", [HumanMessage("hello")])


def via_async_store(url: str, p: str) -> None:
    async def go() -> None:
        async with AsyncStreamStore.from_url(url, key_prefix=p) as store:
            await store.append("s", [HumanMessage("hello")])

    asyncio.run(go())


def via_history(url: str, p: str) -> None:
    history = RedisStreamChatMessageHistory("s", url, key_prefix=p)
    history.add_messages([HumanMessage("hello")])
    history.streamlog.close()


CONFIG = {"configurable": {"thread_id": "s", "checkpoint_ns": ""}}


def via_saver(url: str, p: str) -> None:
    with StreamlogSaver.from_url(url, key_prefix=p) as saver:
        saver.put(CONFIG, empty_checkpoint(), {"source": "input", "step": -1}, {})
        assert saver.get_tuple(CONFIG) is not None


def via_async_saver(url: str, p: str) -> None:
    async def go() -> None:
        saver = AsyncStreamlogSaver.from_url(url, key_prefix=p)
        await saver.aput(CONFIG, empty_checkpoint(), {"source": "input", "step": -1}, {})
        assert await saver.aget_tuple(CONFIG) is not None
        await saver.aclose()

    asyncio.run(go())


TAKERS: dict[str, Callable[[str, str], None]] = {
    "Streamlog.from_url": via_streamlog,
    "Streamlog.from_url-asyncio": via_streamlog_asyncio,
    "StreamStore.from_url": via_store,
    "AsyncStreamStore.from_url": via_async_store,
    "RedisStreamChatMessageHistory": via_history,
    "StreamlogSaver.from_url": via_saver,
    "AsyncStreamlogSaver.from_url": via_async_saver,
}


@pytest.mark.parametrize("taker", list(TAKERS))
def test_every_url_taker_reaches_the_master_through_a_sentinel_url(redis_sentinel: LocalSentinel, taker: str) -> None:
    p = prefix()
    TAKERS[taker](redis_sentinel.url, p)
    assert keys_on_master(redis_sentinel, p)  # written on the server the sentinels name
    if "Saver" not in taker:
        assert contents(redis_sentinel, p, "s") == ["hello"]


def test_the_cli_takes_a_sentinel_url(redis_sentinel: LocalSentinel) -> None:
    p = prefix()
    with redis_sentinel.master.client() as master:
        StreamStore(master, key_prefix=p).append("alice", [HumanMessage("custard tarts?")])
    env = {**os.environ, "STREAMLOG_URL": redis_sentinel.url, "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "langchain_streamlog", "show", "alice", "--prefix", p],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "human: custard tarts?" in done.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "langchain_streamlog", "show", "alice", "--url", redis_sentinel.url, "--cluster"],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert bad.returncode == 1 and "not a cluster" in bad.stderr and "Traceback" not in bad.stderr


# -- clients given directly, and their twins ---------------------------------------------


def sentinel_addresses(client: Any) -> list[tuple[str, int]]:
    manager = client.connection_pool.sentinel_manager
    return [(s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
            for s in manager.sentinels]  # fmt: skip


@pytest.fixture
def given_sync(redis_sentinel: LocalSentinel) -> Iterator[Any]:
    backoff = ExponentialBackoff(cap=0.2, base=0.01)
    with redis.sentinel.Sentinel(redis_sentinel.sentinels, socket_timeout=3.5) as sentinel:
        client = sentinel.master_for(
            redis_sentinel.service_name, retry=redis.retry.Retry(backoff, 7), health_check_interval=11
        )
        yield client
        client.close()


def test_a_sync_sentinel_client_used_from_asyncio_gets_a_sentinel_managed_twin(
    redis_sentinel: LocalSentinel, given_sync: Any
) -> None:
    p = prefix()
    log = Streamlog(given_sync, key_prefix=p)

    async def go() -> Any:
        store = log.astore
        await store.append("s", [HumanMessage("from asyncio")])
        assert [m.content for m in await store.messages("s")] == ["from asyncio"]
        twin = store.client
        await log.aclose()
        return twin

    twin = asyncio.run(go())  # no redis-py warning either (warnings are errors here)
    pool = twin.connection_pool
    assert isinstance(twin, redis.asyncio.Redis)
    assert isinstance(pool, redis.asyncio.sentinel.SentinelConnectionPool)  # not a plain client of an address
    assert "host" not in pool.connection_kwargs and "port" not in pool.connection_kwargs
    assert (pool.service_name, pool.is_master) == (redis_sentinel.service_name, True)
    assert sentinel_addresses(twin) == sentinel_addresses(given_sync) == redis_sentinel.sentinels
    assert (pool.connection_kwargs["socket_timeout"], pool.connection_kwargs["health_check_interval"]) == (3.5, 11)
    retry = pool.connection_kwargs["retry"]
    assert type(retry) is redis.asyncio.retry.Retry and retry._retries == 7
    assert pool.max_connections == given_sync.connection_pool.max_connections
    sentinel_kwargs = pool.sentinel_manager.sentinel_kwargs  # redis-py's: socket_* and no retries
    assert sentinel_kwargs["socket_timeout"] == 3.5 and type(sentinel_kwargs["retry"]) is redis.asyncio.retry.Retry
    assert contents(redis_sentinel, p, "s") == ["from asyncio"]
    assert log.store.client is given_sync  # the given client itself serves sync calls


def test_an_asyncio_sentinel_client_gets_a_sentinel_managed_sync_twin(redis_sentinel: LocalSentinel) -> None:
    p = prefix()

    async def go() -> None:
        sentinel = redis.asyncio.sentinel.Sentinel(redis_sentinel.sentinels)
        client = sentinel.master_for(redis_sentinel.service_name, socket_connect_timeout=2.5, protocol=3)
        log = Streamlog(client, key_prefix=p)  # an asyncio client given positionally, as Streamlog allows
        await log.astore.append("s", [HumanMessage("async first")])
        twin = log.store.client
        assert isinstance(twin.connection_pool, redis.sentinel.SentinelConnectionPool)
        assert twin.connection_pool.service_name == redis_sentinel.service_name
        assert sentinel_addresses(twin) == redis_sentinel.sentinels
        kwargs = twin.connection_pool.connection_kwargs
        assert (kwargs["socket_connect_timeout"], kwargs["protocol"]) == (2.5, 3)
        log.store.append("s", [HumanMessage("then sync")])
        assert [m.content for m in await log.astore.messages("s")] == ["async first", "then sync"]
        log.close()
        await client.aclose()
        await sentinel.aclose()

    asyncio.run(go())
    assert contents(redis_sentinel, p, "s") == ["async first", "then sync"]


class LoggingRetry(redis.retry.Retry):
    def call_with_retry(self, do: Any, fail: Any, *args: Any, **kwargs: Any) -> Any:
        return super().call_with_retry(do, fail, *args, **kwargs)


def test_a_custom_retry_class_on_the_sentinels_is_refused_up_front(redis_sentinel: LocalSentinel) -> None:
    custom = LoggingRetry(ExponentialBackoff(), 2)
    with redis.sentinel.Sentinel(redis_sentinel.sentinels, sentinel_kwargs={"retry": custom}) as sentinel:
        client = sentinel.master_for(redis_sentinel.service_name)
        with pytest.raises(ConfigError, match=r"LoggingRetry.*async_client="):
            Streamlog(client)
        client.close()


def test_closing_a_client_streamlog_made_closes_its_sentinel_connections(redis_sentinel: LocalSentinel) -> None:
    def clients() -> set[str]:
        """The address of every client connected to a sentinel, as the sentinels list them."""
        found = set()
        for node in redis_sentinel.sentinel_nodes:
            with node.client() as client:
                found |= {f"{node.port}<-{c['addr']}" for c in client.client_list()}
        return found

    before = clients()
    store = StreamStore.from_url(redis_sentinel.url, key_prefix=prefix())
    store.append("s", [HumanMessage("x")])  # the first connection asked a sentinel where the master is
    ours = clients() - before
    assert ours  # at least one connection to a sentinel, opened by this store
    store.close()
    deadline = time.monotonic() + 10
    while clients() & ours and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not clients() & ours


# -- settings that apply ---------------------------------------------------------------


def test_max_connections_and_pool_timeout_apply_to_a_sentinel_url(redis_sentinel: LocalSentinel) -> None:
    p = prefix()
    with StreamStore.from_url(redis_sentinel.url, key_prefix=p, max_connections=1, pool_timeout=0.3) as store:
        held = store.client.connection_pool.get_connection()  # the pool's one connection
        started = time.monotonic()
        with pytest.raises(PoolExhausted) as info:
            store.append("s", [HumanMessage("x")])
        waited = time.monotonic() - started
        assert (info.value.max_connections, info.value.timeout) == (1, 0.3)
        assert 0.3 <= waited < 5  # it waited for a connection, then gave up
        store.client.connection_pool.release(held)
        store.append("s", [HumanMessage("y")])  # nothing was sent the first time
    assert contents(redis_sentinel, p, "s") == ["y"]


def test_an_asyncio_sentinel_url_client_waits_for_a_free_connection(redis_sentinel: LocalSentinel) -> None:
    p = prefix()

    async def go() -> None:
        async with AsyncStreamStore.from_url(redis_sentinel.url, key_prefix=p, max_connections=2) as store:
            await asyncio.gather(*(store.append(f"s{i}", [HumanMessage(str(i))]) for i in range(50)))
            assert len(store.client.connection_pool._in_use_connections) == 0
            pool = store.client.connection_pool
            assert pool.max_connections == 2 and len(pool._available_connections) <= 2

    asyncio.run(go())  # 50 concurrent appends on a pool of 2: none failed for want of a connection
    assert [contents(redis_sentinel, p, f"s{i}") for i in range(50)] == [[str(i)] for i in range(50)]


def test_durable_appends_through_sentinel_count_the_replica(redis_sentinel: LocalSentinel) -> None:
    p = prefix()
    (replica,) = redis_sentinel.replicas
    with StreamStore.from_url(redis_sentinel.url, key_prefix=p, wait_replicas=1) as store:
        (offset,) = store.append("s", [HumanMessage("kept twice")])
    log = StreamStore(redis.Redis(), key_prefix=p).keyspace.session("s").log
    with replica.client() as client:  # WAIT 1 returned: the replica has it already
        assert [entry_id.decode() for entry_id, _ in client.xrange(log)] == [offset]
    with StreamStore.from_url(redis_sentinel.url, key_prefix=p, wait_replicas=2, wait_timeout=0.05) as store:
        with pytest.raises(NotReplicated) as info:
            store.append("s", [HumanMessage("at risk")], idempotency_key="k")
    assert (info.value.acknowledged, info.value.wanted) == (1, 2)
    assert contents(redis_sentinel, p, "s") == ["kept twice", "at risk"]  # written all the same
    assert offset < info.value.offsets[0]


# -- credentials -------------------------------------------------------------------------


def test_url_credentials_reach_a_sentinel_that_has_no_password(redis_sentinel: LocalSentinel) -> None:
    """As langchain-redis, the URL's credentials go to the sentinels too; an open sentinel accepts them."""
    p = prefix()
    url = redis_sentinel.url.replace("redis+sentinel://", "redis+sentinel://default:anything@")
    with StreamStore.from_url(url, key_prefix=p) as store:
        store.append("s", [HumanMessage("x")])
        kwargs = store.client.connection_pool.sentinel_manager.sentinels[0].connection_pool.connection_kwargs
        assert (kwargs["username"], kwargs["password"]) == ("default", "anything")
    assert contents(redis_sentinel, p, "s") == ["x"]


@pytest.fixture(scope="module")
def guarded() -> Iterator[LocalSentinel]:
    """A deployment whose master and replica take one password and whose sentinels take another."""
    deployment = LocalSentinel(_first_binary(), password="m@ster pw", sentinel_password="watch/pw")
    try:
        deployment.start()
    except RuntimeError as exc:
        _unavailable(f"a password-protected Sentinel deployment did not start: {exc}")
    yield deployment
    deployment.stop()


def test_the_sentinels_own_password_goes_in_the_query(guarded: LocalSentinel) -> None:
    p = prefix()
    assert guarded.url.endswith("?sentinel_password=watch%2Fpw") and ":m%40ster%20pw@" in guarded.url
    with StreamStore.from_url(guarded.url, key_prefix=p) as store:
        store.append("s", [HumanMessage("x")])
    assert contents(guarded, p, "s") == ["x"]
    master_only = guarded.url.partition("?")[0]  # the master's password offered to the sentinels too
    with StreamStore.from_url(master_only, key_prefix=p, socket_timeout=2) as store:
        with pytest.raises(StoreUnavailable, match=r"No master found") as refused:
            store.append("s", [HumanMessage("y")])
    assert isinstance(refused.value.__cause__, redis.sentinel.MasterNotFoundError)
    assert "m@ster pw" not in str(refused.value)  # redis-py redacts it
    wrong = guarded.url.replace("m%40ster%20pw", "wrong")  # the sentinels answer; the master refuses
    with StreamStore.from_url(wrong, key_prefix=p, socket_timeout=2) as store:
        with pytest.raises(StoreUnavailable) as denied:
            store.append("s", [HumanMessage("z")])
    assert isinstance(denied.value.__cause__, redis.AuthenticationError)
    assert contents(guarded, p, "s") == ["x"]
