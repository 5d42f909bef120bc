"""Worker runtimes: drive ``_work``'s flows and call the user's handler.

Rule: a runtime decides nothing about delivery (``_work`` does); it sends plans,
calls the handler when a flow asks (``Call``), reports which deliveries failed,
and stops cleanly. ``run_check()`` drains the group once and returns (arq's burst
mode), so tests and batch jobs never sleep.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from .._core.errors import OutOfMemory
from .._core.groups import Call, Delivery, GroupCore, trim_feeds

__all__ = ["AsyncWorker", "Delivery", "Worker"]

log = logging.getLogger("langchain_streamlog.worker")


def default_consumer() -> str:
    """A consumer name unique to this process: host and pid."""
    return f"{socket.gethostname()}-{os.getpid()}"


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class _Base:
    def __init__(
        self,
        store: Any,
        group: str,
        handler: Callable[..., Any],
        *,
        consumer: str | None = None,
        partitions: Iterable[int] | None = None,
        batch: int = 100,
        min_idle: float = 30.0,
        max_deliveries: int = 5,
        start: str = "0",
        idle_wait: float = 1.0,
        batch_handler: bool = False,
        lease: float = 10.0,
        sweep_every: float = 60.0,
    ) -> None:
        self.store, self.handler, self.batch_handler = store, handler, batch_handler
        self.sweep_every = sweep_every
        self._next_sweep = 0.0
        self._stopping: Any = threading.Event()  # AsyncWorker uses an asyncio.Event
        self.reader = GroupCore(
            store.keyspace,
            group,
            consumer or default_consumer(),
            list(partitions) if partitions is not None else None,
            lease=lease,
            batch=batch,
            min_idle=min_idle,
            max_deliveries=max_deliveries,
            start=start,
            batch_handler=batch_handler,
        )
        self.idle_wait = idle_wait

    @property
    def partitions(self) -> list[int]:
        """The partitions this worker reads now (its share, while `run` works)."""
        return list(self.reader.partitions)

    def _sweep(self, now: float) -> Any:
        """A sweep of this worker's partitions when one is due (expiry is an erasure), else nothing."""
        if not self.sweep_every or now < self._next_sweep or self.store.core.ttl is None:
            return None
        self._next_sweep = now + self.sweep_every
        return self.store.core.sweep(self.reader.partitions)

    def _trim(self) -> Any:
        ops = self.store.core
        return trim_feeds(ops.keyspace, ops.feed_max_len, ops.feed_max_age, ops.ttl)

    def _failed(self, arg: Delivery | list[Delivery], exc: BaseException) -> str:
        """Log one line per delivery the failed call covered; return the error text."""
        for d in arg if isinstance(arg, list) else [arg]:
            log.warning(
                "group %s: handler failed on %s of session %r (attempt %d): %s",
                self.reader.group, d.offset, d.session_id, d.attempt, _describe(exc),
            )  # fmt: skip
        return _describe(exc)


class Worker(_Base):
    """Processes every event of a group's feeds with ``handler(delivery)`` (sync).

    Args:
        store: a `StreamStore`.
        group: the consumer group; workers sharing a group share the work.
        handler: called with each `Delivery` (or with a list of them, if
            ``batch_handler``). Returning acknowledges; raising leaves it pending.
        consumer: this worker's name in the group (default: host-pid).
        partitions: the partitions this worker reads, fixed; by default the live
            workers of the group share all partitions while they `run`
            (`run_check` drains all partitions).
        lease: seconds a running worker stays in its group's membership without
            renewing (it renews every third of it); a crashed worker's share
            passes to the others after this long.
        sweep_every: seconds between sweeps of this worker's partitions while it runs
            (erasing sessions whose TTL lapsed; the store needs its ``ttl``); 0: never.
        batch: events read per feed and poll.
        min_idle: seconds after which another worker may claim a pending event.
        max_deliveries: deliveries after which a failing event is dead-lettered.
        start: where a new group starts on each feed ("0": the whole feed, "$": new events).
    """

    def _run(self, flow: Any) -> Any:
        return self.store.run(flow, send=self._call)

    def _call(self, call: Call) -> list[str | None]:
        return [self._one(arg) for arg in call.args]

    def _one(self, arg: Delivery | list[Delivery]) -> str | None:
        try:
            self.handler(arg)
        except Exception as exc:
            return self._failed(arg, exc)
        return None

    def ensure_groups(self) -> None:
        """Create the group on every feed now (a group only sees what its feed still holds)."""
        self._run(self.reader.ensure_groups())

    def run_check(self) -> int:
        """Drain the group: claim what is idle, read what is new, until nothing is left."""
        self._run(self.reader.ensure_groups())
        total = 0
        while handled := self._run(self.reader.poll()):
            total += handled
        return total

    def run(self) -> None:
        """Work until `stop`, SIGINT or SIGTERM; the batch in hand is finished first.

        A `stop` that came before `run` makes it return at once. The signal handlers it
        installs (main thread only) are the previous ones again when it returns.
        """
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, lambda *_: self._stopping.set())
        try:
            if self._stopping.is_set():
                return
            self._run(self.reader.ensure_groups())
            self._work()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._stopping.clear()  # it may run again

    def _work(self) -> None:
        try:
            while not self._stopping.is_set():
                now = time.monotonic()
                try:
                    self._run(self.reader.heartbeat(now))
                except OutOfMemory as exc:  # a full server: keep this share, drain, and beat later
                    log.warning("group %s: lease not renewed: %s", self.reader.group, exc)
                if (sweep := self._sweep(now)) is not None:
                    self._run(sweep)
                if not self._run(self.reader.poll()):
                    self._run(self._trim())  # idle: a good moment to trim the feeds
                    self._run(self.reader.forget_dead())  # and to drop dead consumers
                    self._stopping.wait(self.idle_wait)
        finally:
            self.leave()

    def rebalance(self) -> list[int]:
        """Renew this worker's membership now and return its share of the partitions."""
        result: list[int] = self._run(self.reader.heartbeat())
        return result

    def leave(self) -> None:
        """Leave the group's membership (the others take this worker's share at their next beat)."""
        self._run(self.reader.heartbeat(leave=True))

    def forget_dead(self) -> int:
        """Remove dead workers' consumers from this worker's feeds (a running worker does it when idle)."""
        return int(self._run(self.reader.forget_dead()))

    def stop(self) -> None:
        """End `run` after the batch in hand (from any thread, or a signal handler)."""
        self._stopping.set()


