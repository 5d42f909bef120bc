"""Aggregate append throughput: one standalone server against a 3-master Redis Cluster.

    .venv/bin/python benchmarks/cluster.py [--clients 2,4] [--seconds 3] [--rounds 3]
    .venv/bin/python benchmarks/cluster.py --quick     # 1 s rounds, 2 clients: a smoke run

It starts one standalone redis-server and one 3-master cluster (no replicas) of the same
binary on free 127.0.0.1 ports, and stops both at the end; nothing else is contacted.

Each of C client processes appends single-message batches, each with an idempotency key,
round-robin over its own SESSIONS sessions (which hit every partition), for --seconds
(and at most MAX_APPENDS appends). Within a round every client count runs each contender
in turn, rotating who goes first; a fresh key prefix per run. After every run the events
stored (XLEN of each session's log) must equal the acknowledged appends.

A cell shows the median over rounds of aggregate appends/s, and the p50 and p99 of the
latencies of every append of every round. Ratios compare figures of this run only.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
import uuid
from collections import defaultdict
from datetime import datetime, timezone

import redis
from langchain_core.messages import HumanMessage

from langchain_streamlog import StreamStore
from langchain_streamlog.testing import LocalCluster, LocalServer, default_server

SESSIONS = 128  # per client: every one of the 16 partitions gets sessions of every client
MAX_APPENDS = 500_000  # per client per run: a bound on the count, besides the time
CONTENDERS = ["standalone", "cluster-3"]


def client(url: str, cluster: bool, prefix: str, n: int, seconds: float, start, out) -> None:
    """One client process: warm up, wait for the others, append for ``seconds``, report."""
    sessions = [f"c{n}s{i}" for i in range(SESSIONS)]
    with StreamStore.from_url(url, cluster=cluster, key_prefix=prefix) as store:
        for sid in sessions[:16]:  # connections, the first-use check, scripts loaded
            store.append(sid, [HumanMessage("warm-up")], idempotency_key=f"{sid}-warm")
        acked, latencies = 16, []
        start.wait(timeout=120)
        begin = time.perf_counter()
        deadline = begin + seconds
        for i in range(MAX_APPENDS):
            sid = sessions[i % SESSIONS]
            t0 = time.perf_counter()
            store.append(sid, [HumanMessage(f"message {i}")], idempotency_key=f"{sid}-{i}")
            t1 = time.perf_counter()
            latencies.append((t1 - t0) * 1000)
            if t1 >= deadline:
                break
        out.put((n, acked + len(latencies), len(latencies), t1 - begin, latencies))


def stored(url: str, cluster: bool, prefix: str, clients: int) -> int:
    """Events in every session log of a run: the sum of XLEN, pipelined."""
    with StreamStore.from_url(url, cluster=cluster, key_prefix=prefix) as store:
        keys = [store.keyspace.session(f"c{n}s{i}") for n in range(clients) for i in range(SESSIONS)]
        if len({k.partition for k in keys}) != store.keyspace.partitions:
            raise SystemExit("FAILED: the sessions do not cover every partition")
        pipe = store.client.pipeline(transaction=False)
        for k in keys:
            pipe.xlen(k.log)
        return sum(pipe.execute())


def run(url: str, cluster: bool, clients: int, seconds: float) -> tuple[float, list[float]]:
    """One run: aggregate appends/s and every append's latency (ms); checks what was stored."""
    prefix = f"cb{uuid.uuid4().hex[:8]}"
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(clients + 1), ctx.Queue()
    procs = [
        ctx.Process(target=client, args=(url, cluster, prefix, n, seconds, start, out), daemon=True)
        for n in range(clients)
    ]
    for p in procs:
        p.start()
    try:
        start.wait(timeout=120)  # every client is connected and warm
        results = [out.get(timeout=seconds + 120) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    acked = sum(r[1] for r in results)
    events = stored(url, cluster, prefix, clients)
    if events != acked:
        raise SystemExit(
            f"FAILED: {prefix} ({'cluster' if cluster else 'standalone'}): {events} events stored, {acked} appends acknowledged"
        )
    rate = sum(r[2] for r in results) / max(r[3] for r in results)
    return rate, [x for r in results for x in r[4]]


def pct(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * q))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", default="2,4", help="client process counts, e.g. 2,4")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 s runs, 2 clients only")
    args = parser.parse_args()
    counts = [2] if args.quick else [int(c) for c in args.clients.split(",")]
    seconds = 1.0 if args.quick else args.seconds
    rounds = max(1, args.rounds)
    binary = default_server()
    rates: dict[tuple[str, int], list[float]] = defaultdict(list)
    latencies: dict[tuple[str, int], list[float]] = defaultdict(list)
    standalone, cluster = LocalServer(binary), LocalCluster(binary, masters=3)
    try:
        standalone.start()
        cluster.start()
        with redis.Redis(host=standalone.host, port=standalone.port) as c:
            version = c.info("server")["redis_version"]
        with redis.Redis(host=cluster.host, port=cluster.port) as c:
            cluster_version = c.info("server")["redis_version"]
        urls = {"standalone": (standalone.url, False), "cluster-3": (cluster.url, True)}
        for r in range(rounds):
            for clients in counts:
                names = CONTENDERS[r % 2 :] + CONTENDERS[: r % 2]  # rotate who goes first
                for name in names:
                    rate, ms = run(*urls[name], clients, seconds)
                    rates[name, clients].append(rate)
                    latencies[name, clients] += ms
            print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    finally:
        cluster.stop()
        standalone.stop()

    print(
        f"streamlog cluster benchmark, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: {binary.name} "
        f"(INFO redis_version {version} standalone, {cluster_version} cluster), "
        f"redis-py {redis.__version__}, {os.cpu_count()} CPUs, {rounds} rounds of {seconds:g} s"
        f"{' (quick)' if args.quick else ''}; every run's stored events matched its acknowledged appends\n"
    )
    print(
        f"Note: this machine has {os.cpu_count()} cores. The cluster's 3 server processes compete with "
        "the clients for the same cores, so the figure cannot show scale-out, only the per-append "
        "overhead of cluster routing (client-side slot lookup, a connection per node).\n"
    )
    print("| contender | clients | appends/s (median) | all rounds | p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|")
    for clients in counts:
        for name in CONTENDERS:
            ms = sorted(latencies[name, clients])
            all_rounds = ", ".join(f"{x:,.0f}" for x in rates[name, clients])
            print(
                f"| {name} | {clients} | {statistics.median(rates[name, clients]):,.0f} | {all_rounds} "
                f"| {pct(ms, 0.5):.3f} | {pct(ms, 0.99):.3f} |"
            )
    print("\n| ratio cluster-3 / standalone (median appends/s) | value |\n|---|---|")
    for clients in counts:
        ratio = statistics.median(rates["cluster-3", clients]) / statistics.median(
            rates["standalone", clients]
        )
        print(f"| {clients} clients | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
