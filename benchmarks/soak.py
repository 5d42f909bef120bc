"""A bounded soak: writers, readers and a worker at once, on a server this script starts.

    .venv/bin/python benchmarks/soak.py [--seconds 120] [--writers 3] [--readers 2] [--sessions 200]
    .venv/bin/python benchmarks/soak.py --quick     # 15 s of load, 50 sessions a writer

One standalone server on a free 127.0.0.1 port, stopped at the end; nothing else is contacted.
For --seconds (and at most --max-appends appends per writer), W writer processes append
batches of 1-3 messages with an idempotency key (retried on a StreamlogError) to their own
sessions, keeping the acknowledged contents and offsets: message n of session s is "s:n", a
HumanMessage if n is even, else an AIMessage. R reader processes read random sessions, a
windowed read (LastN(20)) then a full read, and check both against that scheme. One worker
process runs Worker(store, "soak", handler) (the group exists before the first append),
recording every (session, offset) it handles; at the end it stops and drains with run_check.
Then a fresh store (cache_size=0) checks every session's events and messages against what its
writer acknowledged, and that the worker handled every event (duplicates counted; 0 expected).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import queue
import random
import sys
import time
from collections import defaultdict
from datetime import datetime, timezone

import redis
from langchain_core.messages import AIMessage, HumanMessage

from langchain_streamlog import LastN, StreamlogError, StreamStore, Worker
from langchain_streamlog.testing import LocalServer, default_server

PREFIX = "soak"
WINDOW = 20
SCHEME, CLASSES = ("human", "ai"), (HumanMessage, AIMessage)  # message n is of SCHEME[n % 2]


def writer(url: str, w: int, args: argparse.Namespace, start, counts, out) -> None:
    sessions = [f"w{w}s{i}" for i in range(args.sessions)]
    records: dict[str, tuple[list[str], list[str]]] = {sid: ([], []) for sid in sessions}
    rng, latencies, retries = random.Random(w), [], 0
    with StreamStore.from_url(url, key_prefix=PREFIX) as store:
        store.last_offset(sessions[0])  # connected
        start.wait(timeout=120)
        begin = t1 = time.perf_counter()
        for _ in range(args.max_appends):
            sid = rng.choice(sessions)
            contents, offsets = records[sid]
            n = len(contents)
            batch = [CLASSES[(n + j) % 2](f"{sid}:{n + j}") for j in range(rng.randint(1, 3))]
            t0 = time.perf_counter()
            for _attempt in range(200):
                try:
                    acked = store.append(sid, batch, idempotency_key=f"{sid}:{n}")
                    break
                except StreamlogError:
                    retries += 1
                    time.sleep(0.05)
            else:
                raise SystemExit(f"FAILED: writer {w}: an append to {sid} failed 200 times")
            t1 = time.perf_counter()
            latencies.append((t1 - t0) * 1000)
            contents.extend(str(m.content) for m in batch)
            offsets.extend(acked)
            counts[0] += 1
            counts[1] += len(batch)
            if t1 >= begin + args.seconds:
                break
    out.put(("writer", records, latencies, retries, t1 - begin))


def numbers(sid: str, messages: list) -> list[int] | None:
    """The n of each "sid:n" message, or None if one breaks the scheme."""
    ns = []
    for m in messages:
        owner, _, n = str(m.content).rpartition(":")
        if owner != sid or not n.isdigit() or m.type != SCHEME[int(n) % 2]:
            return None
        ns.append(int(n))
    return ns


def inconsistency(sid: str, window: list, full: list) -> str | None:
    f, w = numbers(sid, full), numbers(sid, window)
    if f is None or f != list(range(len(f))):
        return f"{sid}: full read of {len(full)} breaks the scheme: {[m.content for m in full[:5]]}"
    if w is None or (w and (w != list(range(max(0, w[-1] - WINDOW + 1), w[-1] + 1)) or w[-1] >= len(f))):
        return f"{sid}: window {[m.content for m in window]} vs a full read of {len(f)}"
    return None


def reader(url: str, r: int, args: argparse.Namespace, start, stop, out) -> None:
    sids = [f"w{w}s{i}" for w in range(args.writers) for i in range(args.sessions)]
    rng, full_ms, window_ms, bad, errors = random.Random(1000 + r), [], [], [], 0
    with StreamStore.from_url(url, key_prefix=PREFIX) as store:
        store.last_offset(sids[0])
        start.wait(timeout=120)
        begin = time.perf_counter()
        while not stop.is_set():
            sid = rng.choice(sids)
            try:
                t0 = time.perf_counter()
                window = store.messages(sid, trim=LastN(WINDOW))
                t1 = time.perf_counter()
                full = store.messages(sid)
                t2 = time.perf_counter()
            except StreamlogError:
                errors += 1
                continue
            window_ms.append((t1 - t0) * 1000)
            full_ms.append((t2 - t1) * 1000)
            if problem := inconsistency(sid, window, full):
                bad.append(problem)
    out.put(("reader", full_ms, window_ms, bad[:10], errors, time.perf_counter() - begin, len(bad)))


def worker(url: str, start, handled, out) -> None:
    """Worker.run() until SIGTERM (it finishes the batch in hand), then run_check drains."""
    seen: dict[str, list[str]] = defaultdict(list)  # session -> offsets handled

    def handler(delivery) -> None:
        seen[delivery.session_id].append(delivery.offset)
        handled.value += 1

    with StreamStore.from_url(url, key_prefix=PREFIX) as store:
        work = Worker(store, "soak", handler)
        start.wait(timeout=120)
        begin = time.perf_counter()
        work.run()
        running, at_stop = time.perf_counter() - begin, handled.value
        t0 = time.perf_counter()
        drained = work.run_check()
        drain_s = time.perf_counter() - t0
    out.put(("worker", dict(seen), at_stop / running, drained, drain_s))


def collect(out, want: dict[str, int], procs: list, timeout: float, tick) -> dict[str, list]:
    """Results by kind until ``want`` of each came; FAILED if a process dies or time runs out."""
    got: dict[str, list] = defaultdict(list)
    deadline, last = time.monotonic() + timeout, time.monotonic()
    while any(len(got[k]) < n for k, n in want.items()):
        try:
            kind, *result = out.get(timeout=1)
            got[kind].append(result)
        except queue.Empty:
            if dead := [p.exitcode for p in procs if p.exitcode]:
                raise SystemExit(f"FAILED: a process exited with an error ({dead})") from None
            if time.monotonic() > deadline:
                raise SystemExit(f"FAILED: no results after {timeout:.0f} s") from None
        if time.monotonic() - last >= 5:
            tick()
            last = time.monotonic()
    return got


def verify(url: str, records: dict, seen: dict) -> tuple[list[str], int, int]:
    """Problems, events verified and duplicate deliveries: every log against its writer's record."""
    problems, events, duplicates = [], 0, 0
    with StreamStore.from_url(url, key_prefix=PREFIX, cache_size=0) as store:
        for sid, (contents, offsets) in records.items():
            logged = store.events(sid)
            expected = [(SCHEME[i % 2], c) for i, c in enumerate(contents)]
            in_log = [(r["type"], r["content"]) for _, e in logged for r in e.messages]
            if [o for o, _ in logged] != offsets or in_log != expected:
                problems.append(f"{sid}: the log differs from the {len(offsets)} events acknowledged")
            if [(m.type, m.content) for m in store.messages(sid)] != expected:
                problems.append(f"{sid}: messages() differs from the {len(offsets)} messages acknowledged")
            handled = seen.get(sid, [])
            duplicates += len(handled) - len(set(handled))
            if missing := set(offsets) - set(handled):
                problems.append(f"{sid}: the worker never handled {len(missing)} events")
            if extra := set(handled) - set(offsets):
                problems.append(f"{sid}: the worker handled {len(extra)} events never acknowledged")
            events += len(offsets)
    if strays := set(seen) - set(records):
        problems.append(f"the worker handled events of unknown sessions: {sorted(strays)[:5]}")
    return problems, events, duplicates


