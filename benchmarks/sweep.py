"""How long a sweep takes to erase expired sessions, and what one round costs the server.

    .venv/bin/python benchmarks/sweep.py --sessions 1000000
    .venv/bin/python benchmarks/sweep.py --quick          # 20,000 sessions

It starts its own redis-server on a free 127.0.0.1 port (the newest binary found) and stops it.
It writes ``--sessions`` sessions of one message each through the real append script (in
pipelines, TTL 2 s), waits until they have expired, then runs ``StreamStore.sweep()`` rounds
(``--limit`` candidates per partition per round) until a round finds none. Reported: the
sessions erased, the rounds, the wall time, sessions/s, the slowest round, and the server's
slowest script call (``SLOWLOG``), which bounds how long a sweep can hold the server.
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import datetime, timezone

import redis
from langchain_core.messages import HumanMessage

from langchain_streamlog import StreamStore
from langchain_streamlog._core.scripts import APPEND
from langchain_streamlog.testing import LocalServer, find_servers


def populate(store: StreamStore, client: redis.Redis, sessions: int, batch: int = 2000) -> None:
    """``sessions`` sessions, one message each, through the append script, pipelined."""
    payload = store.core.payloads([HumanMessage("a message that will expire " * 3)])
    store.last_offset("warm-up")  # the first-use check
    client.script_load(APPEND.source)
    for start in range(0, sessions, batch):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(start + batch, sessions)):
            plan = next(store.core.append_payloads(f"user-{i}", payload))
            pipe.execute_command("EVALSHA", plan.script.sha, *plan.args)  # type: ignore[union-attr]
        pipe.execute()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.sessions = 20_000
    binary = max(find_servers(), key=lambda b: (b.flavor == "redis", b.version))
    with LocalServer(binary) as server:
        client = redis.Redis(host=server.host, port=server.port)
        store = StreamStore(client, key_prefix=f"sweep-{uuid.uuid4().hex[:6]}", ttl=2.0, feed_trim_every=0)  # no trim: the worst case for the sweep
        started = time.perf_counter()
        populate(store, client, args.sessions)
        written = time.perf_counter() - started
        memory = client.info("memory")["used_memory_human"]
        deadline = time.monotonic() + 60
        while client.exists(store.keyspace.session(f"user-{args.sessions - 1}").log):
            if time.monotonic() > deadline:
                raise SystemExit("the sessions did not expire")
            time.sleep(0.2)
        client.config_set("slowlog-log-slower-than", 0)
        client.slowlog_reset()
        client.config_set("slowlog-max-len", 100_000)
        rounds, erased, slowest = 0, 0, 0.0
        started = time.perf_counter()
        while True:
            begun = time.perf_counter()
            done, examined = store.run(store.core.sweep_round(limit=args.limit))
            slowest = max(slowest, time.perf_counter() - begun)
            if not examined:
                break
            rounds += 1
            erased += done
        elapsed = time.perf_counter() - started
        calls = client.slowlog_get(100_000)
        script_us = max((c["duration"] for c in calls if b"EVALSHA" in c["command"]), default=0)
        left = sum(client.zcard(store.keyspace.sessions(p)) for p in range(store.keyspace.partitions))
        when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        info = client.info("server")
        print(f"sweep benchmark, {when}, {binary.name} (redis_version {info['redis_version']})")
        print(f"- written: {args.sessions:,} sessions in {written:.1f} s ({memory} used), TTL 2 s")
        print(f"- swept: {erased:,} erased in {rounds} rounds of <= {args.limit} per partition, {elapsed:.1f} s")
        print(f"  ({erased / elapsed:,.0f} sessions/s); slowest round {slowest * 1000:.0f} ms; "
              f"slowest script on the server {script_us / 1000:.1f} ms; index entries left: {left}")  # fmt: skip
        store.drop_deployment()
        client.close()


if __name__ == "__main__":
    main()
