"""LangGraph checkpointers on streamlog's engine: ``StreamlogSaver`` and ``AsyncStreamlogSaver``.

Rule: everything a checkpointer does is built once, IO-free, in :class:`CheckpointCore`
as flows of `Plan` (the same machinery as the chat history);
the two savers only drive those flows through a `StreamStore` or an
`AsyncStreamStore` (their public ``run``), so no logic exists twice for
sync and async, and the first-use checks (server, partition count) are the store's.

Storage, per thread, in the thread's partition slot (see docs/langgraph.md and the
scripts in ``_scripts``): an append-only stream of checkpoints (a checkpoint's stream
id is its *offset*), a hash of channel values stored once per (namespace, channel,
version), a hash and a sorted set of pending writes, and an index hash (checkpoint id
-> stream id; namespace -> newest stream id). Each write is one script, so one round
trip; each read of one checkpoint is one script that also returns its channel values
and pending writes.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from .._core.errors import ConfigError
from .._core.keys import Keyspace
from .._core.plans import Flow
from .._history import Streamlog
from .._store import AsyncStreamStore, StreamStore
from ._core.checkpoints import CheckpointCore

__all__ = ["AsyncStreamlogSaver", "StreamlogSaver"]

T = TypeVar("T")


# -- the savers -------------------------------------------------------------------


def _next_version(current: str | int | float | None) -> str:
    # The format of LangGraph's own savers: the step, then a random part, so two
    # branches forked from one checkpoint never give a channel the same version.
    if current is None:
        step = 0
    elif isinstance(current, (int, float)):
        step = int(current)
    else:
        step = int(current.split(".")[0])
    return f"{step + 1:032}.{random.random():016}"


def _keyspace_settings(
    store: StreamStore | AsyncStreamStore, key_prefix: str | None, partitions: int | None
) -> None:
    keyspace = store.keyspace
    if key_prefix is not None and Keyspace(key_prefix, keyspace.partitions).config() != keyspace.config():
        raise ConfigError(f"key_prefix {key_prefix!r} differs from the store's {keyspace.prefix!r}")
    if partitions is not None and partitions != keyspace.partitions:
        raise ConfigError(f"partitions={partitions} differs from the store's {keyspace.partitions}")


class _Saver(BaseCheckpointSaver[str]):
    """What both savers share: settings, the core, the serializer and versions."""

    _core: CheckpointCore

    def __init__(self, keyspace: Keyspace, ttl: float | None, serde: SerializerProtocol | None) -> None:
        self._core = CheckpointCore(keyspace, ttl, JsonPlusSerializer())
        super().__init__(serde=serde)  # sets self.serde (below), wrapped by LangGraph

    @property
    def serde(self) -> SerializerProtocol:
        return self._core.serde

    @serde.setter
    def serde(self, value: SerializerProtocol) -> None:
        # with_allowlist() copies the saver and sets a derived serializer on the copy.
        self._core = self._core.with_serde(value)

    @property
    def keyspace(self) -> Keyspace:
        return self._core.keyspace

    @property
    def ttl(self) -> float | None:
        return self._core.ttl

    def get_next_version(self, current: str | None, channel: None) -> str:
        return _next_version(current)

    # -- the sync interface: one implementation, each saver runs flows its own way -----

    def _run(self, flow: Flow[T]) -> T:
        raise NotImplementedError

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._run(self._core.get_tuple(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        for flow in self._core.list_pages(config, filter=filter, before=before, limit=limit):
            yield from self._run(flow)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self._run(self._core.put(config, checkpoint, metadata, new_versions))

    def put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        self._run(self._core.put_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        self._run(self._core.delete_thread(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        self._run(self._core.delete_for_runs(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self._run(self._core.copy_thread(source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self._run(self._core.prune(thread_ids, strategy))

    # -- offsets (time travel by streamlog offset) --------------------------------------

    def offset_of(self, config: RunnableConfig) -> str | None:
        """The checkpoint's offset: its stream id, like ``"1732300000000-0"`` (None: no such checkpoint).

        Without ``checkpoint_id``: the offset of the namespace's newest checkpoint.
        """
        return self._run(self._core.offset_of(config))

    def get_tuple_at(self, config: RunnableConfig, offset: str) -> CheckpointTuple | None:
        """The thread's state as of ``offset``: the newest checkpoint of ``config``'s
        namespace at or before it (any stream id works, e.g. a chat session's offset)."""
        return self._run(self._core.get_tuple_at(config, offset))

    # -- the async interface: one implementation, each saver runs flows its own way ----

    async def _arun(self, flow: Flow[T]) -> T:
        raise NotImplementedError

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._arun(self._core.get_tuple(config))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        for flow in self._core.list_pages(config, filter=filter, before=before, limit=limit):
            for item in await self._arun(flow):
                yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._arun(self._core.put(config, checkpoint, metadata, new_versions))

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        await self._arun(self._core.put_writes(config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        await self._arun(self._core.delete_thread(thread_id))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await self._arun(self._core.delete_for_runs(run_ids))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self._arun(self._core.copy_thread(source_thread_id, target_thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await self._arun(self._core.prune(thread_ids, strategy))

    async def aoffset_of(self, config: RunnableConfig) -> str | None:
        return await self._arun(self._core.offset_of(config))

    async def aget_tuple_at(self, config: RunnableConfig, offset: str) -> CheckpointTuple | None:
        return await self._arun(self._core.get_tuple_at(config, offset))


class StreamlogSaver(_Saver):
    """A LangGraph checkpointer on a synchronous redis-py client (or cluster client).

    Args:
        client_or_store: a ``redis.Redis`` / ``RedisCluster``, a `StreamStore`,
            or a `Streamlog` (its store is used).
        key_prefix: first component of every key (default ``"streamlog"``, or the store's).
        partitions: the deployment's partition count (default 16, or the store's).
        ttl: seconds after a thread's last write when all its keys expire (every
            ``put``/``put_writes`` restarts it); None: no expiry (or the store's ttl).
        serde: LangGraph serializer; default ``JsonPlusSerializer()`` (no pickle fallback).

    The async methods (``aput``, ...) run the sync ones in a worker thread; for an
    asyncio application use :class:`AsyncStreamlogSaver`.
    """

    def __init__(
        self,
        client_or_store: Any,
        *,
        key_prefix: str | None = None,
        partitions: int | None = None,
        ttl: float | None = None,
        serde: SerializerProtocol | None = None,
    ) -> None:
        if isinstance(client_or_store, Streamlog):
            client_or_store = client_or_store.store
        if isinstance(client_or_store, StreamStore):
            store = client_or_store
            _keyspace_settings(store, key_prefix, partitions)
        else:
            store = StreamStore(
                client_or_store, key_prefix=key_prefix or "streamlog", partitions=partitions or 16
            )
        self.store = store
        super().__init__(store.keyspace, store.core.ttl if ttl is None else ttl, serde)

    @classmethod
    def from_url(cls, url: str, *, cluster: bool = False, **settings: Any) -> StreamlogSaver:
        """A saver over a new client for ``url``; :meth:`close` (or ``with``) closes it.

        ``ttl`` and ``serde`` are the saver's; every other keyword is a store or connection
        setting (``key_prefix``, ``partitions``, ``max_connections``, ``pool_timeout``, ...).
        """
        ttl, serde = settings.pop("ttl", None), settings.pop("serde", None)
        store = StreamStore.from_url(url, cluster=cluster, **settings)
        return cls(store, ttl=ttl, serde=serde)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> StreamlogSaver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, flow: Flow[T]) -> T:
        return self.store.run(flow)

    async def _arun(self, flow: Flow[T]) -> T:
        return await asyncio.to_thread(self.store.run, flow)


class AsyncStreamlogSaver(_Saver):
    """A LangGraph checkpointer on an asyncio redis-py client (or asyncio cluster client).

    Same arguments as :class:`StreamlogSaver`; ``client_or_store`` is a
    ``redis.asyncio.Redis`` / asyncio ``RedisCluster``, an `AsyncStreamStore`,
    or a `Streamlog` (its asyncio store for the running loop is used).

    The sync methods work only from another thread while the saver's event loop runs
    (LangGraph's sync ``graph.get_state`` in a worker thread, say); on the loop's own
    thread they raise ``asyncio.InvalidStateError``, like LangGraph's async savers.
    """

    def __init__(
        self,
        client_or_store: Any,
        *,
        key_prefix: str | None = None,
        partitions: int | None = None,
        ttl: float | None = None,
        serde: SerializerProtocol | None = None,
    ) -> None:
        self._stores: Callable[[], AsyncStreamStore]
        if isinstance(client_or_store, Streamlog):
            log = client_or_store
            if key_prefix is not None or partitions is not None:
                raise ConfigError("a Streamlog brings its own key_prefix and partitions")
            self._stores = lambda: log.astore  # one store per running event loop
            keyspace, store_ttl = log.keyspace, log.settings.ttl
        else:
            if isinstance(client_or_store, AsyncStreamStore):
                store = client_or_store
                _keyspace_settings(store, key_prefix, partitions)
            else:
                store = AsyncStreamStore(
                    client_or_store, key_prefix=key_prefix or "streamlog", partitions=partitions or 16
                )
            self._stores = lambda: store
            keyspace, store_ttl = store.keyspace, store.core.ttl
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        super().__init__(keyspace, store_ttl if ttl is None else ttl, serde)

    @classmethod
    def from_url(cls, url: str, *, cluster: bool = False, **settings: Any) -> AsyncStreamlogSaver:
        """A saver over a new asyncio client for ``url``; :meth:`aclose` (or ``async with``) closes it.

        ``ttl`` and ``serde`` are the saver's; every other keyword is a store or connection
        setting (``key_prefix``, ``partitions``, ``max_connections``, ``pool_timeout``, ...).
        """
        ttl, serde = settings.pop("ttl", None), settings.pop("serde", None)
        store = AsyncStreamStore.from_url(url, cluster=cluster, **settings)
        return cls(store, ttl=ttl, serde=serde)

    @property
    def store(self) -> AsyncStreamStore:
        return self._stores()

    async def aclose(self) -> None:
        await self.store.aclose()

    async def __aenter__(self) -> AsyncStreamlogSaver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _arun(self, flow: Flow[T]) -> T:
        self._loop = asyncio.get_running_loop()  # the loop sync calls from other threads use
        return await self._stores().run(flow)

    def _blocking(self, work: Callable[[], Awaitable[T]]) -> T:
        loop = self._loop
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop or not loop.is_running():
            raise asyncio.InvalidStateError(
                "synchronous calls to AsyncStreamlogSaver work only from another thread while its "
                "event loop runs; use the async interface (await saver.aget_tuple(...), "
                "await graph.ainvoke(...)) or StreamlogSaver"
            )

        async def call() -> T:
            return await work()

        coro: Coroutine[Any, Any, T] = call()
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def _run(self, flow: Flow[T]) -> T:
        """A sync call, bridged to the saver's event loop (from another thread only)."""
        return self._blocking(functools.partial(self._arun, flow))
