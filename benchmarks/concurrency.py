"""Concurrency as deployed: one asyncio process, many conversations in flight, default settings.

    .venv/bin/python benchmarks/concurrency.py                 # 10 / 100 / 1,000 / 10,000 sessions
    .venv/bin/python benchmarks/concurrency.py --sessions 1000 --rounds 5
    .venv/bin/python benchmarks/concurrency.py --quick

It starts its own redis-server on a free 127.0.0.1 port (the newest binary found) and stops
it at the end; nothing else is contacted. Each session does ``--turns`` turns of
``aadd_messages([human, ai])`` then ``aget_messages()``; all sessions of a size run at once.

Contenders, interleaved within each round (who goes first rotates), on the same server:

- ``streamlog``: ``Streamlog.from_url(url).history(sid)``, every setting at its default;
- ``community``: langchain-community's ``RedisChatMessageHistory(sid, url=url)``, as its docs
  show it (its async methods run the sync ones in the default thread pool; one client, so
  one pool, per history); above 1,000 sessions it is not run (10,000 clients);
- ``floor``: a hand-written redis.asyncio loop, ``BlockingConnectionPool(max_connections=64)``,
  per turn a pipeline of two ``XADD`` (JSON messages) then one ``XREVRANGE COUNT 20``,
  returning raw entries (no messages built).

Reported per size and contender: messages/s (median over rounds), turn p50 and p99 (of all
turns of all rounds), CPU µs per message of this process (the client's cost), exceptions,
and a check that every session holds exactly its messages, in order. Then ``--graphs``
concurrent runs of a 3-node LangGraph graph on ``AsyncStreamlogSaver.from_url`` and on
``InMemorySaver``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import operator
import statistics
import time
import uuid
import warnings
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from importlib.metadata import version
from typing import Annotated, Any

import redis
import redis.asyncio
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from langchain_streamlog import Streamlog
from langchain_streamlog.langgraph import AsyncStreamlogSaver
from langchain_streamlog.testing import LocalServer, find_servers

warnings.filterwarnings("ignore", category=DeprecationWarning)
from langchain_community.chat_message_histories import RedisChatMessageHistory  # noqa: E402

Turn = Callable[[int], Awaitable[None]]  # one turn of a session, given the turn number
Check = Callable[[], Awaitable[list[str]]]  # the contents the session holds


def expected(sid: str, turns: int) -> list[str]:
    return [f"{sid} {kind}{t}" for t in range(turns) for kind in ("q", "a")]


class Contender:
    """Makes one session's turn and check; cleans up after a size."""

    name = ""
    max_sessions = 10**9

    def session(self, sid: str) -> tuple[Turn, Check]:
        raise NotImplementedError

    async def close(self) -> None:
        return None


class StreamlogContender(Contender):
    name = "streamlog"

    def __init__(self, url: str) -> None:
        self.log = Streamlog.from_url(url, key_prefix=f"bench-{uuid.uuid4().hex[:8]}")

    def session(self, sid: str) -> tuple[Turn, Check]:
        history = self.log.history(sid)

        async def turn(t: int) -> None:
            await history.aadd_messages([HumanMessage(f"{sid} q{t}"), AIMessage(f"{sid} a{t}")])
            await history.aget_messages()

        async def check() -> list[str]:
            return [str(m.content) for m in await history.aget_messages()]

        return turn, check

    async def close(self) -> None:
        await self.log.aclose()
        await asyncio.to_thread(self.log.store.drop_deployment)
        self.log.close()


class CommunityContender(Contender):
    name = "community"
    max_sessions = 1000

    def __init__(self, url: str) -> None:
        self.url, self.prefix, self.made = url, f"community-{uuid.uuid4().hex[:8]}:", []

    def session(self, sid: str) -> tuple[Turn, Check]:
        history = RedisChatMessageHistory(sid, url=self.url, key_prefix=self.prefix)
        self.made.append(history)

        async def turn(t: int) -> None:
            await history.aadd_messages([HumanMessage(f"{sid} q{t}"), AIMessage(f"{sid} a{t}")])
            await history.aget_messages()

        async def check() -> list[str]:
            return [str(m.content) for m in await history.aget_messages()]

        return turn, check

    async def close(self) -> None:
        for history in self.made:
            history.clear()
            history.redis_client.close()


