"""`Streamlog`: one deployment's settings over a sync client and asyncio clients.

Rule: it validates the settings once (`StoreSettings`), makes the stores lazily, and
keeps one asyncio store per running event loop; it talks to Redis only through them.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio
import redis.asyncio.cluster

from .._core.errors import ConfigError
from .._core.keys import Keyspace
from .aio import AsyncStreamStore
from .clients import check_twin, twin
from .connections import client_for_url, split_settings
from .sentinel import is_sentinel_url, parse_sentinel_url
from .sync import StreamStore

if TYPE_CHECKING:
    from .._history import RedisStreamChatMessageHistory

__all__ = ["Streamlog"]


class Streamlog:
    """One deployment's settings over a sync client and asyncio clients.

    Give it a ``redis.Redis`` (or ``RedisCluster``) and/or an asyncio one;
    a missing one is made with the other's connection settings. An asyncio client
    is bound to the event loop it first ran on, so a ``Streamlog`` that made its own
    asyncio client makes one per running loop.

    Keyword settings are those of `StreamStore` (``key_prefix``,
    ``partitions``, ``ttl``, ``trim``, ``max_message_bytes``, ``idempotency_memory``,
    ``wait_replicas``, ...) and, with ``url``, connection settings for the clients it
    makes (``max_connections``, ``pool_timeout``, ``socket_timeout``, ``retry``, TLS
    options: docs/connections.md). ``cluster=True`` with ``url``: Redis Cluster clients.
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
        # Store and connection settings, told apart and validated now, not at first use.
        self.settings, self.connection = split_settings(settings)
        if self.connection and url is None:
            raise ConfigError(
                f"connection settings ({', '.join(sorted(self.connection))}) apply to the clients "
                "streamlog makes for a url; set them on your own client instead"
            )
        if url is not None and is_sentinel_url(url):
            parse_sentinel_url(url)  # a malformed Sentinel URL fails here, not at first use
        self.keyspace: Keyspace = self.settings.keyspace
        self._url, self._cluster = url, cluster
        if (client is None) != (async_client is None):  # one flavour is made from the other
            check_twin(client if client is not None else async_client, to_async=client is not None)
        self._sync = StreamStore(client, self.settings) if client is not None else None
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
                client = client_for_url(self._url, to_async=False, cluster=self._cluster, **self.connection)
                self._sync = StreamStore(client, self.settings)
                self._sync.owns_client()
            else:
                self._sync = StreamStore(twin(self._given_async, to_async=False), settings=self.settings)
                self._sync.owns_client()
        return self._sync

    @property
    def astore(self) -> AsyncStreamStore:
        """The asyncio store for the running event loop (made on first use)."""
        loop = asyncio.get_running_loop()
        store = self._async.get(loop)
        if store is None:
            if self._given_async is not None:
                store = AsyncStreamStore(self._given_async, settings=self.settings)
            elif self._url is not None:
                client = client_for_url(self._url, to_async=True, cluster=self._cluster, **self.connection)
                store = AsyncStreamStore(client, self.settings)
                store.owns_client()
            else:
                store = AsyncStreamStore(twin(self.store.client, to_async=True), settings=self.settings)
                store.owns_client()
            self._async[loop] = store
        return store

    def history(self, session_id: str) -> RedisStreamChatMessageHistory:
        """The chat history of one session: pass ``store.history`` to ``RunnableWithMessageHistory``."""
        from .._history import RedisStreamChatMessageHistory  # the face, on top of this layer

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
