"""Reads that do not grow with history: windows, snapshots, cache, replay, tail, TTL, retention."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage, RemoveMessage, ToolMessage

from langchain_streamlog import KeepLast, KeepNewerThan, LastN, OffsetOutOfRange, TokenBudget
from langchain_streamlog._core.fold import Projection

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


class TinyPages(LastN):
    """LastN read one event per page, so every windowed read takes many pages."""

    def page_size(self) -> int:
        return 1


class Counting:
    """A client wrapper that records every command a store sends."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls, self.replies = inner, [], []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(args)
        reply = self.inner.execute_command(*args, **kwargs)
        if asyncio.iscoroutine(reply):

            async def wait() -> Any:
                result = await reply
                self.replies.append(result)
                return result

            return wait()
        self.replies.append(reply)
        return reply


# Operations a session sees: appends (some with ids), removals by id, clears.
ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("add"), st.sampled_from(["h", "a", "t"]), st.sampled_from([None, "m1", "m2", "m3"])
        ),
        st.tuples(st.just("add"), st.sampled_from(["h", "a"]), st.none()),
        st.tuples(st.just("remove"), st.sampled_from(["m1", "m2", "m3"]), st.none()),
        st.tuples(st.just("clear"), st.none(), st.none()),
    ),
    max_size=25,
)


def message(kind: str, i: int, mid: str | None) -> Any:
    if kind == "h":
        return HumanMessage(f"q{i}", id=mid)
    if kind == "a":
        return AIMessage(f"a{i}", id=mid)
    return ToolMessage(f"r{i}", tool_call_id="c", id=mid)


def play(store: Any, sid: str, operations: list[tuple[Any, Any, Any]]) -> None:
    for i, (op, a, b) in enumerate(operations):
        if op == "add":
            store.append(sid, [message(a, i, b)])
        elif op == "remove":
            store.append(sid, [RemoveMessage(id=a)])
        else:
            store.clear(sid)


def reference(store: Any, sid: str) -> Projection:
    """The full fold of every event, read with no cache and no snapshot."""
    return Projection().apply_all(store.events(sid))


@SETTINGS
@given(operations=ops, n=st.integers(0, 8), budget=st.integers(1, 40))
def test_window_equals_trimmed_full_fold(backend, operations, n, budget):
    store = backend.store(cache_size=0)
    sid = f"w{time.perf_counter_ns()}"
    play(store, sid, operations)
    full = reference(store, sid).entries
    for policy in (LastN(n), TinyPages(n), TokenBudget(budget, token_counter=len)):
        expected = [e.message for e in policy.select(full)]
        assert store.messages(sid, trim=policy) == expected


@SETTINGS
@given(operations=ops, every=st.integers(1, 6), cut=st.integers(0, 25))
def test_snapshot_plus_tail_equals_full_fold(backend, operations, every, cut):
    writer = backend.store()
    sid = f"s{time.perf_counter_ns()}"
    play(writer, sid, operations[:cut])
    backend.store(cache_size=0, snapshot_every=every).messages(sid)  # may write a snapshot
    play(writer, sid, operations[cut:])
    cold = backend.store(cache_size=0, snapshot_every=every)
    expected = [e.message for e in reference(writer, sid).entries]
    assert cold.messages(sid) == expected
    assert cold.messages(sid) == expected  # and again, from the snapshot it may have written


@SETTINGS
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from("AB"),
            st.sampled_from(["add", "remove", "clear", "delete", "read"]),
            st.sampled_from(["m1", "m2", None]),
        ),
        max_size=30,
    )
)
def test_two_caching_stores_racing_never_read_stale(backend, steps):
    a, b = backend.store(snapshot_every=3), backend.store(snapshot_every=3)
    truth = backend.store(cache_size=0)
    sid = f"r{time.perf_counter_ns()}"
    for i, (who, op, mid) in enumerate(steps):
        store = a if who == "A" else b
        if op == "add":
            store.append(sid, [HumanMessage(f"{who}{i}", id=mid)])
        elif op == "remove" and mid:
            store.append(sid, [RemoveMessage(id=mid)])
        elif op == "clear":
            store.clear(sid)
        elif op == "delete":
            store.delete(sid)
        expected = [e.message for e in reference(truth, sid).entries]
        assert a.messages(sid) == expected
        assert b.messages(sid) == expected


