"""streamlog against the histories it replaces and a bare-Redis floor, in one run.

    ./dev bench                 # full run (a few minutes)
    ./dev bench --quick         # smaller sizes, for a smoke run
    ./dev bench --rounds 5 --json results.json

It starts its own redis-server on a free 127.0.0.1 port (the newest binary found,
or ``--server NAME``) and stops it at the end; nothing else is contacted.

Contenders, all on the same server and client library (redis-py with hiredis, RESP2):

- ``streamlog``: ``RedisStreamChatMessageHistory`` with its defaults (an idempotency
  key per append).
- ``community``: langchain-community's ``RedisChatMessageHistory`` (a list per
  session, JSON per message; its ``add_messages`` is one round trip per message).
- ``floor``: one ``XADD``; ten ``XADD`` in one pipeline; one ``XRANGE`` of N entries.

Method (a noisy 2-core machine): every metric runs each contender in turn within a
round, rotating who goes first; ``--rounds`` rounds (at least 3). A cell shows the
median over rounds of the round's p50, and the p99 of all calls of all rounds.
Ratios compare figures of this run only.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import platform
import statistics
import sys
import time
import uuid
import warnings
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timezone
from importlib.metadata import version
from typing import Any

import redis
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, RemoveMessage, message_to_dict

from langchain_streamlog import LastN, RedisStreamChatMessageHistory, Streamlog
from langchain_streamlog.testing import LocalServer, ServerBinary, find_servers

warnings.filterwarnings("ignore", category=DeprecationWarning)
from langchain_community.chat_message_histories import RedisChatMessageHistory  # noqa: E402

Timings = dict[str, dict[str, list[list[float]]]]  # metric -> contender -> rounds -> ms


def conversation(n: int, offset: int = 0) -> list[BaseMessage]:
    """Alternating human/AI messages of 40-200 characters."""
    out: list[BaseMessage] = []
    for i in range(offset, offset + n):
        text = f"message {i}: " + "lorem ipsum dolor sit amet " * (1 + i % 7)
        out.append(HumanMessage(text) if i % 2 == 0 else AIMessage(text))
    return out


class Timed:
    """A timed call, with an untimed step before each call (e.g. an append by another writer)."""

    def __init__(
        self, fn: Callable[[], Any], before: Callable[[], Any] | None = None, calls: int | None = None
    ) -> None:
        self.fn, self.before, self.calls = fn, before, calls


def timed(job: Callable[[], Any] | Timed, calls: int) -> list[float]:
    """Per-call times in ms; a Timed job may fix its own call count (cheap reads at any size)."""
    fn, before = (job.fn, job.before) if isinstance(job, Timed) else (job, None)
    calls = job.calls or calls if isinstance(job, Timed) else calls
    for _ in range(min(3, calls)):
        if before:
            before()
        fn()  # warm up
    gc.collect()
    out = []
    for _ in range(calls):
        if before:
            before()
        start = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - start) / 1e6)
    return out


class CountingClient:
    """Counts the commands sent through it."""

    def __init__(self, inner: redis.Redis) -> None:
        self.inner, self.calls = inner, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.inner.execute_command(*args, **kwargs)


class Bench:
    def __init__(self, server: LocalServer, rounds: int, quick: bool) -> None:
        self.server, self.rounds, self.quick = server, rounds, quick
        self.client = redis.Redis(host=server.host, port=server.port)
        self.timings: Timings = defaultdict(lambda: defaultdict(list))
        self.bytes: dict[str, float] = {}

    def sl(self, sid: str, prefix: str = "sl", **kw: Any) -> RedisStreamChatMessageHistory:
        return RedisStreamChatMessageHistory(sid, redis_client=self.client, key_prefix=prefix, **kw)

    def community(self, sid: str) -> RedisChatMessageHistory:
        return RedisChatMessageHistory(sid, url=self.server.url, key_prefix="community:")

    def contenders(self, metric: str, calls: int) -> dict[str, Callable[[], Any]]:
        sid = uuid.uuid4().hex
        one, ten, payload = conversation(1)[0], conversation(10), b"x" * 64
        pipe = self.client.pipeline(transaction=False)

        def ten_xadds() -> None:
            for _ in range(10):
                pipe.xadd(f"floor:{sid}", {"e": payload})
            pipe.execute()

        batch = [one] if metric == "add_message" else ten
        sl, comm = self.sl(sid), self.community(sid)
        if metric == "add_message":
            return {
                "streamlog": lambda: sl.add_messages(batch),
                "community": lambda: comm.add_message(one),
                "floor": lambda: self.client.xadd(f"floor:{sid}", {"e": payload}),
            }
        if metric == "add_messages(10)":
            return {
                "streamlog": lambda: sl.add_messages(batch),
                "community": lambda: comm.add_messages(batch),
                "floor": ten_xadds,
            }
        raise ValueError(metric)

    def fill(self, sid: str, n: int) -> None:
        if self.client.exists(f"floor:{sid}"):
            return
        writer = self.sl(sid)
        pipe = self.client.pipeline(transaction=False)
        for start in range(0, n, 1000):
            batch = conversation(min(1000, n - start), start)
            writer.add_messages(batch)
            for m in batch:  # community stores newest first (LPUSH): the same layout, pipelined
                pipe.lpush(f"community:{sid}", json.dumps(message_to_dict(m)))
                pipe.xadd(f"floor:{sid}", {"e": m.content.encode()})
            pipe.execute()
        self.sl(sid).streamlog.store.read(sid)  # the first full read writes the snapshot

    def readers(self, n: int) -> dict[str, Callable[[], Any] | Timed]:
        sid = f"read{n}"
        self.fill(sid, n)
        window = Streamlog(self.client, key_prefix="sl", trim=LastN(20), cache_size=0).store
        cold = Streamlog(self.client, key_prefix="sl", cache_size=0).store
        warm = Streamlog(self.client, key_prefix="sl").store
        comm, floor = self.community(sid), f"floor:{sid}"
        # The warm reader's own copy of the session: before each read another writer
        # appends one message and removes the previous one, so the session keeps n + 1
        # visible messages however many reads run.
        self.fill(sid + "w", n)
        writer, turns = self.sl(sid + "w"), itertools.count()

        def append_one() -> None:
            k = next(turns)
            writer.add_messages([RemoveMessage(id=f"w{k - 1}"), AIMessage(f"turn {k}", id=f"w{k}")])

        # Reads whose cost does not grow with n run the same number of calls at every n,
        # so their p50 rests on as many samples at 100k as at 100.
        flat = 40 if self.quick else 200
        return {
            "streamlog LastN(20)": Timed(lambda: window.messages(sid), calls=flat),
            "streamlog full, cold": lambda: cold.messages(sid),
            "streamlog full, warm": Timed(lambda: warm.messages(sid + "w"), append_one),
            "community": lambda: comm.messages,
            "floor XRANGE": lambda: self.client.xrange(floor),
            "floor XREVRANGE 20": Timed(lambda: self.client.xrevrange(floor, count=20), calls=flat),
        }

    def round_trips(self) -> dict[str, int]:
        """Commands one read sends, per read mode, counted on a wrapped client (session of 1000)."""
        sid, out = "read1000", {}
        for name, settings in [
            ("LastN(20)", {"trim": LastN(20), "cache_size": 0}),
            ("full, cold", {"cache_size": 0}),
            ("full, warm", {}),
        ]:
            counting = CountingClient(self.client)
            store = Streamlog(counting, key_prefix="sl", **settings).store
            store.messages(sid)
            store.messages(sid)  # the first read also did the first-use check and loaded scripts
            counting.calls = 0
            self.sl(sid).add_messages(conversation(1))
            store.messages(sid)
            out[name] = counting.calls
        return out

    def run_round(self, r: int) -> None:
        scale = 0.2 if self.quick else 1
        jobs: list[tuple[str, dict[str, Callable[[], Any]], int]] = [
            ("add_message", self.contenders("add_message", 0), int(2000 * scale)),
            ("add_messages(10)", self.contenders("add_messages(10)", 0), int(500 * scale)),
        ]
        sizes = [10, 100, 1000] if self.quick else [10, 100, 1000, 10000, 100000]
        reads = {10: 300, 100: 150, 1000: 40, 10000: 8, 100000: 3}
        jobs += [(f"messages@{n}", self.readers(n), max(3, int(reads[n] * scale))) for n in sizes]
        for metric, fns, calls in jobs:
            names = list(fns)
            names = names[r % len(names) :] + names[: r % len(names)]  # rotate who goes first
            for name in names:
                self.timings[metric][name].append(timed(fns[name], calls))

    def measure_bytes(self, n: int = 1000) -> None:
        sid = "bytes"
        messages = conversation(n)
        sl = self.sl(sid, prefix=f"bytes{uuid.uuid4().hex[:6]}")
        for m in messages:  # one call per message, as a chat app does, each with an idempotency key
            sl.add_messages([m])
        comm = self.community(sid)
        for m in messages:
            comm.add_message(m)
        keys = sl.streamlog.keyspace.session(sid)
        usage = {
            k: self.client.memory_usage(getattr(keys, k), samples=0) or 0
            for k in ("log", "idem", "idem_old", "feed")
        }
        self.bytes = {
            "streamlog log": usage["log"] / n,
            "streamlog idempotency": (usage["idem"] + usage["idem_old"]) / n,
            "streamlog feed (until workers trim it)": usage["feed"] / n,
            "streamlog log + idempotency": (usage["log"] + usage["idem"] + usage["idem_old"]) / n,
            "streamlog total with feed": sum(usage.values()) / n,
            "community list": (self.client.memory_usage(f"community:{sid}", samples=0) or 0) / n,
            "payload (message content)": sum(len(m.content) for m in messages) / n,
        }


def summarize(timings: Timings) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for metric, by_name in timings.items():
        out[metric] = {}
        for name, rounds in by_name.items():
            every = sorted(x for r in rounds for x in r)
            out[metric][name] = {
                "p50": statistics.median(statistics.median(r) for r in rounds),
                "p99": every[min(len(every) - 1, int(len(every) * 0.99))],
            }
    return out


RATIOS = [
    ("add_message", "streamlog", "floor", "add_message / one XADD"),
    ("add_messages(10)", "streamlog", "floor", "add_messages(10) / 10 pipelined XADD"),
    ("add_messages(10)", "community", "streamlog", "community add_messages(10) / streamlog"),
    ("messages@10000", "community", "streamlog full, cold", "community messages@10k / streamlog full, cold"),
    ("messages@10000", "community", "streamlog full, warm", "community messages@10k / streamlog full, warm"),
    (
        "messages@100000",
        "streamlog LastN(20)",
        "floor XREVRANGE 20",
        "streamlog LastN(20)@100k / bare XREVRANGE 20",
    ),
]


def table(summary: dict[str, Any], metrics: list[str]) -> list[str]:
    names = list(dict.fromkeys(n for m in metrics for n in summary[m]))
    lines = ["| metric (ms, p50 / p99) | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for metric in metrics:
        cells = summary[metric]
        row = [f"{cells[n]['p50']:.3f} / {cells[n]['p99']:.3f}" if n in cells else "" for n in names]
        lines.append(f"| {metric} | " + " | ".join(row) + " |")
    return lines


def markdown(summary: dict[str, Any], nbytes: dict[str, float], trips: dict[str, int], header: str) -> str:
    writes = [m for m in summary if m.startswith("add")]
    reads = [m for m in summary if m.startswith("messages@")]
    lines = [header, "", *table(summary, writes), "", *table(summary, reads)]
    if "messages@100" in summary and "messages@100000" in summary:
        at = {n: summary[f"messages@{n}"]["streamlog LastN(20)"]["p50"] for n in (100, 100000)}
        lines += ["", f"streamlog LastN(20) at 100k / at 100: {at[100000] / at[100]:.2f}x"]
    lines += ["", "| read | round trips after one append |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in trips.items()]
    lines += ["", "| ratio (p50) | value |", "|---|---|"]
    for metric, a, b, label in RATIOS:
        if metric in summary:
            lines.append(f"| {label} | {summary[metric][a]['p50'] / summary[metric][b]['p50']:.2f}x |")
    lines += ["", "| Redis bytes per stored message (1000 messages) | bytes |", "|---|---|"]
    lines += [f"| {k} | {v:.0f} |" for k, v in nbytes.items()]
    return "\n".join(lines)


def pick_server(name: str | None) -> ServerBinary:
    found = find_servers()
    if name:
        return next(b for b in found if b.name == name)
    return max(found, key=lambda b: (b.flavor == "redis", b.version))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--server", default=None, help="a binary name from find_servers(), e.g. redis-7.0.15")
    parser.add_argument("--json", default=None, help="also write the raw numbers here")
    args = parser.parse_args()
    rounds = max(3, args.rounds)
    with LocalServer(pick_server(args.server)) as server:
        bench = Bench(server, rounds, args.quick)
        info = bench.client.info("server")
        header = (
            f"streamlog benchmark, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: {server.binary.name} "
            f"(INFO redis_version {info['redis_version']}), redis-py {version('redis')}, "
            f"hiredis {version('hiredis')}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
            f"{rounds} rounds{' (quick)' if args.quick else ''}"
        )
        print(header, file=sys.stderr)
        for r in range(rounds):
            bench.run_round(r)
            print(f"round {r + 1}/{rounds} done", file=sys.stderr)
        bench.measure_bytes()
        trips = bench.round_trips()
        summary = summarize(bench.timings)
        bench.client.close()
    print(markdown(summary, bench.bytes, trips, header))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "header": header,
                    "summary": summary,
                    "bytes": bench.bytes,
                    "round_trips": trips,
                    "raw": bench.timings,
                },
                f,
            )


if __name__ == "__main__":
    main()
