"""The LangChain face: ``Streamlog`` (one deployment) and its chat-history class.

Rule: nothing here talks to Redis or knows a key; it picks the right store (sync,
or the async one of the running event loop) and calls it.
"""

from __future__ import annotations

import asyncio
import secrets
import weakref
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage

from ._errors import ConfigError
from ._events import AnyEvent
from ._keys import Keyspace
from ._store import AsyncStreamStore, StreamStore, accepted_kwargs, is_cluster_client, make_ops

__all__ = ["RedisStreamChatMessageHistory", "Streamlog"]


def _twin(client: Any, to_async: bool) -> Any:
    """A new client of the other flavour (sync/asyncio) to the same server(s), same settings."""
    if is_cluster_client(client):
        target: Any = redis.asyncio.cluster.RedisCluster if to_async else redis.cluster.RedisCluster
        manager = client.nodes_manager
        kwargs = dict(getattr(client, "connection_kwargs", None) or manager.connection_kwargs)
        node = next(iter(manager.startup_nodes.values()))
        kwargs["host"], kwargs["port"] = node.host, node.port
    else:
        target = redis.asyncio.Redis if to_async else redis.Redis
        pool = client.connection_pool
        kwargs = dict(pool.connection_kwargs)
        if "ssl" in pool.connection_class.__name__.lower():
            kwargs["ssl"] = True
        if "path" in kwargs:
            kwargs["unix_socket_path"] = kwargs.pop("path")
    return target(**accepted_kwargs(target, kwargs))


def new_idempotency_key() -> str:
    """A fresh key for one append: 72 random bits, 12 URL-safe characters."""
    return secrets.token_urlsafe(9)


class Streamlog:
    """One deployment's settings over a sync client and asyncio clients.

    Give it a ``redis.Redis`` (or ``RedisCluster``) and/or an asyncio one;
    a missing one is made with the other's connection settings. An asyncio client
    is bound to the event loop it first ran on, so a ``Streamlog`` that made its own
    asyncio client makes one per running loop.

    Keyword settings are those of `StreamStore` (``key_prefix``,
    ``partitions``, ``ttl``, ``trim``, ``max_message_bytes``, ``idempotency_memory``,
    ``wait_replicas``, ...). ``cluster=True`` with ``url``: Redis Cluster clients.
    """

    def __init__(
        self,
        client: redis.Redis | None = None,
        *,
        async_client: redis.asyncio.Redis | None = None,
        url: str | None = None,
        cluster: bool = False,
        **settings: Any,
    ) -> None:
        if isinstance(client, (redis.asyncio.Redis, redis.asyncio.cluster.RedisCluster)):
            client, async_client = None, client
        if (client is None and async_client is None) == (url is None):
            raise ConfigError("Streamlog needs a url, or a client and/or an async_client")
        self.keyspace: Keyspace = make_ops(**settings).keyspace  # validates every setting now
        self._settings = settings
        self._url, self._cluster = url, cluster
        self._sync = StreamStore(client, **settings) if client is not None else None
        self._given_async = async_client
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncStreamStore] = (
            weakref.WeakKeyDictionary()
        )

    @classmethod
    def from_url(cls, url: str, *, cluster: bool = False, **settings: Any) -> Streamlog:
        """A deployment at ``url`` (``redis://``, ``rediss://``, ``unix://``); clients made lazily.

        With ``cluster=True`` the clients are ``RedisCluster`` clients and ``url`` names
        any one node of the cluster.
        """
        return cls(url=url, cluster=cluster, **settings)

    @property
    def store(self) -> StreamStore:
        """The synchronous store (made on first use)."""
        if self._sync is None:
            if self._url is not None:
                self._sync = StreamStore.from_url(self._url, cluster=self._cluster, **self._settings)
            else:
                self._sync = StreamStore(_twin(self._given_async, to_async=False), **self._settings)
                self._sync._owns_client = True
        return self._sync

    @property
    def astore(self) -> AsyncStreamStore:
        """The asyncio store for the running event loop (made on first use)."""
        loop = asyncio.get_running_loop()
        store = self._async.get(loop)
        if store is None:
            if self._given_async is not None:
                store = AsyncStreamStore(self._given_async, **self._settings)
            elif self._url is not None:
                store = AsyncStreamStore.from_url(self._url, cluster=self._cluster, **self._settings)
            else:
                store = AsyncStreamStore(_twin(self.store.client, to_async=True), **self._settings)
                store._owns_client = True
            self._async[loop] = store
        return store

    def history(self, session_id: str) -> RedisStreamChatMessageHistory:
        """The chat history of one session: pass ``store.history`` to ``RunnableWithMessageHistory``."""
        return RedisStreamChatMessageHistory(session_id, store=self)

    def close(self) -> None:
        """Close the sync client if this object made it."""
        if self._sync is not None:
            self._sync.close()

    async def aclose(self) -> None:
        """Close the asyncio client of the running loop if this object made it."""
        store = self._async.pop(asyncio.get_running_loop(), None)
        if store is not None:
            await store.aclose()