def test_warm_read_after_one_append_is_one_round_trip_of_only_the_new_event(backend):
    counting = Counting(backend.client())
    reader, writer = backend.store(counting), backend.store()
    writer.append("s", [HumanMessage(str(i)) for i in range(50)])
    assert len(reader.messages("s")) == 50  # cold: fills the cache
    writer.append("s", [AIMessage("49.5")])
    assert len(reader.messages("s")) == 51  # warm (and the tail script is now cached by Redis)
    writer.append("s", [AIMessage("new")])
    counting.calls.clear()
    counting.replies.clear()
    got = reader.messages("s")
    assert [m.content for m in got[-2:]] == ["49.5", "new"] and len(got) == 52
    assert len(counting.calls) == 1 and counting.calls[0][0] == "EVALSHA"
    status, entries = counting.replies[0]
    assert status == b"ok" and len(entries) == 1  # only the new event crossed the wire


def test_cold_read_of_a_long_session_uses_the_snapshot(backend):
    writer = backend.store()
    for start in range(0, 1200, 200):
        writer.append("s", [HumanMessage(str(i)) for i in range(start, start + 200)])
    first = backend.store(cache_size=0, snapshot_every=500)
    assert len(first.messages("s")) == 1200  # folds 1200 events, writes a snapshot
    keys = first.keyspace.session("s")
    raw = backend.raw()
    assert raw.hget(keys.snap, "o").decode() == writer.last_offset("s")
    writer.append("s", [AIMessage("after")])
    counting = Counting(backend.client())
    cold = backend.store(counting, cache_size=0)
    got = cold.messages("s")
    assert len(got) == 1201 and got[-1].content == "after"
    reply = counting.replies[-1]  # the read script: snapshot + a one-event tail
    assert reply[0] == b"ok" and len(reply[3]) == 1


def test_windowed_read_reads_from_the_end(backend):
    writer = backend.store()
    writer.append("s", [HumanMessage(str(i)) for i in range(300)])
    counting = Counting(backend.client())
    store = backend.store(counting, trim=LastN(20))
    assert [m.content for m in store.messages("s")] == [str(i) for i in range(280, 300)]
    counting.calls.clear()  # the first read also ran the first-use check and loaded the script
    assert [m.content for m in store.messages("s")] == [str(i) for i in range(280, 300)]
    assert len(counting.calls) == 1  # one page
    assert len(counting.replies[-1]) == 22  # LastN(20) + 2 spare events, not 300


def test_snapshot_is_never_written_for_a_state_the_log_does_not_hold(backend):
    store = backend.store()
    store.append("s", [HumanMessage("x")])
    projection = store.read("s")
    store.delete("s")
    store.append("s", [HumanMessage("new life")])
    keys = store.keyspace.session("s")
    store.run(store.core._snapshot(keys, projection))  # a late writer with the old state
    assert backend.raw().hget(keys.snap, "o") is None
    assert [m.content for m in backend.store(cache_size=0).messages("s")] == ["new life"]


def test_time_travel_uses_the_snapshot_and_the_log(backend):
    store = backend.store(snapshot_every=5)
    offsets = store.append("s", [HumanMessage(str(i)) for i in range(10)])
    store.messages("s")  # writes a snapshot at offsets[9]
    more = store.append("s", [HumanMessage("10"), RemoveMessage(id="x")])
    cold = backend.store(cache_size=0)
    assert [m.content for m in cold.messages_at("s", offsets[3])] == ["0", "1", "2", "3"]
    assert len(cold.messages_at("s", more[0])) == 11
    assert len(cold.messages_at("s", offsets[9])) == 10


def test_iter_events_pages_through_everything(store):
    offsets = store.append("s", [HumanMessage(str(i)) for i in range(23)])
    assert [o for o, _ in store.iter_events("s", page=5)] == offsets
    assert [o for o, _ in store.iter_events("s", "(" + offsets[20], page=5)] == offsets[21:]


