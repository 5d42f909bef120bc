"""streamlog against the histories it replaces and a bare-Redis floor, in one run.

    ./dev bench                 # full run (a few minutes)
    ./dev bench --quick         # smaller sizes, for a smoke run
    ./dev bench --rounds 5 --json results.json

It starts its own redis-server on a free 127.0.0.1 port (the newest binary found,
or ``--server NAME``) and stops it at the end; nothing else is contacted.

Contenders, all on the same server and client library (redis-py with hiredis, RESP2):

- ``streamlog``: ``RedisStreamChatMessageHistory`` with its defaults (an idempotency
  key per ``add_messages`` call); ``streamlog (no idem)`` is ``idempotent=False``.
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
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from streamlog import RedisStreamChatMessageHistory
from streamlog._server import LocalServer, ServerBinary, find_servers

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


def timed(fn: Callable[[], Any], calls: int) -> list[float]:
    for _ in range(min(5, calls)):
        fn()  # warm up
    gc.collect()
    out = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - start) / 1e6)
    return out


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
        sl, sl_plain, comm = self.sl(sid), self.sl(sid + "n", idempotent=False), self.community(sid)
        if metric == "add_message":
            return {
                "streamlog": lambda: sl.add_messages(batch),
                "streamlog (no idem)": lambda: sl_plain.add_messages(batch),
                "community": lambda: comm.add_message(one),
                "floor": lambda: self.client.xadd(f"floor:{sid}", {"e": payload}),
            }
        if metric == "add_messages(10)":
            return {
                "streamlog": lambda: sl.add_messages(batch),
                "streamlog (no idem)": lambda: sl_plain.add_messages(batch),
                "community": lambda: comm.add_messages(batch),
                "floor": ten_xadds,
            }
        raise ValueError(metric)

    def readers(self, n: int) -> dict[str, Callable[[], Any]]:
        sid = f"read{n}"
        if not self.client.exists(f"community:{sid}"):
            messages = conversation(n)
            sl, comm = self.sl(sid, idempotent=False), self.community(sid)
            for start in range(0, n, 500):
                sl.add_messages(messages[start : start + 500])
                comm.add_messages(messages[start : start + 500])
            pipe = self.client.pipeline(transaction=False)
            for m in messages:
                pipe.xadd(f"floor:{sid}", {"e": m.content.encode()})
            pipe.execute()
        sl, comm = self.sl(sid), self.community(sid)
        return {
            "streamlog": lambda: sl.messages,
            "community": lambda: comm.messages,
            "floor": lambda: self.client.xrange(f"floor:{sid}"),
        }

    def run_round(self, r: int) -> None:
        scale = 0.2 if self.quick else 1
        jobs: list[tuple[str, dict[str, Callable[[], Any]], int]] = [
            ("add_message", self.contenders("add_message", 0), int(2000 * scale)),
            ("add_messages(10)", self.contenders("add_messages(10)", 0), int(500 * scale)),
        ]
        sizes = [10, 100, 1000] if self.quick else [10, 100, 1000, 10000]
        reads = {10: 300, 100: 150, 1000: 30, 10000: 7}
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
    ("add_message", "streamlog (no idem)", "floor", "add_message (no idem) / one XADD"),
    ("add_messages(10)", "streamlog", "floor", "add_messages(10) / 10 pipelined XADD"),
    ("add_messages(10)", "community", "streamlog", "community add_messages(10) / streamlog"),
    ("messages@10000", "community", "streamlog", "community messages@10k / streamlog"),
    ("messages@10000", "streamlog", "floor", "streamlog messages@10k / raw XRANGE"),
]


def markdown(summary: dict[str, Any], nbytes: dict[str, float], header: str) -> str:
    names = ["streamlog", "streamlog (no idem)", "community", "floor"]
    lines = [
        header,
        "",
        "| metric (ms, p50 / p99) | " + " | ".join(names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    for metric, cells in summary.items():
        row = [f"{cells[n]['p50']:.3f} / {cells[n]['p99']:.3f}" if n in cells else "" for n in names]
        lines.append(f"| {metric} | " + " | ".join(row) + " |")
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
        summary = summarize(bench.timings)
        bench.client.close()
    print(markdown(summary, bench.bytes, header))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"header": header, "summary": summary, "bytes": bench.bytes, "raw": bench.timings}, f)


if __name__ == "__main__":
    main()
