"""Faults on the wire, through a loopback proxy the test runs: lost replies, timeouts, dropped
connections, refused connections, a server restarted without persistence.

What they show: every append carries an idempotency key (the caller's, or a fresh one), so
redis-py's own retry, which resends the same command, stores it once; a conditional append
resent after a lost reply reports its own write as a success, never as a conflict.
"""

from __future__ import annotations

import uuid

import pytest
import redis
from langchain_core.messages import HumanMessage
from redis.backoff import NoBackoff
from redis.retry import Retry

from langchain_streamlog import RedisStreamChatMessageHistory, StoreUnavailable, StreamStore
from tests.conftest import real_server_names
from tests.proxy import Proxy


@pytest.fixture
def proxy(real_server_by_name):
    server = real_server_by_name(real_server_names()[0])
    with Proxy(server.port) as p:
        yield p


def store_through(proxy: Proxy, **client_kwargs) -> StreamStore:
    client = redis.Redis(host=proxy.host, port=proxy.port, **client_kwargs)
    store = StreamStore(client, key_prefix=f"fault{uuid.uuid4().hex[:8]}")
    store.append("warm", [HumanMessage("up")])  # connected, first-use check done
    return store


def contents(store: StreamStore, sid: str = "s") -> list[str]:
    return [
        m.content
        for m in StreamStore(store.client, key_prefix=store.keyspace.prefix, cache_size=0).messages(sid)
    ]


def test_a_lost_reply_retried_by_redis_py_with_a_key_is_stored_once(proxy):
    store = store_through(proxy)  # redis-py's default policy retries on connection errors
    proxy.cut_replies(1)
    offsets = store.append("s", [HumanMessage("once"), HumanMessage("only")], idempotency_key="k")
    assert proxy.cut_count == 1  # the script ran, its reply was lost, redis-py sent it again
    assert contents(store) == ["once", "only"]
    assert [o for o, _ in store.events("s")] == offsets  # the retry returned the first offsets


def test_the_history_class_sets_a_key_so_its_retries_are_safe(proxy):
    client = redis.Redis(host=proxy.host, port=proxy.port)
    history = RedisStreamChatMessageHistory("s", redis_client=client, key_prefix=f"h{uuid.uuid4().hex[:8]}")
    history.add_messages([HumanMessage("hello")])
    proxy.cut_replies(1)
    history.add_messages([HumanMessage("lost reply")])
    assert proxy.cut_count == 1
    assert [m.content for m in history.messages] == ["hello", "lost reply"]


def test_without_a_key_of_yours_a_lost_reply_is_still_stored_once(proxy):
    store = store_through(proxy)
    proxy.cut_replies(1)
    offsets = store.append("s", [HumanMessage("once")])  # no key given: the store makes one
    assert proxy.cut_count == 1
    assert contents(store) == ["once"] and [o for o, _ in store.events("s")] == offsets


def test_a_conditional_append_resent_after_a_lost_reply_reports_success_not_a_conflict(proxy):
    store = store_through(proxy)
    last = store.append("s", [HumanMessage("first")])[-1]
    proxy.cut_replies(1)
    offsets = store.append("s", [HumanMessage("second")], expected_offset=last)  # no key given
    assert proxy.cut_count == 1  # written, reply lost, resent: it found its own write, by key
    assert contents(store) == ["first", "second"] and store.last_offset("s") == offsets[-1]


def test_without_client_retries_the_outcome_is_unknown_and_a_keyed_retry_is_safe(proxy):
    store = store_through(proxy, retry=Retry(NoBackoff(), 0))
    proxy.cut_replies(1)
    with pytest.raises(StoreUnavailable):
        store.append("s", [HumanMessage("maybe")], idempotency_key="k")
    assert contents(store) == ["maybe"]  # it was written: StoreUnavailable means "unknown"
    offsets = store.append("s", [HumanMessage("maybe")], idempotency_key="k")  # the app retries
    assert contents(store) == ["maybe"] and [o for o, _ in store.events("s")] == offsets


def test_a_timed_out_append_is_retried_with_the_same_key(proxy):
    store = store_through(proxy, socket_timeout=0.3)
    proxy.slow_replies(1, 1.0)  # the reply comes after the client gave up on it
    offsets = store.append("s", [HumanMessage("slow")], idempotency_key="k")
    assert contents(store) == ["slow"] and [o for o, _ in store.events("s")] == offsets


def test_the_client_retry_policy_decides_how_long_a_down_server_is_waited_for(proxy):
    patient = StreamStore(
        redis.Redis(host=proxy.host, port=proxy.port, retry=Retry(NoBackoff(), 3)), key_prefix="patient"
    )
    proxy.refuse(2)  # the first two connections are dropped at once
    patient.append("s", [HumanMessage("got through")], idempotency_key="k")
    assert contents(patient) == ["got through"]
    impatient = StreamStore(
        redis.Redis(host=proxy.host, port=proxy.port, retry=Retry(NoBackoff(), 1)), key_prefix="impatient"
    )
    proxy.refuse(5)
    with pytest.raises(StoreUnavailable):
        impatient.append("s", [HumanMessage("gave up")], idempotency_key="k")
    proxy.refuse(0)
    assert contents(impatient) == []  # refused before it was sent: nothing written


def test_killed_client_connections_reconnect_and_store_once(fresh_server):
    with fresh_server.client() as admin, redis.Redis(port=fresh_server.port) as client:
        store = StreamStore(client, key_prefix="killed")
        store.append("s", [HumanMessage("before")], idempotency_key="a")
        killed = admin.client_kill_filter(_type="normal", skipme=True)
        assert killed >= 1
        store.append("s", [HumanMessage("after")], idempotency_key="b")
        assert contents(store) == ["before", "after"]


def test_a_server_restarted_without_persistence_starts_empty_and_the_store_notices(fresh_server):
    with redis.Redis(port=fresh_server.port) as client:
        store = StreamStore(client, key_prefix="volatile")
        before = store.append("s", [HumanMessage("gone")])
        assert [m.content for m in store.messages("s")] == ["gone"]  # now cached
        fresh_server.kill()
        fresh_server.restart()  # no AOF, no RDB: everything is gone
        after = store.append("s", [HumanMessage("new")])
        assert after[0] > before[0] or len(after[0]) > len(before[0])
        assert [m.content for m in store.messages("s")] == ["new"]  # not the cached "gone"
