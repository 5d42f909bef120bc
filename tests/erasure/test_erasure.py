"""Erasure reaches every copy: delete() and TTL expiry (a sweep) leave the text nowhere.

The acceptance test writes a message holding a unique canary, runs workers (the indexer, the
archiver, and a handler that always fails, so the event is also in the dead letters), then
erases one session with ``delete()`` and lets another expire, sweeps once and runs the workers
once more. A scan of every key of the deployment (every type), the search index's files and
the archive folder then finds neither canary, and the session index lists neither session.
"""

from __future__ import annotations

import gzip
import time
import uuid
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis
import redis.cluster
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage

from langchain_streamlog import Archiver, SearchIndex, SessionDeleted, StreamStore, Worker
from langchain_streamlog._core.admin import recent_sessions
from langchain_streamlog._core.codec import decode
from tests.conftest import real_server_names, topologies

BACKENDS = [*real_server_names(), *topologies("cluster"), "fakeredis"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Any:
    """(make a store with settings, a raw client that sees every key) on one backend."""
    made: list[Any] = []
    prefix = f"er{uuid.uuid4().hex[:8]}"
    if request.param == "fakeredis":
        server = fakeredis.FakeServer()

        def client() -> Any:
            return fakeredis.FakeRedis(server=server)
    elif request.param == "cluster":
        cluster = request.getfixturevalue("redis_cluster")

        def client() -> Any:
            return redis.cluster.RedisCluster(host=cluster.host, port=cluster.port)
    else:
        real = request.getfixturevalue("real_server_by_name")(request.param)

        def client() -> Any:
            return redis.Redis(host=real.host, port=real.port)

    def store(**settings: Any) -> StreamStore:
        c = client()
        made.append(c)
        return StreamStore(c, key_prefix=prefix, **settings)

    raw = client()
    made.append(raw)
    yield store, raw, prefix
    for c in made:
        c.close()


def every_value(raw: Any, prefix: str) -> list[bytes]:
    """Every byte string stored under the prefix: key names, and the values of every type."""
    out: list[bytes] = []
    for key in raw.scan_iter(match=f"{prefix}*", count=1000):
        out.append(key)
        kind = raw.type(key)
        if kind == b"string":
            out.append(raw.get(key))
        elif kind == b"hash":
            out += [b for pair in raw.hgetall(key).items() for b in pair]
        elif kind == b"stream":
            out += [b for _, fields in raw.xrange(key) for pair in fields.items() for b in pair]
        elif kind == b"zset":
            out += raw.zrange(key, 0, -1)
        elif kind == b"list":
            out += raw.lrange(key, 0, -1)
        elif kind == b"set":
            out += list(raw.smembers(key))
        else:
            raise AssertionError(f"a key of an unexpected type: {key!r} ({kind!r})")
    return out


def files_bytes(folder: Path) -> bytes:
    """Every file under ``folder``, raw, and gunzipped where it is gzip."""
    out = b""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        out += data
        if data[:2] == b"\x1f\x8b":
            out += gzip.decompress(data)
    return out


def wait_until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def fail(delivery: Any) -> None:
    raise RuntimeError("always fails: the event goes to the dead letters")


def test_delete_and_expiry_leave_the_canary_nowhere(backend: Any, tmp_path: Path) -> None:
    store_of, raw, prefix = backend
    store = store_of()
    expiring = store_of(ttl=1.0)
    deleted, expired = f"canary-del-{uuid.uuid4().hex}", f"canary-exp-{uuid.uuid4().hex}"
    store.append("gone", [HumanMessage(f"my secret is {deleted}"), AIMessage("noted")])
    store.clear("gone")  # a clear keeps the text in the log: only erasure removes it
    store.append("gone", [HumanMessage("again")])
    expiring.append("lapsed", [HumanMessage(f"my secret is {expired}")])
    store.append("kept", [HumanMessage("keep-me-around")])
    files = tmp_path / "files"
    files.mkdir()
    index, archive = SearchIndex(str(files / "index.sqlite3")), Archiver(str(files / "archive"))
    workers = [
        Worker(expiring, "index", index.handle),
        Worker(expiring, "archive", archive.handle),
        Worker(expiring, "bad", fail, max_deliveries=1, min_idle=0),
    ]
    for worker in workers:
        worker.run_check()
    for worker in workers:  # the failing group's events reach the dead letters
        worker.run_check()
    before = b"".join(every_value(raw, prefix))
    assert deleted.encode() in before and expired.encode() in before  # the scan can see them
    assert index.search(expired.split("-")[-1]) and archive.read("lapsed") and archive.read("gone")
    assert deleted.encode() in files_bytes(files) and expired.encode() in files_bytes(files)

    assert store.delete("gone") is True  # (a) erasure
    log = expiring.keyspace.session("lapsed").log
    wait_until(lambda: raw.exists(log) == 0)  # (b) the TTL lapses ...
    assert expiring.sweep() == 1  # ... and one sweep erases it
    for worker in workers:  # one worker pass: the tombstones reach the index and the archive
        worker.run_check()
    index.close()

    after = b"".join(every_value(raw, prefix)) + files_bytes(files)
    assert deleted.encode() not in after and expired.encode() not in after
    assert b"keep-me-around" in after  # the scan is not vacuous: a live session is still there
    listed = {row.session_id for row in store.run(recent_sessions(store.keyspace, limit=100))}
    assert listed == {"kept"}
    tombstones = sorted(
        (fields[b"s"], decode(fields[b"e"]))
        for p in range(store.keyspace.partitions)
        for _, fields in raw.xrange(store.keyspace.feed(p))
        if decode(fields[b"e"]) == SessionDeleted() or decode(fields[b"e"]) == SessionDeleted(expired=True)
    )
    assert tombstones == [(b"gone", SessionDeleted()), (b"lapsed", SessionDeleted(expired=True))]
    assert expiring.sweep() == 0  # nothing left to erase


def test_a_sweep_spares_the_living_and_a_new_incarnation(backend: Any) -> None:
    store_of, raw, _ = backend
    store = store_of(ttl=0.5)
    store.append("old", [HumanMessage("first life")])
    store.append("reader", [HumanMessage("read often")])
    reading = store_of(ttl=0.5, refresh_ttl_on_read=True, cache_size=0)
    log = store.keyspace.session("old").log
    deadline = time.monotonic() + 10
    while raw.exists(log):  # keep "reader" alive by reads only, until "old" expired
        reading.messages("reader")
        assert time.monotonic() < deadline
        time.sleep(0.05)
    reading.messages("reader")
    store.append("old", [HumanMessage("second life")])  # a new incarnation, same id
    assert store.sweep() == 0  # the reader is alive (moved out of the window), "old" is new
    assert [m.content for m in store.messages("old")] == ["second life"]
    assert [m.content for m in store.messages("reader")] == ["read often"]
    assert store.sweep() == 0  # and the next sweep does not look at the reader again


def test_sweep_needs_a_ttl_and_a_positive_limit(backend: Any) -> None:
    store_of, _, _ = backend
    assert store_of().sweep() == 0
    from langchain_streamlog import ConfigError

    with pytest.raises(ConfigError):
        store_of(ttl=1).sweep(limit=0)


def racing(flow: Any, at: int, action: Any) -> Any:
    """``flow``, with ``action()`` run just before its ``at``-th command goes out (or never)."""
    sent = 0
    try:
        plan = next(flow)
        while True:
            if sent == at:
                action()
            sent += 1
            plan = flow.send((yield plan))
    except StopIteration as stop:
        return stop.value


@pytest.fixture(scope="module")
def racing_server(real_server_by_name: Any) -> Any:
    return real_server_by_name(real_server_names()[0])


@settings(max_examples=30)
@given(
    expired=st.lists(st.booleans(), min_size=1, max_size=4),
    reborn=st.lists(st.booleans(), min_size=4, max_size=4),
    at=st.integers(min_value=0, max_value=40),
)
def test_appends_racing_a_sweep_never_lose_a_new_incarnation(racing_server: Any, expired, reborn, at) -> None:
    prefix = f"race{uuid.uuid4().hex[:8]}"
    raw = redis.Redis(host=racing_server.host, port=racing_server.port)
    writer = StreamStore(raw, key_prefix=prefix)  # no TTL: a new incarnation lives on
    sweeper = StreamStore(raw, key_prefix=prefix, ttl=0.001)
    sids = [f"s{i}" for i in range(len(expired))]
    for sid in sids:
        writer.append(sid, [HumanMessage(f"{sid} old")])
    time.sleep(0.002)  # every last activity is now older than the sweeper's TTL
    for sid, gone in zip(sids, expired, strict=True):
        if gone:  # expiry is keys vanishing: exactly what a lapsed TTL does
            keys = writer.keyspace.session(sid)
            raw.delete(keys.log, keys.snap, keys.idem, keys.idem_old)
    again = [sid for sid, gone, back in zip(sids, expired, reborn, strict=False) if gone and back]

    def rebirth() -> None:
        for sid in again:
            writer.append(sid, [HumanMessage(f"{sid} new")])

    raced: list[bool] = []
    erased = sweeper.run(racing(sweeper.core.sweep(), at, lambda: raced.append(True) or rebirth()))
    if not raced:  # the sweep sent fewer commands than `at`: the appends come after it
        rebirth()
    try:
        for sid, gone in zip(sids, expired, strict=True):
            contents = [m.content for m in writer.messages(sid)]
            if not gone:
                assert contents == [f"{sid} old"]  # alive: never touched
            elif sid in again:
                assert contents == [f"{sid} new"]  # a new incarnation, whole
            feed = [
                fields[b"e"] for _, fields in raw.xrange(writer.keyspace.feed(writer.keyspace.partition_of(sid)))
                if fields[b"s"] == sid.encode()
            ]
            old_copies = [e for e in feed if f"{sid} old".encode() in e]
            if gone:
                assert old_copies == [], sid  # expired: its old text left the feed
            new_copies = [e for e in feed if f"{sid} new".encode() in e]
            assert len(new_copies) == (1 if sid in again else 0)
        # Each expired incarnation is erased once: by the sweep, or by the append that began
        # the next incarnation before the sweep reached it.
        assert sum(expired) - len(again) <= erased <= sum(expired)
        assert sweeper.sweep() == 0
    finally:
        writer.drop_deployment()
        raw.close()


def test_the_checkpointer_leaves_no_copy_after_delete_thread_and_prune(backend: Any) -> None:
    from langgraph.checkpoint.base import empty_checkpoint

    from langchain_streamlog.langgraph import StreamlogSaver

    store_of, raw, prefix = backend
    saver = StreamlogSaver(store_of())
    erased, pruned, kept = (f"canary-{kind}-{uuid.uuid4().hex}" for kind in ("thread", "pruned", "kept"))

    def put(thread: str, text: str, parent: Any = None) -> Any:
        checkpoint = empty_checkpoint()
        checkpoint["channel_values"] = {"messages": [text]}
        checkpoint["channel_versions"] = {"messages": saver.get_next_version(None, None) + text[-4:]}
        config = parent or {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
        saved = saver.put(config, checkpoint, {"source": "input", "step": 0}, checkpoint["channel_versions"])
        saver.put_writes(saved, [("messages", text)], task_id="t1")
        return saved

    put("gone", erased)
    first = put("trimmed", pruned)
    put("trimmed", kept, parent=first)
    before = b"".join(every_value(raw, prefix))
    assert erased.encode() in before and pruned.encode() in before
    saver.delete_thread("gone")
    saver.prune(["trimmed"], strategy="keep_latest")
    after = b"".join(every_value(raw, prefix))
    assert erased.encode() not in after and pruned.encode() not in after
    assert kept.encode() in after


def test_with_a_ttl_no_feed_keeps_an_event_older_than_it_read_or_not(backend: Any) -> None:
    from langchain_streamlog._core.groups import GroupCore

    store_of, raw, _ = backend
    store = store_of(ttl=0.3)
    store.run(GroupCore(store.keyspace, "never-reads", "w", None).ensure_groups())  # holds the feed
    store.append("s", [HumanMessage("old")])
    feed = store.keyspace.feed(store.keyspace.partition_of("s"))
    assert store.trim_feeds() == 0 and raw.xlen(feed) == 1  # younger than the TTL: kept for the group
    wait_until(lambda: not raw.exists(store.keyspace.session("s").log))
    assert store.trim_feeds() >= 1 and raw.xlen(feed) == 0  # older than the TTL: gone, unread


def test_a_running_worker_sweeps_its_partitions_on_a_schedule(backend: Any) -> None:
    import threading

    store_of, _, _ = backend
    store = store_of(ttl=0.3)
    store.append("lapses", [HumanMessage("x")])
    seen: list[Any] = []
    worker = Worker(store, "g", seen.append, sweep_every=0.1, idle_wait=0.05)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_until(lambda: any(isinstance(d.event, SessionDeleted) for d in seen), timeout=15)
    finally:
        worker.stop()
        thread.join(10)
    assert [d.event for d in seen if d.session_id == "lapses"][-1] == SessionDeleted(expired=True)
    assert store.sweep() == 0
