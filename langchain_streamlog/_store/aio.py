"""`AsyncStreamStore`: sessions on a ``redis.asyncio`` client (the asyncio shell)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import redis
import redis.asyncio
import redis.asyncio.cluster
from redis.exceptions import NoScriptError, ResponseError

from .._core.admin import drop_deployment
from .._core.errors import StoreError
from .._core.events import AnyEvent
from .._core.fold import Projection
from .._core.groups import trim_feeds
from .._core.plans import Flow, Plan, adrive, check_offset, single
from .._core.settings import StoreSettings
from .._core.trim import TrimPolicy
from .autopipeline import AutoPipeline
from .connections import client_for_url, split_settings
from .shared import Shell, _command, _settle_waiting, accepted_kwargs, is_out_of_memory, map_exceptions

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

__all__ = ["AsyncStreamStore"]

T = TypeVar("T")


class AsyncStreamStore(Shell):
    """Sessions on a ``redis.asyncio.Redis`` (or asyncio ``RedisCluster``) client.

    Same arguments and methods as `StreamStore`, as coroutines.
    """

    def __init__(
        self, client: Any, settings: StoreSettings | None = None, *, auto_pipeline: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(client, settings, **kwargs)
        self._ready = not (self._str_names and callable(getattr(client, "initialize", None)))
        self._nodes: dict[str, redis.asyncio.Redis] = {}  # durable appends on a cluster
        self._pipeline = AutoPipeline(client) if auto_pipeline else None

    @classmethod
    def from_url(cls, url: str, *, cluster: bool = False, **settings: Any) -> AsyncStreamStore:
        """A store over a new client for ``url`` (a ``RedisCluster`` if ``cluster``); `aclose` closes it.

        ``settings`` are store settings and connection settings (``max_connections``,
        ``pool_timeout``, ``socket_timeout``, ``retry``, TLS options, ...): see
        docs/connections.md. A standalone client waits for a free connection (a blocking
        pool of 100, 20 s) instead of failing when many calls are in flight.
        """
        store_settings, connection = split_settings(settings)
        store = cls(client_for_url(url, to_async=True, cluster=cluster, **connection), store_settings)
        store.owns_client()
        return store

    async def aclose(self) -> None:
        if self._pipeline is not None:
            await self._pipeline.aclose()
        for client in self._nodes.values():
            await client.aclose()
        self._nodes.clear()
        if self._owns_client:
            await self.client.aclose()

    async def __aenter__(self) -> AsyncStreamStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(self, plan: Plan[T]) -> T | None:
        try:
            return await self._send_plan(plan)
        except ResponseError as exc:
            if plan.optional and is_out_of_memory(exc):
                return None  # an optional write refused at maxmemory: the operation goes on
            raise

    async def _send_plan(self, plan: Plan[T]) -> T:
        if not self._ready:
            # redis-py 8.1's asyncio RedisCluster fails concurrent first commands
            # ('_writer' is None) unless the client was initialized once before.
            await self.client.initialize()
            self._ready = True
        if plan.wait is not None:
            return plan.parse(await self._send_waiting(plan))
        if plan.blocking or self._pipeline is None:  # a connection of its own
            try:
                reply = await self.client.execute_command(
                    *_command(plan, False, self._str_names), NEVER_DECODE=True
                )
            except NoScriptError:
                reply = await self.client.execute_command(*_command(plan, fallback=True), NEVER_DECODE=True)
            return plan.parse(reply)
        try:
            reply = await self._pipeline.execute(_command(plan, False, self._str_names))
        except NoScriptError:
            reply = await self._pipeline.execute(_command(plan, True, self._str_names))
        return plan.parse(reply)

    async def _send_waiting(self, plan: Plan[Any]) -> tuple[Any, Any]:
        fallback = False
        for _ in range(4):
            client = self.client
            if self._str_names:
                client = self._node_client(self.client.get_node_from_key(plan.args[1]))
            async with client.pipeline(transaction=False) as pipe:
                pipe.execute_command(*_command(plan, fallback), NEVER_DECODE=True)
                pipe.execute_command("WAIT", *plan.wait)  # type: ignore[misc]
                step, value = _settle_waiting(await pipe.execute(raise_on_error=False), fallback)
            if step == "done":
                return value  # type: ignore[no-any-return]
            if step == "eval":
                fallback = True
            else:
                await self.client.nodes_manager.initialize()
        raise StoreError("a durable append kept meeting MOVED: the cluster's slots keep moving")

    def _node_client(self, node: Any) -> redis.asyncio.Redis:
        """A plain client of one cluster node (the asyncio cluster client pipelines across nodes)."""
        client = self._nodes.get(node.name)
        if client is None:
            kwargs = accepted_kwargs(redis.asyncio.Redis, self.client.connection_kwargs)
            client = self._nodes[node.name] = redis.asyncio.Redis(
                **{**kwargs, "host": node.host, "port": node.port}
            )
        return client

    async def run(self, flow: Flow[T], *, send: Callable[[Any], Awaitable[Any]] | None = None) -> T:
        """Run a flow of the core to its end (see `StreamStore.run`)."""
        flow = self.core.prepared(flow)
        plans = self._send
        if send is None:
            step: Callable[[Any], Awaitable[Any]] = plans
        else:
            other = send

            def step(item: Any) -> Awaitable[Any]:
                return plans(item) if isinstance(item, Plan) else other(item)

        with map_exceptions(self.client):
            return await adrive(flow, step)

    async def append(
        self,
        session_id: str,
        messages: Sequence[BaseMessage],
        *,
        idempotency_key: str | None = None,
        expected_offset: str | None = None,
    ) -> list[str]:
        flow = self.core.append(
            session_id, messages, idempotency_key=idempotency_key, expected_offset=expected_offset
        )
        return await self.run(flow)

    async def messages(self, session_id: str, *, trim: TrimPolicy | None = None) -> list[BaseMessage]:
        return await self.run(self.core.messages(session_id, trim))

    async def messages_at(self, session_id: str, offset: str, *, trim: TrimPolicy | None = None) -> list[BaseMessage]:
        return await self.run(
            self.core.messages(session_id, trim, check_offset(offset, allow_bounds=False))
        )

    async def read(self, session_id: str) -> Projection:
        return await self.run(self.core.read(session_id))

    async def events(
        self, session_id: str, start: str = "-", end: str = "+", count: int | None = None
    ) -> list[tuple[str, AnyEvent]]:
        return await self.run(self.core.events(session_id, start, end, count))

    async def last_offset(self, session_id: str) -> str | None:
        return await self.run(self.core.last_offset(session_id))

    async def trim_feeds(self) -> int:
        return int(
            await self.run(trim_feeds(self.core.keyspace, self.core.feed_max_len, self.core.feed_max_age, self.core.ttl))
        )

    async def iter_events(
        self, session_id: str, start: str = "-", *, page: int = 500
    ) -> AsyncIterator[tuple[str, AnyEvent]]:
        while batch := await self.events(session_id, start, count=page):
            for item in batch:
                yield item
            start = "(" + batch[-1][0]

    async def tail(
        self, session_id: str, after: str = "$", *, block: float = 1.0, count: int = 100
    ) -> AsyncIterator[tuple[str, AnyEvent]]:
        """Follow the session; cancel the task or leave the ``async for`` to stop."""
        while True:
            batch = await self.run(single(self.core.tail_plan(session_id, after, int(block * 1000), count)))
            for item in batch:
                yield item
            if batch:
                after = batch[-1][0]

    async def clear(self, session_id: str) -> str:
        return await self.run(self.core.clear(session_id))

    async def delete(self, session_id: str) -> bool:
        return await self.run(self.core.delete(session_id))

    async def sweep(self, *, limit: int = 1000) -> int:
        return await self.run(self.core.sweep(limit=limit))

    async def drop_deployment(self) -> int:
        result = await self.run(drop_deployment(self.keyspace))
        self.core.cache.clear()
        return result
