"""Auto-pipelining for the asyncio store: commands issued in one event-loop turn share a round trip.

Rule: a caller gets exactly its own reply or its own exception, whatever else travelled
with it; the connection is never left holding an unread reply.

Concurrent coroutines each ``await`` one command; instead of one round trip per command
(and one pooled connection per caller), the commands queued during one turn of the event
loop are sent as one redis-py pipeline (``transaction=False``): one write, the replies read
in order, each handed to its caller's future. This is what ioredis's ``enableAutoPipelining``
and Lettuce do. While a batch is on the wire, the next turn's commands form the next batch
(on another pooled connection), so nobody waits for a batch to fill.

- **One command alone** goes straight through ``execute_command``: no pipeline overhead
  when there is no concurrency.
- **Errors are per command.** An error reply (``NOSCRIPT``, ``MOVED`` on a cluster, a
  script error) is raised in its caller only; a connection failure fails the commands of
  that batch only, after the client's retry policy resent the batch (as redis-py does for
  a pipeline).
- **Cancellation.** A cancelled caller's reply is still read (the pipeline reads every
  reply) and dropped, so the connection stays in step.
- **Not pipelined:** blocking reads and durable appends (``WAIT`` must follow its append on
  the same connection) keep a connection of their own; the store never queues them here.
- **Cluster.** redis-py's asyncio cluster pipeline splits a batch per node and follows
  ``MOVED``/``ASK``; commands keep the str names the cluster client routes by.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.exceptions import ResponseError

__all__ = ["AutoPipeline"]

#: Commands one pipeline carries at most; a larger turn is split (each part on its own connection).
MAX_BATCH = 1000


class AutoPipeline:
    """Batches the commands of one event loop's turns into pipelines on ``client``."""

    __slots__ = ("_loop", "_pool", "_queue", "_scheduled", "_tasks", "client")

    def __init__(self, client: Any) -> None:
        self.client = client
        # A plain client's pool is used directly (one write, then the replies); a cluster
        # client (no single pool) goes through its own pipeline, which splits per node.
        self._pool = getattr(client, "connection_pool", None)
        self._queue: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def execute(self, args: tuple[Any, ...]) -> asyncio.Future[Any]:
        """Queue one command (sent with ``NEVER_DECODE``); the future holds its reply."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((args, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._scheduled = False
        queue, self._queue = self._queue, []
        assert self._loop is not None
        for start in range(0, len(queue), MAX_BATCH):
            task = self._loop.create_task(self._send(queue[start : start + MAX_BATCH]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]]) -> None:
        live = [item for item in batch if not item[1].cancelled()]
        if not live:
            return
        try:
            if len(live) == 1:
                replies = [await self.client.execute_command(*live[0][0], NEVER_DECODE=True)]
            elif self._pool is not None:
                replies = await self._on_connection([args for args, _ in live])
            else:
                async with self.client.pipeline(transaction=False) as pipe:
                    for args, _ in live:
                        pipe.execute_command(*args, NEVER_DECODE=True)
                    replies = await pipe.execute(raise_on_error=False)
        except Exception as exc:  # the batch failed as a whole (connection, pool, retry exhausted)
            for _, future in live:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:  # this task was cancelled (the loop is closing): so are its callers
            for _, future in live:
                future.cancel()
            raise
        for (_, future), reply in zip(live, replies, strict=True):
            if future.done():  # the caller was cancelled while its command was on the wire
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _on_connection(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """One write of every command on one pooled connection, then every reply, in order.

        A connection failure is retried as redis-py retries a pipeline: the client's retry
        policy resends the whole batch on a fresh connection (so, as for any redis-py call,
        an append without an idempotency key may then be stored twice).
        """
        pool: Any = self._pool
        connection = await pool.get_connection()
        try:
            return await connection.retry.call_with_retry(  # type: ignore[no-any-return]
                lambda: self._exchange(connection, commands), lambda error: connection.disconnect()
            )
        except BaseException:
            # A failed or cancelled read leaves replies on the socket: drop the connection.
            await connection.disconnect(nowait=True)
            raise
        finally:
            await pool.release(connection)

    @staticmethod
    async def _exchange(connection: Any, commands: list[tuple[Any, ...]]) -> list[Any]:
        await connection.send_packed_command(connection.pack_commands(commands))
        replies: list[Any] = []
        for _ in commands:
            try:
                replies.append(await connection.read_response(disable_decoding=True))
            except ResponseError as exc:
                replies.append(exc)
        return replies

    async def aclose(self) -> None:
        """Wait for the batches on the wire (their callers get their replies)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
