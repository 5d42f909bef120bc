"""The store shells: they move bytes between the core's plans and redis-py.

Rule: a shell builds no command and interprets no reply. It sends what a
`Plan` says, hands the reply to the plan's parser, and
drives flows; redis-py's exceptions become streamlog's at this boundary and
nowhere else. Every public method is one call into `Ops`.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.exceptions import NoScriptError

from ._errors import ConfigError, StoreError, StoreUnavailable, UnsupportedServer
from ._events import AnyEvent
from ._fold import Projection
from ._keys import Keyspace
from ._ops import Ops
from ._plans import Flow, Plan, check_offset, run
from ._work import trim_feeds

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

__all__ = ["AsyncStreamStore", "StreamStore"]

T = TypeVar("T")


class map_exceptions:
    """Raise redis-py's exceptions as streamlog's, ``from`` the original.

    A class rather than ``@contextmanager``: it wraps every command, and a
    generator-based manager costs several times more per use.
    """

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None or not isinstance(exc, redis.RedisError):
            return
        if isinstance(exc, redis.exceptions.MovedError):  # a plain client reached a cluster node
            raise ConfigError(
                f"the server is a Redis Cluster node (MOVED {exc}): use a cluster client, e.g. "
                "StreamStore.from_url(url, cluster=True) or the CLI's --cluster"
            ) from exc
        if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
            raise StoreUnavailable(f"Redis is unreachable or timed out: {exc}") from exc
        text = str(exc).lower()
        if (
            isinstance(exc, redis.ResponseError)
            and "unknown command" in text
            and ("eval" in text or "xautoclaim" in text)
        ):
            raise UnsupportedServer(
                f"the server cannot run streamlog (needs Lua, Redis >= 6.2): {exc}"
            ) from exc
        raise StoreError(f"Redis error: {exc}") from exc


class _RawName(str):
    """A command name the cluster client routes like any str, but finds no reply callback for.

    Plans name read commands in bytes so that redis-py hands the raw reply to the
    plan's parser: it looks callbacks up with ``name.upper()`` in a case-insensitive
    dict, and bytes match no key. The cluster client routes (and picks its policies)
    by str names, so on a cluster the name is this str, whose ``upper()`` matches no
    callback either. ``lower()`` and the bytes sent are those of the plain name.
    """

    __slots__ = ()

    def upper(self) -> str:
        return "\x00" + str.upper(self)


_RAW_NAMES: dict[bytes, _RawName] = {}


def _raw_name(name: bytes) -> _RawName:
    raw = _RAW_NAMES.get(name)
    if raw is None:
        raw = _RAW_NAMES[name] = _RawName(name.decode())
    return raw


def _command(plan: Plan[Any], fallback: bool = False, str_names: bool = False) -> tuple[Any, ...]:
    if plan.script is None:
        if str_names and type(plan.args[0]) is bytes:
            return (_raw_name(plan.args[0]), *plan.args[1:])
        return plan.args
    if fallback:
        return ("EVAL", plan.script.source, *plan.args)
    return ("EVALSHA", plan.script.sha, *plan.args)


def _settle_waiting(results: list[Any], fallback: bool) -> tuple[str, Any]:
    """What a ``command + WAIT`` pipeline's results mean: done, resend as EVAL, or topology moved."""
    reply, acked = results
    if isinstance(reply, NoScriptError) and not fallback:
        return "eval", None
    if isinstance(reply, redis.exceptions.MovedError):
        return "moved", reply
    if isinstance(reply, Exception):
        raise reply
    if isinstance(acked, Exception):
        raise acked
    return "done", (reply, acked)


def is_cluster_client(client: Any) -> bool:
    """A redis-py cluster client, sync or asyncio (or a wrapper of one): it routes by str names."""
    return callable(getattr(client, "get_nodes", None))


