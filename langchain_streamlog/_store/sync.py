"""`StreamStore`: sessions on a synchronous redis-py client (the sync shell)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from redis.exceptions import NoScriptError, ResponseError

from .._core.admin import drop_deployment
from .._core.errors import StoreError
from .._core.events import AnyEvent
from .._core.fold import Projection
from .._core.groups import trim_feeds
from .._core.plans import Flow, Plan, check_offset, drive, single
from .._core.trim import TrimPolicy
from .connections import client_for_url, split_settings
from .shared import Shell, _command, _settle_waiting, is_out_of_memory, map_exceptions

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

__all__ = ["StreamStore"]

T = TypeVar("T")


class StreamStore(Shell):
    """Sessions on a synchronous ``redis.Redis`` (or ``RedisCluster``) client.

    Args:
        client: the redis-py client; the store never closes a client it was given.
        settings: a `StoreSettings` holding the settings below (keywords given
            beside it override its values); every setting is validated once, there.
        key_prefix: first component of every key (no braces).
        partitions: partition count, fixed per deployment and recorded in Redis.
        ttl: seconds of inactivity after which a session's keys expire (sliding:
            every append restarts it); None for no expiry.
        trim: default trimming policy for `messages` (``LastN``, ``TokenBudget``).
        max_message_bytes: largest encoded message accepted; None for no limit.
        idempotency_memory, idempotency_window: every append carries an idempotency key
            (yours, or a fresh one, so a resend of the same call never writes twice); each
            session remembers a key for at least ``idempotency_window`` seconds (default
            600, past every retry redis-py makes) and its ``idempotency_memory`` (100) most
            recent keys, whichever is more.
        cache_size: sessions whose projection this store keeps in memory (0: none).
        snapshot_every: a full read that folded this many events writes a snapshot.
        retention: ``KeepLast(n)`` or ``KeepNewerThan(seconds)``: trim the log below
            the snapshot when one is written; None keeps every event.
        refresh_ttl_on_read: reads restart the session's TTL too, not only appends.
        feed_max_len, feed_max_age: a partition feed that no consumer group reads keeps
            at most this many events (default 10,000) and/or events younger than this
            many seconds (0: no bound); feeds that groups read are trimmed only below
            what every group is done with.
        feed_trim_every: the bounds above are checked every this many appends of this
            store (default 1,000; 0: never; workers and `trim_feeds` trim too).
        allow_eviction: at first use the store reads the server's ``maxmemory-policy``
            (``INFO memory``) and refuses one that can evict its keys (``allkeys-*``,
            ``volatile-*``) with `ConfigError`; True accepts the risk with a warning.
        wait_replicas, wait_timeout: durable appends: after each append, wait (``WAIT``,
            on the same connection to the session's master) until this many replicas
            have it, at most ``wait_timeout`` seconds; fewer raises
            `NotReplicated` (the append was written). 0: do not wait.
    """

    @classmethod
    def from_url(cls, url: str, *, cluster: bool = False, **settings: Any) -> StreamStore:
        """A store over a new client for ``url`` (a ``RedisCluster`` if ``cluster``); `close` closes it.

        ``settings`` are store settings and connection settings (``max_connections``,
        ``pool_timeout``, ``socket_timeout``, ``retry``, TLS options, ...): see
        docs/connections.md. A standalone client waits for a free connection (a blocking
        pool of 100, 20 s) instead of failing when many calls are in flight.
        """
        store_settings, connection = split_settings(settings)
        store = cls(client_for_url(url, to_async=False, cluster=cluster, **connection), store_settings)
        store.owns_client()
        return store

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> StreamStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, plan: Plan[T]) -> T | None:
        if plan.wait is not None:
            return plan.parse(self._send_waiting(plan))
        try:
            try:
                reply = self.client.execute_command(*_command(plan, False, self._str_names), NEVER_DECODE=True)
            except NoScriptError:
                reply = self.client.execute_command(*_command(plan, fallback=True), NEVER_DECODE=True)
        except ResponseError as exc:
            if plan.optional and is_out_of_memory(exc):
                return None  # an optional write refused at maxmemory: the operation goes on
            raise
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

    def run(self, flow: Flow[T], *, send: Callable[[Any], Any] | None = None) -> T:
        """Run a flow of the core (``store.core.…``) to its end; the seam every face uses.

        Plans go to Redis; with ``send``, every other item the flow yields goes to
        ``send`` (a worker's handler calls). redis-py's errors become streamlog's.
        """
        flow = self.core.prepared(flow)
        plans = self._send
        step = plans if send is None else (lambda item: plans(item) if isinstance(item, Plan) else send(item))
        with map_exceptions(self.client):
            return drive(flow, step)

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
        flow = self.core.append(
            session_id, messages, idempotency_key=idempotency_key, expected_offset=expected_offset
        )
        return self.run(flow)

    def messages(self, session_id: str, *, trim: TrimPolicy | None = None) -> list[BaseMessage]:
        """The session's visible messages, trimmed by ``trim`` or the store's policy."""
        return self.run(self.core.messages(session_id, trim))

    def messages_at(self, session_id: str, offset: str, *, trim: TrimPolicy | None = None) -> list[BaseMessage]:
        """The visible messages as they were right after the event at ``offset``."""
        return self.run(self.core.messages(session_id, trim, check_offset(offset, allow_bounds=False)))

    def read(self, session_id: str) -> Projection:
        """The full projection: every visible message with its offset."""
        return self.run(self.core.read(session_id))

    def events(
        self, session_id: str, start: str = "-", end: str = "+", count: int | None = None
    ) -> list[tuple[str, AnyEvent]]:
        """``(offset, event)`` pairs in ``[start, end]``; prefix an offset with ``(`` to exclude it."""
        return self.run(self.core.events(session_id, start, end, count))

    def last_offset(self, session_id: str) -> str | None:
        """The offset of the session's last event, or None for an empty session."""
        return self.run(self.core.last_offset(session_id))

    def trim_feeds(self) -> int:
        """Trim every partition feed as far as its consumer groups (or the bounds) allow."""
        return int(self.run(trim_feeds(self.core.keyspace, self.core.feed_max_len, self.core.feed_max_age, self.core.ttl)))

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
            batch = self.run(single(self.core.tail_plan(session_id, after, int(block * 1000), count)))
            yield from batch
            if batch:
                after = batch[-1][0]

    def clear(self, session_id: str) -> str:
        """Append a ``HistoryCleared`` event; returns its offset. The log keeps everything."""
        return self.run(self.core.clear(session_id))

    def delete(self, session_id: str) -> bool:
        """Erase the session everywhere; True if it existed.

        Its keys, its events' copies in the feed and dead letters, and its index entry, in
        one atomic script; then a tombstone tells workers (search index, archive) to forget
        it. See docs/erasure.md.
        """
        return self.run(self.core.delete(session_id))

    def sweep(self, *, limit: int = 1000) -> int:
        """Erase every session whose TTL lapsed (expiry is an erasure); returns how many.

        As `delete` does, for each: its events' copies in the feed and dead letters, its
        index entry, with a tombstone (``SessionDeleted(expired=True)``) so workers' indexes
        and archives forget it. At most ``limit`` candidates per partition per call, each
        step one script in the partition's slot; running workers sweep their partitions on
        a schedule and `streamlog sweep` runs it once. A session re-created after it expired
        is a new incarnation and is never erased by it. Needs the store's ``ttl``.
        """
        return self.run(self.core.sweep(limit=limit))

    def drop_deployment(self) -> int:
        """Erase every key of this deployment (every session, thread, feed, group, the config).

        An operator's irreversible reset (the demo cleans up with it); sessions and threads
        are found through the partitions' indexes, one slot per command. Returns the number
        of keys deleted. Workers should be stopped first: a running one recreates its group.
        """
        result = self.run(drop_deployment(self.keyspace))
        self.core.cache.clear()
        return result