def test_ttl_covers_every_key_and_slides(backend):
    store = backend.store(ttl=100, snapshot_every=1)
    raw = backend.raw()
    store.append("s", [HumanMessage("x")], idempotency_key="k")
    store.messages("s")  # writes the snapshot with the log's TTL
    keys = store.keyspace.session("s")
    ttls = [raw.pttl(k) for k in (keys.log, keys.snap, keys.idem)]
    assert all(99_000 < t <= 100_000 for t in ttls) and max(ttls) - min(ttls) < 1000
    for k in (keys.log, keys.snap, keys.idem):
        raw.pexpire(k, 5_000)
    store.append("s", [HumanMessage("y")])
    assert all(raw.pttl(k) > 99_000 for k in (keys.log, keys.snap, keys.idem))


def test_refresh_ttl_on_read_is_an_option(backend):
    raw = backend.raw()
    plain, refreshing = backend.store(ttl=100), backend.store(ttl=100, refresh_ttl_on_read=True)
    plain.append("s", [HumanMessage("x")])
    keys = plain.keyspace.session("s")
    raw.pexpire(keys.log, 5_000)
    plain.messages("s")
    assert raw.pttl(keys.log) <= 5_000
    refreshing.messages("s")
    assert raw.pttl(keys.log) > 99_000


def test_a_half_expired_session_is_never_observed(backend):
    store = backend.store(snapshot_every=1)
    store.append("s", [HumanMessage("x")])
    store.messages("s")
    keys = store.keyspace.session("s")
    backend.raw().delete(keys.log)  # as if the log expired a moment before its snapshot
    assert backend.store(cache_size=0).messages("s") == []


def test_retention_trims_only_below_the_snapshot_and_replay_says_so(backend):
    store = backend.store(snapshot_every=10, retention=KeepLast(5))
    offsets = store.append("s", [HumanMessage(str(i)) for i in range(30)])
    expected = store.messages("s")  # folds 30 events: snapshot, then trim to the newest 5
    raw = backend.raw()
    keys = store.keyspace.session("s")
    assert raw.xlen(keys.log) == 5
    more = store.append("s", [HumanMessage("30")])
    assert backend.store(cache_size=0).messages("s") == [*expected, HumanMessage("30")]
    assert [o for o, _ in store.events("s")] == [*offsets[25:], *more]
    with pytest.raises(OffsetOutOfRange, match="retention"):
        store.events("s", start=offsets[3])
    with pytest.raises(OffsetOutOfRange):
        backend.store(cache_size=0).messages_at("s", offsets[3])
    assert len(backend.store(cache_size=0).messages_at("s", offsets[29])) == 30


def test_retention_never_trims_above_the_snapshot(backend):
    store = backend.store(snapshot_every=1000, retention=KeepLast(1))
    store.append("s", [HumanMessage(str(i)) for i in range(20)])
    store.messages("s")  # 20 events < snapshot_every: no snapshot, so no trimming
    assert backend.raw().xlen(store.keyspace.session("s").log) == 20


def test_tail_yields_the_events_after_an_offset_and_closes(store):
    offsets = store.append("s", [HumanMessage(str(i)) for i in range(3)])
    events = store.tail("s", after=offsets[0], block=0.05)
    assert [next(events)[0], next(events)[0]] == offsets[1:]
    events.close()
    with pytest.raises(OffsetOutOfRange):
        next(store.tail("s", after="soon"))


def test_keep_newer_than_trims_old_events_but_never_above_the_snapshot(backend):
    store = backend.store(snapshot_every=5, retention=KeepNewerThan(0.005))
    offsets = store.append("s", [HumanMessage(str(i)) for i in range(10)])
    raw = backend.raw()
    deadline = time.monotonic() + 5
    while int(raw.time()[0]) * 1000 + int(raw.time()[1]) // 1000 <= int(offsets[-1].split("-")[0]) + 10:
        assert time.monotonic() < deadline  # the server clock moves on: a bounded poll
    assert len(store.messages("s")) == 10  # snapshot at offsets[-1], then trim everything older than 5 ms
    keys = store.keyspace.session("s")
    assert [i.decode() for i, _ in raw.xrange(keys.log)] == offsets[-1:]
    assert len(backend.store(cache_size=0).messages("s")) == 10
