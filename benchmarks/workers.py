"""Worker throughput and end-to-end latency, on a server this script starts (loopback only).

    .venv/bin/python benchmarks/workers.py [--events 20000] [--rounds 3]

- throughput: events per second drained by one worker process, and by two worker processes
  of one group at once (``run_check``, a no-op handler), from a feed pre-filled by appends;
- latency: from an append starting to the handler being called, for a running worker
  (``run()``) in another process, one append at a time; p50 and p99 over all rounds.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
import uuid
from datetime import datetime, timezone

import redis
from langchain_core.messages import HumanMessage

from langchain_streamlog import StreamStore, Worker
from langchain_streamlog.testing import LocalServer, find_servers

PARTITIONS = 16


def drain(url: str, prefix: str, group: str, consumer: str) -> int:
    with StreamStore.from_url(url, key_prefix=prefix, partitions=PARTITIONS) as store:
        return Worker(store, group, lambda d: None, consumer=consumer).run_check()


def fill(url: str, prefix: str, events: int) -> None:
    with StreamStore.from_url(url, key_prefix=prefix, partitions=PARTITIONS, feed_trim_every=0) as store:
        for i in range(0, events, 10):
            store.append(f"s{i % 200}", [HumanMessage(f"message {i + j}") for j in range(10)])


def throughput(url: str, events: int, workers: int) -> float:
    prefix = f"wb{uuid.uuid4().hex[:8]}"
    fill(url, prefix, events)
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        start = time.perf_counter()
        handled = sum(pool.starmap(drain, [(url, prefix, "g", f"c{i}") for i in range(workers)]))
        elapsed = time.perf_counter() - start
    assert handled >= events, (handled, events)
    return events / elapsed


def listen(url: str, prefix: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    def handler(delivery):  # the message content is the append's return time
        out.put(time.time() - float(delivery.event.messages[0]["content"]))

    with StreamStore.from_url(url, key_prefix=prefix, partitions=PARTITIONS) as store:
        Worker(store, "lat", handler, start="$", idle_wait=0.001).run()


def latency(url: str, samples: int) -> list[float]:
    prefix = f"wl{uuid.uuid4().hex[:8]}"
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    with StreamStore.from_url(url, key_prefix=prefix, partitions=PARTITIONS) as store:
        worker = ctx.Process(target=listen, args=(url, prefix, queue), daemon=True)
        worker.start()
        out = []
        try:
            # start="$" only sees events after the group exists: append until one arrives.
            while True:
                store.append("warm", [HumanMessage(repr(time.time()))])
                try:
                    queue.get(timeout=0.5)
                    break
                except Exception:
                    continue
            while not queue.empty():
                queue.get()  # the worker is up: it handled the warm-up event
            for i in range(samples + 5):
                # The handler measures from this wall-clock time, taken as the append starts.
                store.append(f"s{i % 50}", [HumanMessage(repr(time.time()))])
                seconds = queue.get(timeout=30)
                if i >= 5:
                    out.append(seconds * 1000)
        finally:
            worker.kill()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    binary = max(find_servers(), key=lambda b: (b.flavor == "redis", b.version))
    with LocalServer(binary) as server:
        with redis.Redis(port=server.port) as client:
            version = client.info("server")["redis_version"]
        one, two, lat = [], [], []
        for _ in range(max(3, args.rounds)):  # interleaved: one, two, latency in every round
            one.append(throughput(server.url, args.events, 1))
            two.append(throughput(server.url, args.events, 2))
            lat += latency(server.url, args.samples)
    lat.sort()
    print(
        f"streamlog worker benchmark, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {binary.name} "
        f"(redis_version {version}), {PARTITIONS} partitions, {args.events} events, {max(3, args.rounds)} rounds\n"
    )
    print("| measure | median | all rounds |\n|---|---|---|")
    print(f"| events/s, one worker | {statistics.median(one):,.0f} | {', '.join(f'{x:,.0f}' for x in one)} |")
    print(
        f"| events/s, two workers | {statistics.median(two):,.0f} | {', '.join(f'{x:,.0f}' for x in two)} |"
    )
    print(f"| append to handler, p50 ms | {statistics.median(lat):.2f} | |")
    print(f"| append to handler, p99 ms | {lat[int(len(lat) * 0.99)]:.2f} | |")


if __name__ == "__main__":
    main()