def pct(ms: list[float], q: float) -> float:
    ms = sorted(ms)
    return ms[min(len(ms) - 1, int(len(ms) * q))] if ms else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=120.0, help="length of the load")
    parser.add_argument("--max-appends", type=int, default=200_000, help="per writer")
    parser.add_argument("--writers", type=int, default=3)
    parser.add_argument("--readers", type=int, default=2)
    parser.add_argument("--sessions", type=int, default=200, help="per writer")
    parser.add_argument("--quick", action="store_true", help="15 s of load, at most 50 sessions a writer")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.sessions = min(args.seconds, 15.0), min(args.sessions, 50)
    binary = default_server()
    server = LocalServer(binary)
    ctx = multiprocessing.get_context("spawn")
    start, stop, out = ctx.Barrier(args.writers + args.readers + 2), ctx.Event(), ctx.Queue()
    counts = [ctx.RawArray("q", 2) for _ in range(args.writers)]  # appends, events
    handled = ctx.RawValue("q", 0)
    procs: list = []
    lags: list[int] = []  # events appended and not yet handled, at each progress line
    try:
        server.start()
        client = server.client(decode_responses=True)
        version = client.info("server")["redis_version"]
        with StreamStore.from_url(server.url, key_prefix=PREFIX) as store:
            Worker(store, "soak", print).ensure_groups()  # before the first append
            cache_size = store.core.cache.size
        jobs = [(writer, (w, args, start, counts[w], out)) for w in range(args.writers)]
        jobs += [(reader, (r, args, start, stop, out)) for r in range(args.readers)]
        jobs += [(worker, (start, handled, out))]
        procs += [ctx.Process(target=f, args=(server.url, *a), daemon=True) for f, a in jobs]
        for p in procs:
            p.start()
        start.wait(timeout=120)
        begin = time.perf_counter()

        def tick() -> None:
            appends, events = (sum(c[i] for c in counts) for i in (0, 1))
            lags.append(events - handled.value)
            print(
                f"{time.perf_counter() - begin:6.1f} s: {appends:,} appends, {events:,} events, "
                f"worker handled {handled.value:,}, used_memory {client.info('memory')['used_memory_human']}",
                file=sys.stderr,
            )

        writers = collect(out, {"writer": args.writers}, procs, args.seconds + 120, tick)["writer"]
        lag = sum(c[1] for c in counts) - handled.value
        stop.set()  # readers
        procs[-1].terminate()  # the worker: SIGTERM stops run()
        rest = collect(out, {"reader": args.readers, "worker": 1}, procs, 120, tick)
        memory = client.info("memory")
        records = {sid: rec for w in writers for sid, rec in w[0].items()}
        seen, worker_rate, drained, drain_s = rest["worker"][0]
        problems, events, duplicates = verify(server.url, records, seen)
        client.close()
    finally:
        stop.set()
        if procs:
            procs[-1].terminate()
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
        server.stop()

    readers = rest["reader"]
    problems += [p for r in readers for p in r[2]]
    append_ms = [x for w in writers for x in w[1]]
    full_ms, window_ms = [x for r in readers for x in r[0]], [x for r in readers for x in r[1]]
    reads_s = sum(len(r[0]) + len(r[1]) for r in readers) / max((r[4] for r in readers), default=1)
    print(
        f"streamlog soak, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: {binary.name} (INFO redis_version "
        f"{version}), redis-py {redis.__version__}, {os.cpu_count()} CPUs; {args.writers} writers x "
        f"{args.sessions} sessions, {args.readers} readers, 1 worker, {args.seconds:g} s"
        f"{' (quick)' if args.quick else ''}\n"
    )
    rows = [
        ("appends/s (aggregate, 1-3 messages each)", f"{len(append_ms) / max(w[3] for w in writers):,.0f}"),
        ("append p50 / p99 ms", f"{pct(append_ms, 0.5):.2f} / {pct(append_ms, 0.99):.2f}"),
        ("append retries (StreamlogError)", f"{sum(w[2] for w in writers)}"),
        ("reads/s (full + windowed)", f"{reads_s:,.0f}"),
        ("full read p50 / p99 ms", f"{pct(full_ms, 0.5):.2f} / {pct(full_ms, 0.99):.2f}"),
        (f"window LastN({WINDOW}) p50 / p99 ms", f"{pct(window_ms, 0.5):.2f} / {pct(window_ms, 0.99):.2f}"),
        ("read errors / inconsistent reads", f"{sum(r[3] for r in readers)} / {sum(r[5] for r in readers)}"),
        ("worker events/s (while running)", f"{worker_rate:,.0f}"),
        ("worker lag, events (max of 5-s samples / end)", f"{max(lags, default=0):,} / {lag:,}"),
        ("run_check drain at the end", f"{drained:,} events in {drain_s:.2f} s"),
        ("Redis used_memory / peak", f"{memory['used_memory_human']} / {memory['used_memory_peak_human']}"),
        ("sessions / events verified", f"{len(records):,} / {events:,}"),
        ("worker duplicate deliveries", f"{duplicates}"),
        ("result", "nothing lost" if not problems else f"FAILED ({len(problems)} problems)"),
    ]  # fmt: skip
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print(
        f"\nReaders keep the default projection cache ({cache_size} of {len(records)} sessions). The "
        "windowed read goes first: on a cached session it pays the catch-up on new events and the full "
        "read finds the cache current; an uncached session is folded from Redis by the full read, while "
        "the window reads one page."
    )
    if problems:
        print("\n".join(problems[:20]), file=sys.stderr)
        raise SystemExit(f"FAILED: {problems[0]}")


if __name__ == "__main__":
    main()
