"""LangGraph checkpointers side by side: StreamlogSaver, InMemorySaver and SqliteSaver, one run.

    .venv/bin/python benchmarks/checkpointers.py [--rounds 3] [--turns 20]
    .venv/bin/python benchmarks/checkpointers.py --quick

It starts its own redis-server on a free 127.0.0.1 port and stops it at the end; SQLite
writes to a temporary file. Measured, per saver, interleaved within each round (who goes
first rotates), ``--rounds`` rounds; a cell is the median over rounds of the round's p50,
then the p99 of all calls:

- ``put``: one checkpoint with a changed ``messages`` channel (10 messages) and an unchanged one;
- ``get_tuple``: the latest checkpoint of a thread holding 10 and 1,000 checkpoints;
- ``list``: every checkpoint of those threads, newest first;
- ``agent loop``: a ``create_agent`` agent with a scripted model and a tool, N turns on one
  thread, using the saver as its checkpointer (the time of the whole loop).

Every saver is checked to return the same latest checkpoint and list length.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import redis
from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver

from langchain_streamlog.langgraph._savers import StreamlogSaver
from langchain_streamlog.testing import LocalServer, default_server

SAVERS = ["streamlog", "in-memory", "sqlite"]


@tool
def lookup(city: str) -> str:
    """The weather in a city."""
    return f"4°C in {city}"


class Scripted(BaseChatModel):
    """Calls the tool on odd calls, answers on even ones; never runs out."""

    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Scripted:
        return self

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        self.calls += 1
        if self.calls % 2:
            message = AIMessage(
                "", tool_calls=[{"name": "lookup", "args": {"city": "Oslo"}, "id": f"c{self.calls}"}]
            )
        else:
            message = AIMessage(f"answer {self.calls}")
        return ChatResult(generations=[ChatGeneration(message=message)])


def config(thread: str, checkpoint_id: str | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    if checkpoint_id:
        c["configurable"]["checkpoint_id"] = checkpoint_id
    return c


def put_chain(saver: Any, thread: str, n: int, samples: list[float] | None = None) -> str:
    """``n`` checkpoints on a thread, each growing ``messages``; returns the last id."""
    parent = None
    messages: list[Any] = []
    for i in range(n):
        cp = empty_checkpoint()
        cp["id"] = str(uuid.uuid6()) if hasattr(uuid, "uuid6") else f"{i:032d}"
        messages = [*messages[-9:], HumanMessage(f"turn {i}")]  # a channel of 10 messages, changed each step
        cp["channel_values"] = {"messages": messages, "counter": i, "static": "unchanged"}
        cp["channel_versions"] = {"messages": f"{i + 1:032}", "counter": f"{i + 1:032}", "static": f"{1:032}"}
        new = {"messages": cp["channel_versions"]["messages"], "counter": cp["channel_versions"]["counter"]}
        if i == 0:
            new["static"] = cp["channel_versions"]["static"]
        t0 = time.perf_counter()
        saver.put(config(thread, parent), cp, {"source": "loop", "step": i}, new)
        if samples is not None:
            samples.append((time.perf_counter() - t0) * 1000)
        parent = cp["id"]
    return str(parent)


def timed(fn: Callable[[], Any], times: int) -> list[float]:
    out = []
    for _ in range(times):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="1 round, 5 turns, 200 checkpoints")
    args = parser.parse_args()
    rounds, turns, big = (1, 5, 200) if args.quick else (max(3, args.rounds), args.turns, 1000)
    sizes = [10, big]
    binary = default_server()
    server = LocalServer(binary).start()
    tmp = tempfile.mkdtemp(prefix="streamlog-bench-")
    p50: dict[str, list[float]] = defaultdict(list)
    every: dict[str, list[float]] = defaultdict(list)
    try:
        client = redis.Redis(port=server.port)
        version = client.info("server")["redis_version"]
        import sqlite3

        sqlite = SqliteSaver(sqlite3.connect(os.path.join(tmp, "cp.sqlite"), check_same_thread=False))
        savers: dict[str, Any] = {
            "streamlog": StreamlogSaver(client, key_prefix=f"lg{uuid.uuid4().hex[:6]}"),
            "in-memory": InMemorySaver(),
            "sqlite": sqlite,
        }
        for r in range(rounds):
            order = SAVERS[r % 3 :] + SAVERS[: r % 3]
            for name in order:
                saver = savers[name]
                samples: list[float] = []
                put_chain(saver, f"put-{r}-{uuid.uuid4().hex[:6]}", 200, samples)
                record(p50, every, (name, "put"), samples)
                latest: dict[int, Any] = {}
                for n in sizes:
                    thread = f"t{n}-{r}-{uuid.uuid4().hex[:6]}"
                    put_chain(saver, thread, n)
                    record(
                        p50,
                        every,
                        (name, f"get_tuple@{n}"),
                        timed(lambda s=saver, t=thread: s.get_tuple(config(t)), 200),
                    )
                    listing = timed(lambda s=saver, t=thread: list(s.list(config(t))), 5 if n > 100 else 100)
                    record(p50, every, (name, f"list@{n}"), listing)
                    got = saver.get_tuple(config(thread))
                    latest[n] = (
                        got.checkpoint["channel_values"]["counter"],
                        len(list(saver.list(config(thread)))),
                    )
                assert latest == {n: (n - 1, n) for n in sizes}, (name, latest)  # every saver agrees
                agent = create_agent(Scripted(), tools=[lookup], checkpointer=saver)
                thread = f"agent-{r}-{uuid.uuid4().hex[:6]}"
                t0 = time.perf_counter()
                for i in range(turns):
                    agent.invoke(
                        {"messages": [HumanMessage(f"question {i}")]}, {"configurable": {"thread_id": thread}}
                    )
                loop_ms = (time.perf_counter() - t0) * 1000
                state = agent.get_state({"configurable": {"thread_id": thread}})
                assert len(state.values["messages"]) == 4 * turns, (name, len(state.values["messages"]))
                record(p50, every, (name, f"agent loop, {turns} turns"), [loop_ms])
        client.close()
    finally:
        server.stop()
    metrics = [
        "put",
        *(f"get_tuple@{n}" for n in sizes),
        *(f"list@{n}" for n in sizes),
        f"agent loop, {turns} turns",
    ]
    print(
        f"streamlog LangGraph checkpointers, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: redis {version} "
        f"(loopback), SQLite file in a temp dir, {os.cpu_count()} CPUs, {rounds} rounds\n"
    )
    print("| metric | " + " | ".join(f"{s} p50 (p99) ms" for s in SAVERS) + " | streamlog / sqlite |")
    print("|---|" + "---|" * (len(SAVERS) + 1))
    for m in metrics:
        cells = []
        for s in SAVERS:
            ms = sorted(every[s, m])
            cells.append(
                f"{statistics.median(p50[s, m]):.3f} ({ms[min(len(ms) - 1, int(len(ms) * 0.99))]:.3f})"
            )
        ratio = statistics.median(p50["streamlog", m]) / statistics.median(p50["sqlite", m])
        print(f"| {m} | " + " | ".join(cells) + f" | {ratio:.2f}x |")


def record(
    p50: dict[Any, list[float]], every: dict[Any, list[float]], key: Any, samples: list[float]
) -> None:
    p50[key].append(statistics.median(samples))
    every[key] += samples


if __name__ == "__main__":
    main()
