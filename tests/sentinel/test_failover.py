"""Failing the master over under load, on a private Sentinel deployment (master, 1 replica, 3 sentinels).

Writers do what the docs tell applications to do: retry a failed append with the same
idempotency key until it is acknowledged. Durable writers (``wait_replicas=1``) append
through a Sentinel-managed client given to the store and through the asyncio twin
`Streamlog` makes of it; plain writers through a ``redis+sentinel://`` URL and the given
client. Every acknowledged durable append must be there afterwards, whole and in order;
plain appends' losses are counted and printed (docs/sentinel.md quotes them).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis.sentinel
from langchain_core.messages import HumanMessage

from langchain_streamlog import NotReplicated, Streamlog, StreamlogError, StreamStore
from langchain_streamlog.testing import LocalSentinel
from tests.conftest import _first_binary, _unavailable

pytestmark = pytest.mark.slow

PREFIX = "fo"


GUARD = ("--min-replicas-to-write", "1")  # a master without a replica refuses writes


@pytest.fixture
def fresh_sentinel(request: pytest.FixtureRequest) -> Iterator[LocalSentinel]:
    deployment = LocalSentinel(_first_binary(), server_args=request.param)
    try:
        deployment.start()
    except RuntimeError as exc:
        _unavailable(f"a Sentinel deployment did not start: {exc}")
    yield deployment
    deployment.stop()


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)


class Writer:
    """Appends batches ``<name>:<n>:a``, ``<name>:<n>:b`` to its sessions in turn, retrying with the same key."""

    def __init__(self, name: str, append: Callable[[str, list[HumanMessage], str], Any]) -> None:
        self.name, self.append = name, append
        self.sessions = [f"{name}-{i}" for i in range(3)]
        self.acked: list[tuple[str, int, float]] = []  # (session, n, when it was acknowledged)
        self.errors: Counter[str] = Counter()
        self.refused_at: float | None = None  # the first NOREPLICAS: a master without replica said no
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def since(self, moment: float) -> int:
        return sum(1 for *_, when in self.acked if when >= moment)

    def run(self) -> None:
        n = 0
        try:
            while not self.stop.is_set():
                sid = self.sessions[n % len(self.sessions)]
                batch = [HumanMessage(f"{self.name}:{n}:a"), HumanMessage(f"{self.name}:{n}:b")]
                deadline = time.monotonic() + 90
                while True:
                    try:
                        self.append(sid, batch, f"{self.name}#{n}")
                        self.acked.append((sid, n, time.monotonic()))
                        break
                    except StreamlogError as exc:
                        self.errors[type(exc).__name__] += 1
                        if "NOREPLICAS" in str(exc) and self.refused_at is None:
                            self.refused_at = time.monotonic()
                        if self.stop.is_set():
                            return  # in flight at the end: neither acknowledged nor required
                        assert time.monotonic() < deadline, f"{self.name}: an append never went through"
                        time.sleep(0.005)
                n += 1
        except BaseException as exc:  # reported by the test
            self.error = exc


def stored(reader: StreamStore, writer: Writer) -> dict[str, list[int]]:
    """session -> the batch numbers its log holds, checking that every batch is whole and in order."""
    out = {}
    for sid in writer.sessions:
        contents = [str(m.content) for m in reader.messages(sid)]
        numbers = [int(first.split(":")[1]) for first in contents[::2]]
        pairs = [[f"{writer.name}:{n}:a", f"{writer.name}:{n}:b"] for n in numbers]
        assert [contents[i : i + 2] for i in range(0, len(contents), 2)] == pairs, sid  # each batch whole
        assert numbers == sorted(set(numbers)), (sid, numbers)  # in order, no duplicate
        out[sid] = numbers
    return out


@pytest.mark.parametrize(
    ("how", "fresh_sentinel"),
    [("SENTINEL FAILOVER", ()), ("SENTINEL FAILOVER", GUARD), ("SIGKILL", ())],
    ids=["sentinel-failover", "sentinel-failover-min-replicas-to-write", "sigkill"],
    indirect=["fresh_sentinel"],
)
def test_a_failover_under_load_keeps_every_durable_append(fresh_sentinel: LocalSentinel, how: str) -> None:
    """Every acknowledged durable append survives, whole and in order, and so does every plain
    one acknowledged before the failover began; plain ones lost were acknowledged by the old
    master while it was failed over (before it refused writes, with min-replicas-to-write)."""
    deployment = fresh_sentinel
    guarded = "--min-replicas-to-write" in deployment._server_args
    sentinel = redis.sentinel.Sentinel(deployment.sentinels, socket_timeout=5)
    given = sentinel.master_for(deployment.service_name, socket_timeout=5)
    durable = StreamStore(given, key_prefix=PREFIX, wait_replicas=1, wait_timeout=1.0)
    twin_log = Streamlog(given, key_prefix=PREFIX, wait_replicas=1, wait_timeout=1.0)  # asyncio: its twin
    plain_url = StreamStore.from_url(deployment.url, key_prefix=PREFIX)
    plain_given = StreamStore(given, key_prefix=PREFIX)
    loop = asyncio.new_event_loop()

    async def astore() -> Any:
        return twin_log.astore

    def twin_append(sid: str, batch: list[HumanMessage], key: str) -> Any:
        store = loop.run_until_complete(astore())  # the twin of this loop, made on first use
        return loop.run_until_complete(store.append(sid, batch, idempotency_key=key))

    def sync_append(store: StreamStore) -> Callable[[str, list[HumanMessage], str], Any]:
        return lambda sid, batch, key: store.append(sid, batch, idempotency_key=key)

    durables = [Writer("durable", sync_append(durable)), Writer("durable-twin", twin_append)]
    plains = [Writer("plain-url", sync_append(plain_url)), Writer("plain-given", sync_append(plain_given))]
    writers = [*durables, *plains]
    threads = [threading.Thread(target=w.run, name=w.name) for w in writers]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: all(len(w.acked) >= 30 for w in writers))
        old = deployment.master
        began = time.monotonic()
        new = deployment.failover(kill=how == "SIGKILL")  # returns once the sentinels agree and all is linked
        healthy = time.monotonic()
        assert new is not old and new in deployment.servers
        # Everyone who can write carries on, on the new master: the clients followed it.
        progressing = writers if how == "SENTINEL FAILOVER" else plains  # a killed master leaves no replica
        wait_until(lambda: all(w.since(healthy) >= 30 for w in progressing))
    finally:
        for w in writers:
            w.stop.set()
        for thread in threads:
            thread.join(120)
    assert [w.error for w in writers] == [None] * len(writers)
    assert not any(thread.is_alive() for thread in threads)
    if how == "SIGKILL":  # the new master has no replica: durable appends say so, never a false ack
        assert all(w.errors["NotReplicated"] > 0 for w in durables)
        with pytest.raises(NotReplicated):
            durable.append("after", [HumanMessage("x")])

    with new.client() as client:
        reader = StreamStore(client, key_prefix=PREFIX, cache_size=0)
        for w in durables:  # every acknowledged durable append is there, whole, in order, once
            held = stored(reader, w)
            missing = [(sid, n) for sid, n, _ in w.acked if n not in held[sid]]
            assert missing == [], (w.name, missing[:5], len(missing))
        report = []
        for w in plains:
            held = stored(reader, w)
            lost = [when for sid, n, when in w.acked if n not in held[sid]]
            assert all(began <= when <= healthy for when in lost), w.name  # only while failing over
            if guarded:  # once the old master had lost its replica, it acknowledged nothing
                assert w.refused_at is not None and all(when < w.refused_at for when in lost), w.name
            during = sum(1 for _, _, when in w.acked if began <= when <= healthy)
            report.append(f"{w.name}: acked {len(w.acked)} ({during} while failing over), lost {len(lost)}")
    durable_report = ", ".join(f"{w.name} acked {len(w.acked)} (retried {w.errors.total()})" for w in durables)
    print(
        f"\n{how}{' with min-replicas-to-write 1' if guarded else ''} on {deployment.binary.name}: "
        f"healthy again after {healthy - began:.1f} s; "
        f"{'; '.join(report)}; durable: {durable_report}, lost 0; "
        f"errors {dict(sum((w.errors for w in writers), Counter()))}"
    )
    loop.run_until_complete(twin_log.aclose())
    loop.close()
    plain_url.close()
    given.close()
    sentinel.close()