class FloorContender(Contender):
    name = "floor"

    def __init__(self, url: str) -> None:
        pool = redis.asyncio.BlockingConnectionPool.from_url(url, max_connections=64)
        self.client = redis.asyncio.Redis(connection_pool=pool)
        self.prefix = f"floor-{uuid.uuid4().hex[:8]}:"

    def session(self, sid: str) -> tuple[Turn, Check]:
        key, client = self.prefix + sid, self.client

        async def turn(t: int) -> None:
            async with client.pipeline(transaction=False) as pipe:
                pipe.xadd(key, {"m": json.dumps({"type": "human", "content": f"{sid} q{t}"})})
                pipe.xadd(key, {"m": json.dumps({"type": "ai", "content": f"{sid} a{t}"})})
                await pipe.execute()
            await client.xrevrange(key, count=20)

        async def check() -> list[str]:
            return [json.loads(fields[b"m"])["content"] for _, fields in await client.xrange(key)]

        return turn, check

    async def close(self) -> None:
        keys = [k async for k in self.client.scan_iter(match=self.prefix + "*", count=1000)]
        for start in range(0, len(keys), 500):
            await self.client.delete(*keys[start : start + 500])
        await self.client.aclose()


async def run_size(make: Callable[[], Contender], sessions: int, turns: int) -> dict[str, Any]:
    contender = make()
    sids = [f"user-{i}" for i in range(sessions)]
    parts = [contender.session(sid) for sid in sids]
    durations: list[float] = []
    errors: list[str] = []

    async def one(turn: Turn) -> None:
        for t in range(turns):
            start = time.perf_counter()
            try:
                await turn(t)
            except Exception as exc:
                errors.append(type(exc).__name__)
                return
            durations.append((time.perf_counter() - start) * 1000)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(turn) for turn, _ in parts))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    held = await asyncio.gather(*(check() for _, check in parts), return_exceptions=True)
    exact = sum(1 for sid, got in zip(sids, held, strict=True) if got == expected(sid, turns))
    await contender.close()
    messages = 2 * len(durations)
    return {
        "messages_per_s": messages / wall,
        "cpu_us_per_message": cpu / max(1, messages) * 1e6,
        "turns_ms": durations,
        "exceptions": len(errors) + sum(isinstance(h, BaseException) for h in held),
        "error_kinds": sorted(set(errors)),
        "exact_sessions": exact,
        "sessions": sessions,
    }


class Fan(TypedDict):
    items: Annotated[list[str], operator.add]


def graph_builder() -> StateGraph:
    builder = StateGraph(Fan)
    builder.add_node("a", lambda s: {"items": ["a"]})
    builder.add_node("b", lambda s: {"items": ["b"]})
    builder.add_node("c", lambda s: {"items": ["c"]})
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    builder.add_edge("b", "c")
    builder.add_edge("c", END)
    return builder


