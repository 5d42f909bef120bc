"""What a durable append costs: ``wait_replicas=1`` against a plain append, one client.

    .venv/bin/python benchmarks/durable.py [--appends 2000] [--rounds 5]

It starts a master and one replica (``--replicaof``) of the default server binary on
free 127.0.0.1 ports and stops both at the end; nothing else is contacted. Each round
runs the contenders in turn (rotating who goes first), each appending ``--appends``
single-message batches with an idempotency key to fresh sessions. Figures: median
over rounds of each round's p50, and p99 of every append of every round, in ms.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from datetime import datetime, timezone

import redis
from langchain_core.messages import HumanMessage

from langchain_streamlog import StreamStore
from langchain_streamlog.testing import LocalServer, default_server

CONTENDERS = ["plain", "durable"]


def one_round(store: StreamStore, appends: int) -> list[float]:
    run = uuid.uuid4().hex[:8]
    out = []
    for i in range(appends):
        sid = f"{run}-{i % 64}"
        t0 = time.perf_counter()
        store.append(sid, [HumanMessage(f"message {i}")], idempotency_key=f"{run}-{i}")
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    binary = default_server()
    master = LocalServer(binary).start()
    replica = LocalServer(binary, extra_args=["--replicaof", master.host, str(master.port)])
    p50s: dict[str, list[float]] = {c: [] for c in CONTENDERS}
    every: dict[str, list[float]] = {c: [] for c in CONTENDERS}
    try:
        replica.start()
        with replica.client() as r:
            deadline = time.monotonic() + 30
            while r.info("replication").get("master_link_status") != "up":
                if time.monotonic() > deadline:
                    raise SystemExit("FAILED: the replica never linked to its master")
                time.sleep(0.05)
        with master.client() as m:
            version = m.info("server")["redis_version"]
        client = redis.Redis(host=master.host, port=master.port)
        stores = {
            "plain": StreamStore(client, key_prefix="plain"),
            "durable": StreamStore(client, key_prefix="durable", wait_replicas=1, wait_timeout=1.0),
        }
        for store in stores.values():
            one_round(store, 50)  # warm-up: connections, scripts
        for r in range(args.rounds):
            for name in CONTENDERS[r % 2 :] + CONTENDERS[: r % 2]:
                ms = one_round(stores[name], args.appends)
                p50s[name].append(statistics.median(ms))
                every[name] += ms
        with replica.client() as r:  # every durable append reached the replica
            durable_keys = [k for k in r.scan_iter(match="durable:*log:*")]
            replicated = sum(r.xlen(k) for k in durable_keys)
        if replicated != 50 + args.rounds * args.appends:
            raise SystemExit(f"FAILED: the replica holds {replicated} durable events")
        client.close()
    finally:
        replica.stop()
        master.stop()
    print(
        f"streamlog durable appends, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: redis {version}, "
        f"master + 1 replica on loopback, one client, {args.rounds} rounds of {args.appends} appends\n"
    )
    print("| append | p50 ms (median of rounds) | p99 ms |\n|---|---|---|")
    for name in CONTENDERS:
        ms = sorted(every[name])
        print(f"| {name} | {statistics.median(p50s[name]):.3f} | {ms[int(len(ms) * 0.99)]:.3f} |")
    ratio = statistics.median(p50s["durable"]) / statistics.median(p50s["plain"])
    print(f"\ndurable / plain p50: {ratio:.2f}x (the replica's confirmation is one more loopback hop)")


if __name__ == "__main__":
    main()
