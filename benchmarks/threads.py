"""Would sync threads gain from auto-pipelining, as the asyncio store does? Measured, not built.

    .venv/bin/python benchmarks/threads.py

N threads share one client with a blocking pool (100); each does 200 turns of one ``XADD``
and one ``XREVRANGE COUNT 20``. ``plain``: every call takes a pooled connection (what the
sync store does). ``batched``: threads hand their command to one dispatcher thread, which
sends everything queued as one pipeline and wakes the callers (auto-pipelining for
threads). Interleaved, 3 rounds, medians; commands/s and this process's CPU per command.
It starts its own redis-server on a free 127.0.0.1 port and stops it.
"""

from __future__ import annotations

import queue
import statistics
import threading
import time
from typing import Any

import redis

from langchain_streamlog.testing import LocalServer, default_server

TURNS = 200


class Batcher:
    """One dispatcher thread: whatever threads queued goes out as one pipeline."""

    def __init__(self, client: redis.Redis) -> None:
        self.client: redis.Redis = client
        self.q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        threading.Thread(target=self.loop, daemon=True).start()

    def call(self, *args: Any) -> Any:
        slot: list[Any] = [None, threading.Event()]
        self.q.put((args, slot))
        slot[1].wait()
        return slot[0]

    def loop(self) -> None:
        while True:
            items = [self.q.get()]
            while True:
                try:
                    items.append(self.q.get_nowait())
                except queue.Empty:
                    break
            pipe = self.client.pipeline(transaction=False)
            for args, _ in items:
                pipe.execute_command(*args)
            for (_, slot), reply in zip(items, pipe.execute(raise_on_error=False), strict=True):
                slot[0] = reply
                slot[1].set()


def run(n: int, mode: str, url: str) -> tuple[float, float]:
    pool = redis.BlockingConnectionPool.from_url(url, max_connections=100)
    client = redis.Redis(connection_pool=pool)
    b = Batcher(client) if mode == "batched" else None
    call = b.call if b else client.execute_command

    def worker(i: int) -> None:
        key = f"th:{mode}:{i}"
        for _ in range(TURNS):
            call("XADD", key, "*", "m", "x" * 60)
            call("XREVRANGE", key, "+", "-", "COUNT", 20)

    ths = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    t0 = time.perf_counter()
    c0 = time.process_time()
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    client.flushall()
    return n * TURNS * 2 / dt, cpu / (n * TURNS * 2) * 1e6


def main() -> None:
    with LocalServer(default_server()) as s:
        print(f"sync threads, plain vs batched, {default_server().name}, {TURNS} turns per thread")
        for n in (4, 16, 64):
            rows: dict[str, list[tuple[float, float]]] = {"plain": [], "batched": []}
            for r in range(3):
                for mode in ("plain", "batched") if r % 2 == 0 else ("batched", "plain"):
                    rows[mode].append(run(n, mode, s.url))
            p, b = (statistics.median(x for x, _ in rows[m]) for m in ("plain", "batched"))
            pc, bc = (statistics.median(c for _, c in rows[m]) for m in ("plain", "batched"))
            print(
                f"threads {n:3d}: plain {p:8.0f} cmds/s ({pc:.0f} us CPU/cmd)  "
                f"batched {b:8.0f} cmds/s ({bc:.0f} us CPU/cmd)  batched/plain {b / p:.2f}"
            )


if __name__ == "__main__":
    main()