async def run_graphs(saver: Any, runs: int) -> tuple[float, int]:
    graph = graph_builder().compile(checkpointer=saver)
    start = time.perf_counter()
    outs = await asyncio.gather(
        *(graph.ainvoke({"items": []}, {"configurable": {"thread_id": f"g{i}"}}) for i in range(runs)),
        return_exceptions=True,
    )
    elapsed = time.perf_counter() - start
    bad = sum(1 for o in outs if isinstance(o, BaseException) or o["items"] != ["a", "b", "c"])
    return runs / elapsed, bad


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, nargs="*", default=[10, 100, 1000, 10000])
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--graphs", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="10 and 100 sessions, 2 rounds")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.quick:
        args.sessions, args.rounds, args.graphs = [10, 100], 2, 100
    binary = max(find_servers(), key=lambda b: (b.flavor == "redis", b.version))
    with LocalServer(binary) as server:
        url = server.url
        info = redis.Redis(host=server.host, port=server.port).info("server")
        kinds: dict[str, type[Contender]] = {
            "streamlog": StreamlogContender,
            "community": CommunityContender,
            "floor": FloorContender,
        }
        results: dict[int, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
        rounds = args.rounds if args.quick else max(3, args.rounds)
        for size in args.sessions:
            for r in range(rounds):
                names = list(kinds)
                names = names[r % len(names) :] + names[: r % len(names)]  # who goes first rotates
                for name in names:
                    kind = kinds[name]
                    if size <= kind.max_sessions:
                        results[size][name].append(
                            asyncio.run(run_size(lambda k=kind: k(url), size, args.turns))
                        )
        graph_rates: dict[str, list[tuple[float, int]]] = defaultdict(list)
        for r in range(args.rounds):

            async def streamlog_graphs() -> tuple[float, int]:
                saver = AsyncStreamlogSaver.from_url(url, key_prefix=f"bench-lg-{uuid.uuid4().hex[:6]}")
                async with saver:
                    out = await run_graphs(saver, args.graphs)
                    await saver.store.drop_deployment()
                return out

            def memory_graphs() -> Awaitable[tuple[float, int]]:
                return run_graphs(InMemorySaver(), args.graphs)

            order = [("AsyncStreamlogSaver", streamlog_graphs), ("InMemorySaver", memory_graphs)]
            for name, job in order if r % 2 == 0 else order[::-1]:
                graph_rates[name].append(asyncio.run(job()))
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"concurrency benchmark, {when}, {binary.name} (redis_version {info['redis_version']}), "
        f"redis-py {version('redis')}, {args.turns} turns per session, {rounds} rounds"
    )
    print()
    print(
        "| sessions | contender | messages/s | turn p50 ms | turn p99 ms | CPU µs/msg | exceptions | exact sessions |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    summary: dict[str, Any] = {"when": when, "server": binary.name, "sizes": {}}
    for size, by_name in results.items():
        summary["sizes"][size] = {}
        for name, runs in by_name.items():
            rate = statistics.median(r["messages_per_s"] for r in runs)
            turns = [d for r in runs for d in r["turns_ms"]]
            cpu = statistics.median(r["cpu_us_per_message"] for r in runs)
            exc = sum(r["exceptions"] for r in runs)
            exact = min(r["exact_sessions"] for r in runs)
            kinds = sorted({k for r in runs for k in r["error_kinds"]})
            summary["sizes"][size][name] = {"rate": rate, "p50": percentile(turns, 0.5), "p99": percentile(turns, 0.99),
                                            "cpu": cpu, "exceptions": exc, "exact": exact}  # fmt: skip
            note = f" ({', '.join(kinds)})" if kinds else ""
            print(
                f"| {size:,} | {name} | {rate:,.0f} | {percentile(turns, 0.5):.2f} | {percentile(turns, 0.99):.2f} "
                f"| {cpu:.0f} | {exc}{note} | {exact:,} / {size:,} |"
            )
    print()
    print("| sessions | streamlog / floor | streamlog / community |")
    print("|---:|---:|---:|")
    for size, by_name in summary["sizes"].items():
        sl = by_name["streamlog"]["rate"]
        floor = by_name["floor"]["rate"]
        comm = by_name.get("community", {}).get("rate")
        print(f"| {size:,} | {sl / floor:.2f}x | {f'{sl / comm:.1f}x' if comm else 'not run'} |")
    print()
    print(
        f"{args.graphs:,} concurrent runs of a 3-node graph (runs/s, median of {args.rounds} rounds; failed runs):"
    )
    for name, rates in graph_rates.items():
        print(
            f"- {name}: {statistics.median(r for r, _ in rates):,.0f} runs/s, {sum(b for _, b in rates)} failed"
        )
    if args.json:
        with open(args.json, "w") as out:
            json.dump(summary, out, indent=1)


if __name__ == "__main__":
    main()
