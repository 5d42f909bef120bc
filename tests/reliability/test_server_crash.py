"""Server crashes with persistence: SIGKILL a real AOF server under concurrent appends, restart it.

Writer processes append batches of one to three messages to their own sessions, each with
an idempotency key, and record every batch the server acknowledged (with its offsets).
When an append fails they retry it with the same key, as the docs tell applications to do.
The test kills the server at moments drawn from a seeded RNG (after a random number of
further acknowledgements, never after a sleep), restarts it on the same data directory,
and at the end checks every session against its writer's record.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from langchain_core.messages import HumanMessage
from redis.backoff import NoBackoff
from redis.retry import Retry

from langchain_streamlog import StreamlogError, StreamStore
from langchain_streamlog.testing import LocalServer
from tests.conftest import BINARIES, _unavailable, real_server_names

pytestmark = pytest.mark.slow

WRITERS, SESSIONS, ROUNDS = 3, 4, 10


def writer(port: int, prefix: str, wid: int, out: str, acked: Any, stop: Any) -> None:
    """Append until told to stop; write one JSON line per acknowledged batch."""
    client = redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    store = StreamStore(client, key_prefix=prefix)
    counts = {f"w{wid}s{i}": 0 for i in range(SESSIONS)}
    with open(out, "w") as record:
        while not stop.is_set():
            for sid, n in counts.items():
                size = 1 + (n + wid) % 3
                contents = [f"{sid}:{n + i}" for i in range(size)]
                key, deadline = f"{sid}#{n}", time.monotonic() + 60
                while True:
                    try:
                        offsets = store.append(sid, [HumanMessage(c) for c in contents], idempotency_key=key)
                        break
                    except StreamlogError:  # the server is down or restarting: retry, same key
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.005)
                record.write(json.dumps({"sid": sid, "contents": contents, "offsets": offsets}) + "\n")
                record.flush()
                counts[sid] = n + size
                with acked.get_lock():
                    acked.value += 1
    client.close()


def wait_for(acked: Any, target: int, procs: list[Any]) -> None:
    deadline = time.monotonic() + 60
    while acked.value < target:
        assert time.monotonic() < deadline, f"writers stalled at {acked.value} of {target} acknowledgements"
        assert all(p.is_alive() for p in procs), "a writer died"
        time.sleep(0.002)


CASES = [(name, "always") for name in real_server_names() if not name.startswith("missing-")]
CASES += [(CASES[0][0], "everysec")] if CASES else [("missing-server", "always")]


@pytest.mark.parametrize(("name", "fsync"), CASES)
def test_sigkilled_aof_server_loses_no_acknowledged_append(name, fsync, tmp_path):
    by_name = {b.name: b for b in BINARIES}
    if name not in by_name:
        _unavailable(f"no server binary {name}")  # fails under CI, skips elsewhere
    server = LocalServer(by_name[name], aof=True, appendfsync=fsync, dir=str(tmp_path / "data"))
    server.start()
    try:
        checked, batches, kills = crash_rounds(server, name, fsync, tmp_path)
    finally:
        server.stop()  # also when a check failed: the suite leaves no server behind
    assert kills == ROUNDS and checked["batches"] == len(batches) > ROUNDS * 20
    print(f"server crash ({name}, appendfsync {fsync}): {kills} SIGKILLs, {checked}")


def crash_rounds(
    server: LocalServer, name: str, fsync: str, tmp_path: Path
) -> tuple[dict[str, int], list[Any], int]:
    rng = random.Random(f"{name}-{fsync}")  # the same kill moments on every run
    ctx = multiprocessing.get_context("spawn")
    acked, stop = ctx.Value("i", 0), ctx.Event()
    outs = [str(tmp_path / f"w{w}.jsonl") for w in range(WRITERS)]
    procs = [
        ctx.Process(target=writer, args=(server.port, "crash", w, outs[w], acked, stop))
        for w in range(WRITERS)
    ]
    kills = 0
    try:
        for p in procs:
            p.start()
        for _ in range(ROUNDS):
            wait_for(acked, acked.value + rng.randint(20, 300), procs)
            server.kill()  # SIGKILL: no shutdown, no last write
            kills += 1
            server.restart()  # same port, same directory: the AOF is replayed
        wait_for(acked, acked.value + 100, procs)  # the writers got through the last restart
    finally:
        stop.set()
        for p in procs:
            p.join(90)
        for p in procs:
            if p.is_alive():
                p.kill()
    assert [p.exitcode for p in procs] == [0] * WRITERS
    batches = [json.loads(line) for out in outs for line in Path(out).read_text().splitlines()]
    return verify(server, batches, may_lose=fsync != "always"), batches, kills


def verify(server: LocalServer, batches: list[dict[str, Any]], may_lose: bool) -> dict[str, int]:
    """Each session's log is its acknowledged batches, in order, at their offsets, each once and whole.

    With ``may_lose`` (``appendfsync everysec``), whole acknowledged batches may be missing
    (counted as ``lost``); without it, none may.
    """
    by_session: dict[str, list[list[tuple[str, str]]]] = {}
    for b in batches:
        assert len(b["offsets"]) == len(b["contents"])
        by_session.setdefault(b["sid"], []).append(list(zip(b["offsets"], b["contents"], strict=True)))
    lost = 0
    with redis.Redis(port=server.port) as client:
        fresh = StreamStore(client, key_prefix="crash", cache_size=0)
        snapshotting = StreamStore(client, key_prefix="crash", snapshot_every=7)
        for sid, acked in by_session.items():
            stored = [(o, e.messages[0]["content"]) for o, e in fresh.events(sid)]
            present = set(stored)
            kept = []
            for batch in acked:
                there = [pair in present for pair in batch]
                assert all(there) or not any(there), (sid, batch)  # never part of a batch
                if all(there):
                    kept += batch
                else:
                    lost += 1
            assert stored == kept, sid  # in order, at the offsets returned, nothing twice, nothing else
            contents = [c for _, c in kept]
            assert [m.content for m in snapshotting.messages(sid)] == contents  # the fold agrees
            assert [m.content for m in snapshotting.messages(sid)] == contents  # and from its snapshot
            assert [m.content for m in fresh.messages(sid)] == contents
    assert may_lose or lost == 0, f"{lost} acknowledged batches lost"
    return {
        "batches": len(batches),
        "messages": sum(len(b) for bs in by_session.values() for b in bs),
        "sessions": len(by_session),
        "lost batches": lost,
    }