class AsyncWorker(_Base):
    """`Worker` on an `AsyncStreamStore`; the handler may be async.

    A sync handler runs in a thread (with the caller's context variables), so it
    never blocks the event loop. Up to ``concurrency`` handler calls of a poll run
    at once (default 1: one after another).
    """

    def __init__(
        self, store: Any, group: str, handler: Callable[..., Any], *, concurrency: int = 1, **kw: Any
    ) -> None:
        super().__init__(store, group, handler, **kw)
        self.concurrency = max(1, concurrency)
        self._stopping = asyncio.Event()

    async def _run(self, flow: Any) -> Any:
        return await self.store.run(flow, send=self._call)

    async def _invoke(self, arg: Any) -> None:
        if inspect.iscoroutinefunction(self.handler):
            await self.handler(arg)
        else:
            outcome = await asyncio.to_thread(self.handler, arg)
            if inspect.isawaitable(outcome):
                await outcome

    async def _call(self, call: Call) -> list[str | None]:
        limit = asyncio.Semaphore(self.concurrency)

        async def one(arg: Delivery | list[Delivery]) -> str | None:
            async with limit:
                try:
                    await self._invoke(arg)
                except Exception as exc:
                    return self._failed(arg, exc)
                return None

        return list(await asyncio.gather(*(one(arg) for arg in call.args)))

    async def ensure_groups(self) -> None:
        await self._run(self.reader.ensure_groups())

    async def run_check(self) -> int:
        await self._run(self.reader.ensure_groups())
        total = 0
        while handled := await self._run(self.reader.poll()):
            total += handled
        return total

    async def run(self) -> None:
        """Work until `stop`, SIGINT/SIGTERM or cancellation; the batch in hand is finished first.

        A `stop` that came before `run` makes it return at once."""
        loop = asyncio.get_running_loop()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self._stopping.set)
        try:
            await self._run(self.reader.ensure_groups())
            while not self._stopping.is_set():
                now = time.monotonic()
                try:
                    await self._run(self.reader.heartbeat(now))
                except OutOfMemory as exc:  # a full server: keep this share, drain, and beat later
                    log.warning("group %s: lease not renewed: %s", self.reader.group, exc)
                if (sweep := self._sweep(now)) is not None:
                    await self._run(sweep)
                if not await self._run(self.reader.poll()):
                    await self._run(self._trim())
                    await self._run(self.reader.forget_dead())
                    try:
                        await asyncio.wait_for(self._stopping.wait(), self.idle_wait)
                    except asyncio.TimeoutError:
                        pass
        finally:
            if threading.current_thread() is threading.main_thread():
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
            self._stopping.clear()  # it may run again
            await asyncio.shield(self.leave())

    async def rebalance(self) -> list[int]:
        result: list[int] = await self._run(self.reader.heartbeat())
        return result

    async def leave(self) -> None:
        await self._run(self.reader.heartbeat(leave=True))

    async def forget_dead(self) -> int:
        return int(await self._run(self.reader.forget_dead()))

    def stop(self) -> None:
        self._stopping.set()