class RedisStreamChatMessageHistory(BaseChatMessageHistory):
    """A session's chat history, stored as an event log on Redis Streams.

    Drop-in for langchain-redis's ``RedisChatMessageHistory``: the same
    ``session_id``, ``redis_url``, ``key_prefix``, ``ttl`` (seconds, sliding) and
    ``redis_client`` arguments, in the same order. ``index_name`` is accepted and
    ignored (no search module is needed); other keywords go to
    ``redis.Redis.from_url``. langchain-community's ``url=`` is accepted too.

    Args:
        session_id: any non-empty text up to 512 UTF-8 bytes.
        store: a `Streamlog` to share (then give no connection arguments).
        trim: the window ``messages`` returns (``LastN``, ``TokenBudget``); the log
            keeps everything.
        partitions: the deployment's partition count (default 16).
        idempotent: give every ``add_messages`` call a fresh idempotency key, so a
            redis-py retry after a dropped connection cannot append twice.
    """

    def __init__(
        self,
        session_id: str,
        redis_url: str | None = None,
        key_prefix: str | None = None,
        ttl: float | None = None,
        index_name: str | None = None,
        redis_client: Any = None,
        *,
        store: Streamlog | None = None,
        trim: Any = None,
        partitions: int | None = None,
        idempotent: bool = True,
        url: str | None = None,
        async_redis_client: Any = None,
        **redis_kwargs: Any,
    ) -> None:
        del index_name  # langchain-redis's search index; streamlog needs none
        redis_url = redis_url or url
        if store is not None:
            if redis_url or redis_client or async_redis_client or redis_kwargs:
                raise ConfigError("give either store= or connection arguments, not both")
            if key_prefix is not None or ttl is not None or trim is not None or partitions is not None:
                raise ConfigError("with store=, settings come from the store")
        else:
            settings: dict[str, Any] = {"ttl": ttl, "trim": trim}
            if key_prefix is not None:
                settings["key_prefix"] = key_prefix
            if partitions is not None:
                settings["partitions"] = partitions
            if redis_client is not None or async_redis_client is not None:
                store = Streamlog(redis_client, async_client=async_redis_client, **settings)
            else:
                url_ = redis_url or "redis://localhost:6379/0"
                if redis_kwargs:  # connection options for redis.Redis.from_url, as langchain-redis
                    store = Streamlog(redis.Redis.from_url(url_, **redis_kwargs), **settings)
                    store.store._owns_client = True
                else:
                    store = Streamlog.from_url(url_, **settings)
        store.keyspace.session(session_id)  # validate the id now, not at first use
        self.session_id = session_id
        self.streamlog = store
        self.idempotent = idempotent

    @classmethod
    def from_client(
        cls, client: Any, session_id: str, ttl: float | None = None, **kw: Any
    ) -> RedisStreamChatMessageHistory:
        """``MemorystoreChatMessageHistory(client, session_id, ttl)`` argument order."""
        return cls(session_id, redis_client=client, ttl=ttl, **kw)

    def _key(self) -> str | None:
        return new_idempotency_key() if self.idempotent else None

    # -- BaseChatMessageHistory ----------------------------------------------

    @property
    def messages(self) -> list[BaseMessage]:
        """The visible messages, trimmed by the store's policy."""
        return self.streamlog.store.messages(self.session_id)

    @messages.setter
    def messages(self, value: list[BaseMessage]) -> None:
        raise AttributeError("messages is read-only: use add_messages() or clear()")

    async def aget_messages(self) -> list[BaseMessage]:
        return await self.streamlog.astore.messages(self.session_id)

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append messages in one atomic round trip (a ``RemoveMessage`` removes by id)."""
        self.streamlog.store.append(self.session_id, messages, idempotency_key=self._key())

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        await self.streamlog.astore.append(self.session_id, messages, idempotency_key=self._key())

    def clear(self) -> None:
        """Append a ``HistoryCleared`` event: ``messages`` becomes empty, replay keeps all."""
        self.streamlog.store.clear(self.session_id)

    async def aclear(self) -> None:
        await self.streamlog.astore.clear(self.session_id)

    # -- the event log ---------------------------------------------------------

    def append(
        self,
        messages: Sequence[BaseMessage],
        *,
        idempotency_key: str | None = None,
        expected_offset: str | None = None,
    ) -> list[str]:
        """Append and return one offset per message; see `StreamStore.append`."""
        return self.streamlog.store.append(
            self.session_id, messages, idempotency_key=idempotency_key, expected_offset=expected_offset
        )

    async def aappend(
        self,
        messages: Sequence[BaseMessage],
        *,
        idempotency_key: str | None = None,
        expected_offset: str | None = None,
    ) -> list[str]:
        return await self.streamlog.astore.append(
            self.session_id, messages, idempotency_key=idempotency_key, expected_offset=expected_offset
        )

    def events(
        self, start: str = "-", end: str = "+", count: int | None = None
    ) -> list[tuple[str, AnyEvent]]:
        """``(offset, event)`` pairs; page with ``start="(" + last_offset_seen``."""
        return self.streamlog.store.events(self.session_id, start, end, count)

    async def aevents(
        self, start: str = "-", end: str = "+", count: int | None = None
    ) -> list[tuple[str, AnyEvent]]:
        return await self.streamlog.astore.events(self.session_id, start, end, count)

    def messages_at(self, offset: str) -> list[BaseMessage]:
        """Time travel: the messages as they were right after ``offset``."""
        return self.streamlog.store.messages_at(self.session_id, offset)

    async def amessages_at(self, offset: str) -> list[BaseMessage]:
        return await self.streamlog.astore.messages_at(self.session_id, offset)

    @property
    def last_offset(self) -> str | None:
        """The offset of the last event, or None for an empty session."""
        return self.streamlog.store.last_offset(self.session_id)

    async def alast_offset(self) -> str | None:
        return await self.streamlog.astore.last_offset(self.session_id)

    def delete(self) -> bool:
        """Erase the session (every key) and tell workers; True if it existed."""
        return self.streamlog.store.delete(self.session_id)

    async def adelete(self) -> bool:
        return await self.streamlog.astore.delete(self.session_id)

    def iter_events(self, start: str = "-", *, page: int = 500) -> Iterator[tuple[str, AnyEvent]]:
        """Every event from ``start`` on, a page at a time."""
        return self.streamlog.store.iter_events(self.session_id, start, page=page)

    def aiter_events(self, start: str = "-", *, page: int = 500) -> AsyncIterator[tuple[str, AnyEvent]]:
        return self.streamlog.astore.iter_events(self.session_id, start, page=page)

    def tail(self, after: str = "$", *, block: float = 1.0) -> Iterator[tuple[str, AnyEvent]]:
        """Follow the session live (``XREAD BLOCK``); leave the loop to stop."""
        return self.streamlog.store.tail(self.session_id, after, block=block)

    def atail(self, after: str = "$", *, block: float = 1.0) -> AsyncIterator[tuple[str, AnyEvent]]:
        return self.streamlog.astore.tail(self.session_id, after, block=block)