def accepted_kwargs(target: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The items of ``kwargs`` that ``target``'s constructor takes (to copy a client's settings)."""
    accepted = inspect.signature(target).parameters
    return {k: v for k, v in kwargs.items() if k in accepted}


def make_ops(*, key_prefix: str = "streamlog", partitions: int = 16, **settings: Any) -> Ops:
    """Validate store settings and build the IO-free half of a store."""
    return Ops(Keyspace(key_prefix, partitions), **settings)


class _Settings:
    """What both shells share: the client and the IO-free `Ops`."""

    def __init__(self, client: Any, **settings: Any) -> None:
        self.client = client
        self.ops = make_ops(**settings)
        self._owns_client = False
        self._str_names = is_cluster_client(client)

    @property
    def keyspace(self) -> Keyspace:
        return self.ops.keyspace


class StreamStore(_Settings):
    """Sessions on a synchronous ``redis.Redis`` (or ``RedisCluster``) client.

    Args:
        client: the redis-py client; the store never closes a client it was given.
        key_prefix: first component of every key (no braces).
        partitions: partition count, fixed per deployment and recorded in Redis.
        ttl: seconds of inactivity after which a session's keys expire (sliding:
            every append restarts it); None for no expiry.
        trim: default trimming policy for `messages` (``LastN``, ``TokenBudget``).
        max_message_bytes: largest encoded message accepted; None for no limit.
        idempotency_memory: idempotency keys remembered per session (at least this
            many of the most recent appends that gave one).
        cache_size: sessions whose projection this store keeps in memory (0: none).
        snapshot_every: a full read that folded this many events writes a snapshot.
        retention: ``KeepLast(n)`` or ``KeepNewerThan(seconds)``: trim the log below
            the snapshot when one is written; None keeps every event.
        refresh_ttl_on_read: reads restart the session's TTL too, not only appends.
        feed_max_len, feed_max_age: a partition feed that no consumer group reads keeps
            at most this many events (default 10,000) and/or events younger than this
            many seconds (0: no bound); feeds that groups read are trimmed only below
            what every group is done with. Checked every ``feed_trim_every`` appends
            of this store (0: never; workers and `trim_feeds` trim too).
        wait_replicas, wait_timeout: durable appends: after each append, wait (``WAIT``,
            on the same connection to the session's master) until this many replicas
            have it, at most ``wait_timeout`` seconds; fewer raises
            `NotReplicated` (the append was written). 0: do not wait.
    """

    @classmethod
    def from_url(cls, url: str, *, cluster: bool = False, **settings: Any) -> StreamStore:
        """A store over a new client for ``url`` (a ``RedisCluster`` if ``cluster``); `close` closes it."""
        factory = redis.cluster.RedisCluster if cluster else redis.Redis
        store = cls(factory.from_url(url), **settings)
        store._owns_client = True
        return store

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> StreamStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, plan: Plan[T]) -> T:
        if plan.wait is not None:
            return plan.parse(self._send_waiting(plan))
        try:
            reply = self.client.execute_command(*_command(plan, False, self._str_names), NEVER_DECODE=True)
        except NoScriptError:
            reply = self.client.execute_command(*_command(plan, fallback=True), NEVER_DECODE=True)
        return plan.parse(reply)

    def _send_waiting(self, plan: Plan[Any]) -> tuple[Any, Any]:
        """The command and ``WAIT`` on one connection (on a cluster, one of the key's master)."""
        fallback = False
        for _ in range(4):
            client = self.client
            if self._str_names:
                client = self.client.get_node_from_key(plan.args[1]).redis_connection
            with client.pipeline(transaction=False) as pipe:
                pipe.execute_command(*_command(plan, fallback), NEVER_DECODE=True)
                pipe.execute_command("WAIT", *plan.wait)  # type: ignore[misc]
                step, value = _settle_waiting(pipe.execute(raise_on_error=False), fallback)
            if step == "done":
                return value  # type: ignore[no-any-return]
            if step == "eval":
                fallback = True
            else:
                self.client.nodes_manager.initialize()
        raise StoreError("a durable append kept meeting MOVED: the cluster's slots keep moving")

    def _drive(self, flow: Flow[T]) -> T:
        flow = self.ops.prepared(flow)
        with map_exceptions():
            try:
                plan = next(flow)
                while True:
                    plan = flow.send(self._send(plan))
            except StopIteration as stop:
                result: T = stop.value
                return result

    def append(
        self,
        session_id: str,
        messages: Sequence[BaseMessage],
        *,
        idempotency_key: str | None = None,
        expected_offset: str | None = None,
    ) -> list[str]:
        """Append messages in one atomic round trip; returns one offset per message.

        Raises:
            ConflictError: ``expected_offset`` was given and is not the last offset.
            InvalidMessage: a message is not one, too big, or not encodable.
        """
        flow = self.ops.append(
            session_id, messages, idempotency_key=idempotency_key, expected_offset=expected_offset
        )
        return self._drive(flow)

    def messages(self, session_id: str, *, trim: Any = None) -> list[BaseMessage]:
        """The session's visible messages, trimmed by ``trim`` or the store's policy."""
        return self._drive(self.ops.messages(session_id, trim))

    def messages_at(self, session_id: str, offset: str, *, trim: Any = None) -> list[BaseMessage]:
        """The visible messages as they were right after the event at ``offset``."""
        return self._drive(self.ops.messages(session_id, trim, check_offset(offset, allow_bounds=False)))

    def read(self, session_id: str) -> Projection:
        """The full projection: every visible message with its offset."""
        return self._drive(self.ops.read(session_id))

    def events(
        self, session_id: str, start: str = "-", end: str = "+", count: int | None = None
    ) -> list[tuple[str, AnyEvent]]:
        """``(offset, event)`` pairs in ``[start, end]``; prefix an offset with ``(`` to exclude it."""
        return self._drive(self.ops.events(session_id, start, end, count))

    def last_offset(self, session_id: str) -> str | None:
        """The offset of the session's last event, or None for an empty session."""
        return self._drive(self.ops.last_offset(session_id))

    def trim_feeds(self) -> int:
        """Trim every partition feed as far as its consumer groups (or the bounds) allow."""
        return int(self._drive(trim_feeds(self.ops.keyspace, self.ops.feed_max_len, self.ops.feed_max_age)))

    def iter_events(
        self, session_id: str, start: str = "-", *, page: int = 500
    ) -> Iterator[tuple[str, AnyEvent]]:
        """Every event from ``start`` on, read a page at a time."""
        while batch := self.events(session_id, start, count=page):
            yield from batch
            start = "(" + batch[-1][0]

    def tail(
        self,
        session_id: str,
        after: str = "$",
        *,
        block: float = 1.0,
        count: int = 100,
        stop: threading.Event | None = None,
    ) -> Iterator[tuple[str, AnyEvent]]:
        """Follow the session: yield events appended after ``after`` (``"$"``: from now).

        Each wait blocks Redis-side for at most ``block`` seconds (keep it below the
        client's ``socket_timeout``), so breaking out of the loop, closing the
        iterator, or setting ``stop`` (say, from a signal handler) ends it within
        ``block`` seconds.
        """
        while stop is None or not stop.is_set():
            batch = self._drive(run(self.ops.tail_plan(session_id, after, int(block * 1000), count)))
            yield from batch
            if batch:
                after = batch[-1][0]

    def clear(self, session_id: str) -> str:
        """Append a ``HistoryCleared`` event; returns its offset. The log keeps everything."""
        return self._drive(self.ops.clear(session_id))

    def delete(self, session_id: str) -> bool:
        """Erase every key of the session (hard delete) and tell workers; True if it existed."""
        return self._drive(self.ops.delete(session_id))


class AsyncStreamStore(_Settings):
    """Sessions on a ``redis.asyncio.Redis`` (or asyncio ``RedisCluster``) client.

    Same arguments and methods as `StreamStore`, as coroutines.
    """

    def __init__(self, client: Any, **settings: Any) -> None:
        super().__init__(client, **settings)
        self._ready = not (self._str_names and callable(getattr(client, "initialize", None)))
        self._nodes: dict[str, redis.asyncio.Redis] = {}  # durable appends on a cluster

    @classmethod
    def from_url(cls, url: str, *, cluster: bool = False, **settings: Any) -> AsyncStreamStore:
        """A store over a new client for ``url`` (a ``RedisCluster`` if ``cluster``)."""
        factory = redis.asyncio.cluster.RedisCluster if cluster else redis.asyncio.Redis
        store = cls(factory.from_url(url), **settings)
        store._owns_client = True
        return store

    async def aclose(self) -> None:
        for client in self._nodes.values():
            await client.aclose()
        self._nodes.clear()
        if self._owns_client:
            await self.client.aclose()

    async def __aenter__(self) -> AsyncStreamStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(self, plan: Plan[T]) -> T:
        if not self._ready:
            # redis-py 8.1's asyncio RedisCluster fails concurrent first commands
            # ('_writer' is None) unless the client was initialized once before.
            await self.client.initialize()
            self._ready = True
        if plan.wait is not None:
            return plan.parse(await self._send_waiting(plan))
        try:
            reply = await self.client.execute_command(
                *_command(plan, False, self._str_names), NEVER_DECODE=True
            )
        except NoScriptError:
            reply = await self.client.execute_command(*_command(plan, fallback=True), NEVER_DECODE=True)
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

    async def _drive(self, flow: Flow[T]) -> T:
        flow = self.ops.prepared(flow)
        with map_exceptions():
            try:
                plan = next(flow)
                while True:
                    plan = flow.send(await self._send(plan))
            except StopIteration as stop:
                result: T = stop.value
                return result

    async def append(
        self,
        session_id: str,
        messages: Sequence[BaseMessage],
        *,
        idempotency_key: str | None = None,
        expected_offset: str | None = None,
    ) -> list[str]:
        flow = self.ops.append(
            session_id, messages, idempotency_key=idempotency_key, expected_offset=expected_offset
        )
        return await self._drive(flow)

    async def messages(self, session_id: str, *, trim: Any = None) -> list[BaseMessage]:
        return await self._drive(self.ops.messages(session_id, trim))

    async def messages_at(self, session_id: str, offset: str, *, trim: Any = None) -> list[BaseMessage]:
        return await self._drive(
            self.ops.messages(session_id, trim, check_offset(offset, allow_bounds=False))
        )

    async def read(self, session_id: str) -> Projection:
        return await self._drive(self.ops.read(session_id))

    async def events(
        self, session_id: str, start: str = "-", end: str = "+", count: int | None = None
    ) -> list[tuple[str, AnyEvent]]:
        return await self._drive(self.ops.events(session_id, start, end, count))

    async def last_offset(self, session_id: str) -> str | None:
        return await self._drive(self.ops.last_offset(session_id))

    async def trim_feeds(self) -> int:
        return int(
            await self._drive(trim_feeds(self.ops.keyspace, self.ops.feed_max_len, self.ops.feed_max_age))
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
            batch = await self._drive(run(self.ops.tail_plan(session_id, after, int(block * 1000), count)))
            for item in batch:
                yield item
            if batch:
                after = batch[-1][0]

    async def clear(self, session_id: str) -> str:
        return await self._drive(self.ops.clear(session_id))

    async def delete(self, session_id: str) -> bool:
        return await self._drive(self.ops.delete(session_id))
