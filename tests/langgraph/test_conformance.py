"""LangGraph's checkpointer conformance suite, on both savers, on every backend.

``langgraph-checkpoint-conformance`` runs its capability suites (put, put_writes,
get_tuple, list, delete_thread, and the extended delete_for_runs, copy_thread, prune)
against a saver factory. Every capability must be detected and pass: the saver is
complete, with no documented exception. Each backend is a real server the suite starts
(every binary found, see tests/conftest.py), the 3-master test cluster, and fakeredis.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import fakeredis
import pytest
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import ALL_CAPABILITIES

from langchain_streamlog.langgraph import AsyncStreamlogSaver, StreamlogSaver
from tests.conftest import real_server_names, topologies

BACKENDS = ["fakeredis", *real_server_names(), *topologies("cluster")]


def _clients(request: pytest.FixtureRequest, backend: str) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """Factories of a sync and an asyncio client of the backend."""
    if backend == "fakeredis":
        server = fakeredis.FakeServer()
        return (lambda: fakeredis.FakeRedis(server=server)), (lambda: fakeredis.FakeAsyncRedis(server=server))
    if backend == "cluster":
        cluster = request.getfixturevalue("redis_cluster")
        return (
            lambda: redis.cluster.RedisCluster(host=cluster.host, port=cluster.port),
            lambda: redis.asyncio.cluster.RedisCluster(host=cluster.host, port=cluster.port),
        )
    server = request.getfixturevalue("real_server_by_name")(backend)
    return (
        lambda: redis.Redis(host=server.host, port=server.port),
        lambda: redis.asyncio.Redis(host=server.host, port=server.port),
    )


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("backend", BACKENDS)
async def test_conformance(request: pytest.FixtureRequest, backend: str, kind: str) -> None:
    sync_client, async_client = _clients(request, backend)

    @checkpointer_test(name=f"streamlog-{kind}-{backend}")
    async def saver() -> AsyncIterator[Any]:
        prefix = f"cc{uuid.uuid4().hex[:10]}"  # a fresh deployment per capability suite
        if kind == "sync":
            client = sync_client()
            yield StreamlogSaver(client, key_prefix=prefix)
            client.close()
        else:
            aclient = async_client()
            yield AsyncStreamlogSaver(aclient, key_prefix=prefix)
            await aclient.aclose()

    report = await validate(saver)
    results = report.results
    failures = {name: r.failures for name, r in results.items() if r.passed is not True}
    assert not failures, failures
    assert {name for name, r in results.items() if r.detected} == {c.value for c in ALL_CAPABILITIES}
    assert report.conformance_level() == "FULL"
    assert sum(r.tests_passed for r in results.values()) >= 80  # every test of every suite ran
