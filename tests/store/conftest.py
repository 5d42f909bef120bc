"""Backends for the store suite: fakeredis, every real server, a cluster and Sentinel, sync and async.

Every test is written once, against a synchronous-looking store. For the async
backends the store is an AsyncStreamStore driven on a private event loop, so the
real redis.asyncio code path runs. Each test gets its own key prefix, so tests
share servers without seeing each other's keys. On "sentinel" every client is
Sentinel-managed (``Sentinel(addresses).master_for(service)``), as a user would make it.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from typing import Any

import fakeredis
import pytest
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.sentinel
import redis.cluster
import redis.sentinel

from langchain_streamlog import AsyncStreamStore, StreamStore
from tests.conftest import real_server_names, topologies

BACKENDS = ["fakeredis", *real_server_names(), *topologies("cluster", "sentinel")]


class Blocking:
    """An async object seen through a loop: every coroutine method runs to completion."""

    def __init__(self, target: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._target, self._loop = target, loop

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            if asyncio.iscoroutine(result):
                return self._loop.run_until_complete(result)
            if inspect.isasyncgen(result):
                return self._iterate(result)
            return result

        return call

    def _iterate(self, agen: Any) -> Any:
        try:
            while True:
                try:
                    yield self._loop.run_until_complete(agen.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            self._loop.run_until_complete(agen.aclose())


class Backend:
    """Makes clients and stores of one kind; closes everything it made."""

    def __init__(self, name: str, mode: str, protocol: int, server: Any) -> None:
        self.name, self.mode, self.protocol, self.server = name, mode, protocol, server
        self.loop = asyncio.new_event_loop() if mode == "async" else None
        self.fake_server = fakeredis.FakeServer() if name == "fakeredis" else None
        self._clients: list[Any] = []
        self._sentinels: list[Any] = []  # the Sentinel objects behind Sentinel-managed clients
        self._stores: list[AsyncStreamStore] = []
        self.prefix = f"t{uuid.uuid4().hex[:10]}"
        self.replicas = len(server.servers) - 1 if name == "sentinel" else 0  # replicas of the master

    def raw(self, **kwargs: Any) -> Any:
        """A synchronous client on the same data, for checking what was stored."""
        kwargs.setdefault("protocol", self.protocol)
        if self.fake_server is not None:
            client = fakeredis.FakeRedis(server=self.fake_server, **kwargs)
        elif self.name == "cluster":
            client = redis.cluster.RedisCluster(host=self.server.host, port=self.server.port, **kwargs)
        elif self.name == "sentinel":
            client = self._sentinel(redis.sentinel.Sentinel).master_for(self.server.service_name, **kwargs)
        else:
            client = redis.Redis(host=self.server.host, port=self.server.port, **kwargs)
        self._clients.append(client)
        return client

    def client(self, **kwargs: Any) -> Any:
        if self.mode == "sync":
            return self.raw(**kwargs)
        kwargs.setdefault("protocol", self.protocol)
        if self.fake_server is not None:
            client = fakeredis.FakeAsyncRedis(server=self.fake_server, **kwargs)
        elif self.name == "cluster":
            client = redis.asyncio.cluster.RedisCluster(
                host=self.server.host, port=self.server.port, **kwargs
            )
        elif self.name == "sentinel":
            sentinel = self._sentinel(redis.asyncio.sentinel.Sentinel)
            client = sentinel.master_for(self.server.service_name, **kwargs)
        else:
            client = redis.asyncio.Redis(host=self.server.host, port=self.server.port, **kwargs)
        self._clients.append(client)
        return client

    def _sentinel(self, kind: Any) -> Any:
        sentinel = kind(self.server.sentinels, socket_timeout=5)
        self._sentinels.append(sentinel)
        return sentinel

    def store(self, client: Any = None, **settings: Any) -> Any:
        settings.setdefault("key_prefix", self.prefix)
        client = client if client is not None else self.client()
        if self.mode == "sync":
            return StreamStore(client, **settings)
        assert self.loop is not None
        store = AsyncStreamStore(client, **settings)
        self._stores.append(store)
        return Blocking(store, self.loop)

    def close(self) -> None:
        for store in self._stores:  # the per-node clients of durable appends on a cluster
            assert self.loop is not None
            self.loop.run_until_complete(store.aclose())
        for client in self._clients:
            if isinstance(client, (redis.asyncio.Redis, redis.asyncio.cluster.RedisCluster)):
                assert self.loop is not None
                self.loop.run_until_complete(client.aclose())
            else:
                client.close()
        for sentinel in self._sentinels:
            if isinstance(sentinel, redis.asyncio.sentinel.Sentinel):
                assert self.loop is not None
                self.loop.run_until_complete(sentinel.aclose())
            else:
                sentinel.close()
        if self.loop is not None:
            self.loop.close()


@pytest.fixture(
    params=[(b, m, p) for b in BACKENDS for m in ("sync", "async") for p in (2, 3)],
    ids=lambda p: f"{p[0]}-{p[1]}-resp{p[2]}",
)
def backend(request: pytest.FixtureRequest) -> Any:
    name, mode, protocol = request.param
    if name == "fakeredis":
        server = None
    elif name == "cluster":
        server = request.getfixturevalue("redis_cluster")
    elif name == "sentinel":
        server = request.getfixturevalue("redis_sentinel")
    else:
        server = request.getfixturevalue("real_server_by_name")(name)
    b = Backend(name, mode, protocol, server)
    yield b
    b.close()


@pytest.fixture
def store(backend: Backend) -> Any:
    return backend.store()
