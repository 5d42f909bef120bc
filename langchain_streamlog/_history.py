"""The LangChain face: `RedisStreamChatMessageHistory`, one session of a `Streamlog`.

Rule: nothing here talks to Redis or knows a key; it picks the right store (sync,
or the async one of the running event loop) and calls it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage

from ._core.errors import ConfigError
from ._core.events import AnyEvent
from ._core.trim import TrimPolicy
from ._store.deployment import Streamlog

__all__ = ["RedisStreamChatMessageHistory", "Streamlog"]


class RedisStreamChatMessageHistory(BaseChatMessageHistory):
    """A session's chat history, stored as an event log on Redis Streams.

    Drop-in for langchain-redis's ``RedisChatMessageHistory``: the same
    ``session_id``, ``redis_url``, ``key_prefix``, ``ttl`` (seconds, sliding) and
    ``redis_client`` arguments, in the same order. ``index_name`` is accepted and
    ignored (no search module is needed). Other keywords are store settings
    (``max_message_bytes``, ``idempotency_memory``, ...) or connection settings
    (``max_connections``, ``socket_timeout``, ...; as langchain-redis passes its keywords
    to redis-py); an unknown one is a `ConfigError`. langchain-community's ``url=`` is
    accepted too.

    Args:
        session_id: any non-empty text up to 512 UTF-8 bytes.
        store: a `Streamlog` to share (then give no connection arguments).
        trim: the window ``messages`` returns (``LastN``, ``TokenBudget``); the log
            keeps everything.
        partitions: the deployment's partition count (default 16).

    Every ``add_messages`` call carries a fresh idempotency key (the store's default for
    every append), so a redis-py retry after a dropped connection cannot append twice.
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
        trim: TrimPolicy | None = None,
        partitions: int | None = None,
        url: str | None = None,
        async_redis_client: Any = None,
        **settings: Any,
    ) -> None:
        del index_name  # langchain-redis's search index; streamlog needs none
        redis_url = redis_url or url
        if store is not None:
            if redis_url or redis_client or async_redis_client or settings:
                raise ConfigError("give either store= or connection arguments and settings, not both")
            if key_prefix is not None or ttl is not None or trim is not None or partitions is not None:
                raise ConfigError("with store=, settings come from the store")
        else:
            settings = {**settings, "ttl": ttl, "trim": trim}
            if key_prefix is not None:
                settings["key_prefix"] = key_prefix
            if partitions is not None:
                settings["partitions"] = partitions
            if redis_client is not None or async_redis_client is not None:
                store = Streamlog(redis_client, async_client=async_redis_client, **settings)
            else:  # store settings and connection settings (as langchain-redis's redis kwargs)
                store = Streamlog.from_url(redis_url or "redis://localhost:6379/0", **settings)
        store.keyspace.session(session_id)  # validate the id now, not at first use
        self.session_id = session_id
        self.streamlog = store

    @classmethod
    def from_client(
        cls, client: Any, session_id: str, ttl: float | None = None, **kw: Any
    ) -> RedisStreamChatMessageHistory:
        """``MemorystoreChatMessageHistory(client, session_id, ttl)`` argument order."""
        return cls(session_id, redis_client=client, ttl=ttl, **kw)


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
        self.streamlog.store.append(self.session_id, messages)

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        await self.streamlog.astore.append(self.session_id, messages)

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
        """Erase the session everywhere (log, feed copies, dead letters, index; a tombstone tells workers); True if it existed."""
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
