"""The worker runtimes on fakeredis and every real server: at-least-once, redelivery, dead letters."""

from __future__ import annotations

import asyncio
import collections

from langchain_core.messages import HumanMessage

from langchain_streamlog import MessagesAppended, SessionDeleted, Streamlog
from langchain_streamlog._workers.runtime import AsyncWorker, Worker


def fill(store, sessions=6, per=3):
    return {
        f"s{i}": store.append(f"s{i}", [HumanMessage(f"{i}.{j}") for j in range(per)])
        for i in range(sessions)
    }


def test_every_event_is_handled_once_and_acknowledged(deployment):
    store = deployment.store
    offsets = fill(store)
    seen = []
    worker = Worker(store, "index", seen.append, min_idle=60)
    assert worker.run_check() == 18
    assert sorted((d.session_id, d.offset) for d in seen) == sorted(
        (s, o) for s, os in offsets.items() for o in os
    )
    assert all(isinstance(d.event, MessagesAppended) and d.attempt == 1 for d in seen)
    assert Worker(store, "index", seen.append, min_idle=0).run_check() == 0  # nothing pending, nothing new
    store.append("s0", [HumanMessage("late")])
    assert worker.run_check() == 1 and seen[-1].event.messages[0]["content"] == "late"


def test_groups_are_independent(deployment):
    store = deployment.store
    fill(store, sessions=2, per=2)
    a, b = [], []
    worker_b = Worker(store, "b", b.append)
    worker_b.ensure_groups()  # before "a" runs: a group only sees what its feed still holds
    assert Worker(store, "a", a.append).run_check() == 4
    assert worker_b.run_check() == 4
    assert [d.offset for d in a] == [d.offset for d in b]


def test_a_failed_event_is_redelivered_to_another_worker(deployment):
    store = deployment.store
    offsets = fill(store, sessions=1, per=2)["s0"]

    def flaky(delivery):
        raise RuntimeError("index unavailable")

    first = Worker(store, "g", flaky, consumer="dies", min_idle=3600)
    assert first.run_check() == 2  # both failed: left pending for "dies"
    done = []
    second = Worker(store, "g", done.append, consumer="rescuer", min_idle=0)
    assert second.run_check() == 2
    assert [d.offset for d in done] == offsets and all(d.attempt == 2 for d in done)
    assert Worker(store, "g", done.append, min_idle=0).run_check() == 0


def test_poison_events_go_to_the_dead_letters_with_the_error(deployment):
    store = deployment.store
    fill(store, sessions=3, per=1)
    attempts = collections.Counter()

    def handler(delivery):
        attempts[delivery.session_id] += 1
        if delivery.session_id == "s1":
            raise ValueError("cannot index this")

    worker = Worker(store, "g", handler, min_idle=0, max_deliveries=3)
    worker.run_check()
    assert attempts == {"s0": 1, "s1": 3, "s2": 1}
    space = store.keyspace
    p = space.session("s1").partition
    raw = store.client
    dead = raw.xrange(space.dead(p))
    assert [(f[b"s"], f[b"g"], f[b"err"]) for _, f in dead] == [
        (b"s1", b"g", b"ValueError: cannot index this")
    ]
    assert raw.xpending(space.feed(p), "g")["pending"] == 0  # acknowledged on the feed
    assert worker.run_check() == 0


def test_erasure_reaches_workers_as_a_tombstone(deployment):
    store = deployment.store
    fill(store, sessions=1, per=1)
    seen = []
    worker = Worker(store, "g", seen.append)
    worker.run_check()
    store.delete("s0")
    assert worker.run_check() == 1
    assert isinstance(seen[-1].event, SessionDeleted) and seen[-1].session_id == "s0"


def test_an_undecodable_feed_entry_is_dead_lettered_not_crashing(deployment):
    store = deployment.store
    fill(store, sessions=1, per=1)
    p = store.keyspace.session("s0").partition
    store.client.xadd(store.keyspace.feed(p), {"s": "s0", "e": b"\xc1garbage"})
    seen = []
    Worker(store, "g", seen.append, min_idle=0, max_deliveries=2).run_check()
    assert len(seen) == 1
    dead = store.client.xrange(store.keyspace.dead(p))
    assert len(dead) == 1 and b"corrupt event payload" in dead[0][1][b"err"]


def test_batch_handler_gets_lists(deployment):
    store = deployment.store
    fill(store, sessions=2, per=3)
    batches = []
    assert Worker(store, "g", batches.append, batch_handler=True, batch=100).run_check() == 6
    assert all(isinstance(b, list) for b in batches) and sum(map(len, batches)) == 6


def test_async_worker_with_async_and_sync_handlers(deployment):
    fill(deployment.store, sessions=3, per=2)

    async def go():
        seen_async, seen_sync = [], []

        async def ahandler(delivery):
            await asyncio.sleep(0)
            seen_async.append((delivery.session_id, delivery.offset))

        second = AsyncWorker(deployment.astore, "gs", seen_sync.append)
        await second.ensure_groups()
        a = await AsyncWorker(deployment.astore, "ga", ahandler).run_check()
        b = await second.run_check()
        await deployment.aclose()
        return a, b, seen_async, seen_sync

    a, b, seen_async, seen_sync = asyncio.run(go())
    assert a == b == 6 and seen_async == [(d.session_id, d.offset) for d in seen_sync]
    assert len(set(seen_async)) == 6  # offsets are unique within a partition, so pair them


def test_feed_trim_is_held_by_the_slowest_group_and_freed_when_it_is_removed(deployment):
    store = deployment.store
    fill(store, sessions=1, per=6)
    space = store.keyspace
    feed = space.feed(space.session("s0").partition)
    raw = store.client
    raw.xgroup_create(feed, "slow", id="0")
    Worker(store, "fast", lambda d: None).run_check()  # fast is done with everything
    assert store.trim_feeds() == 0 and raw.xlen(feed) == 6  # slow has read nothing: nothing may go

    def fail_after_two(delivery, seen=[]):  # noqa: B006 - a counter across calls
        seen.append(delivery)
        if len(seen) > 2:
            raise RuntimeError("slow")

    Worker(store, "slow", fail_after_two, min_idle=3600).run_check()
    assert store.trim_feeds() == 2 and raw.xlen(feed) == 4  # slow's oldest pending holds the rest
    raw.xgroup_destroy(feed, "slow")  # a dead group is removed by hand
    assert store.trim_feeds() == 4 and raw.xlen(feed) == 0
    assert len(store.events("s0")) == 6  # the session log keeps everything


def test_a_feed_nobody_reads_is_bounded(deployment):
    bounded = Streamlog(deployment.store.client, key_prefix=deployment.prefix + "b", partitions=1,
                        feed_max_len=5, feed_trim_every=3).store  # fmt: skip
    for i in range(10):
        bounded.append("s", [HumanMessage(str(i))])
    feed = bounded.keyspace.feed(0)
    assert bounded.client.xlen(feed) <= 5 + 2  # trimmed on every third append
    assert bounded.trim_feeds() >= 0 and bounded.client.xlen(feed) == 5
    assert len(bounded.events("s")) == 10


def test_archiver_worker_archives_every_event_and_forgets_erased_sessions(deployment, tmp_path):
    from langchain_streamlog import Archiver

    store = deployment.store
    offsets = fill(store, sessions=2, per=2)
    archiver = Archiver(str(tmp_path))
    worker = Worker(store, "archive", archiver.handle)
    assert worker.run_check() == 4
    assert [line["offset"] for line in archiver.read("s0")] == offsets["s0"]
    assert archiver.read("s1")[0]["message"]["content"] == "1.0"
    store.delete("s0")
    worker.run_check()
    assert archiver.read("s0") == [] and len(archiver.read("s1")) == 2


def test_async_worker_runs_handlers_concurrently_up_to_its_limit(deployment):
    fill(deployment.store, sessions=1, per=6)

    async def go():
        active, peak = 0, []

        async def handler(delivery):
            nonlocal active
            active += 1
            peak.append(active)
            await asyncio.sleep(0)  # let the other calls of the poll start
            active -= 1

        handled = await AsyncWorker(deployment.astore, "c", handler, concurrency=4).run_check()
        await deployment.aclose()
        return handled, max(peak)

    handled, peak = asyncio.run(go())
    assert handled == 6 and peak == 4


def test_erasure_reaches_the_search_index(deployment):
    from langchain_streamlog import SearchIndex

    store = deployment.store
    store.append("alice", [HumanMessage("custard tarts")])
    store.append("bob", [HumanMessage("tarts too")])
    index = SearchIndex()
    worker = Worker(store, "idx", index.handle)
    worker.run_check()
    assert {h.session_id for h in index.search("tarts")} == {"alice", "bob"}
    store.delete("alice")
    worker.run_check()
    assert [h.session_id for h in index.search("tarts")] == ["bob"]


def wait_until(condition, timeout=15.0):
    """Poll ``condition`` until it holds (bounded); the test asserts the state, not a delay."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)


def test_live_workers_share_the_partitions_evenly(deployment):
    store = deployment.store
    workers = [Worker(store, "share", lambda d: None, consumer=f"w{i}") for i in range(3)]
    for w in workers:
        w.rebalance()
    shares = [set(w.rebalance()) for w in workers]  # everyone has seen everyone
    assert set().union(*shares) == set(range(store.keyspace.partitions))
    assert sum(len(s) for s in shares) == store.keyspace.partitions  # disjoint
    assert max(map(len, shares)) - min(map(len, shares)) <= 1
    workers[1].leave()
    shares = [set(w.rebalance()) for w in (workers[0], workers[2])]
    assert shares[0] | shares[1] == set(range(16)) and not shares[0] & shares[1]
    fixed = Worker(store, "share", lambda d: None, consumer="fixed", partitions=[3])
    assert fixed.rebalance() == [3]  # fixed partitions: never joins the membership
    assert workers[0].rebalance() == sorted(shares[0])


def test_a_crashed_workers_share_passes_to_the_others_after_its_lease(deployment):
    store = deployment.store
    survivor = Worker(store, "lease", lambda d: None, consumer="a")
    crashed = Worker(store, "lease", lambda d: None, consumer="b", lease=0.2)
    survivor.rebalance()
    crashed.rebalance()  # and then never again: as if SIGKILLed
    assert len(survivor.rebalance()) == 8
    wait_until(lambda: len(survivor.rebalance()) == 16)
    assert survivor.reader.members == ["a"]


def test_running_workers_split_the_events_between_them(deployment):
    import threading

    store = deployment.store
    seen: dict[str, list] = {"a": [], "b": []}
    workers = {
        name: Worker(store, "split", seen[name].append, consumer=name, idle_wait=0.01, lease=0.6)
        for name in seen
    }
    threads = [threading.Thread(target=w.run) for w in workers.values()]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: all(len(w.partitions) == 8 for w in workers.values()))
        offsets = fill(store, sessions=40, per=1)
        wait_until(lambda: len(seen["a"]) + len(seen["b"]) >= 40)
    finally:
        for w in workers.values():
            w.stop()
        for t in threads:
            t.join(10)
    handled = sorted(d.offset for d in seen["a"] + seen["b"])
    assert handled == sorted(o for os in offsets.values() for o in os)  # each exactly once
    for name, w in workers.items():
        assert seen[name] and {d.partition for d in seen[name]} <= set(w.partitions)
    probe = Worker(store, "split", lambda d: None, consumer="probe")
    assert probe.rebalance() == list(range(16)) and probe.reader.members == ["probe"]  # both left


def test_a_lease_from_before_the_server_clock_went_back_lasts_one_lease_at_most(deployment):
    import time as _time

    store = deployment.store
    ghost = "crashed-before-the-jump"
    members = store.keyspace.members("g")
    seconds, micros = store.client.time()
    store.client.zadd(members, {ghost: seconds * 1000 + micros // 1000 + 3_600_000})  # "an hour left"
    live = Worker(store, "g", lambda d: None, consumer="live", lease=0.5)
    assert len(live.rebalance()) == store.keyspace.partitions // 2  # the ghost still holds half ...
    deadline = _time.monotonic() + 5
    while len(live.rebalance()) != store.keyspace.partitions:  # ... for one lease, not an hour
        assert _time.monotonic() < deadline
        _time.sleep(0.05)
    live.leave()


def test_dead_workers_consumers_leave_the_group_once_nothing_is_pending(deployment):
    import time as _time

    store = deployment.store
    from langchain_streamlog._core.groups import group_stats

    for i in range(4):
        store.append(f"s{i}", [HumanMessage("x")])
    Worker(store, "g", lambda d: None, consumer="dead").run_check()  # read everything, acked, gone
    stuck = Worker(store, "g", lambda d: (_ for _ in ()).throw(RuntimeError("holds it")), consumer="stuck")
    store.append("s0", [HumanMessage("pending")])
    stuck.run_check()  # fails: the event stays pending on "stuck"
    live = Worker(store, "g", lambda d: None, consumer="live", lease=0.05)
    live.rebalance()
    _time.sleep(0.06)  # both are now idle for longer than a lease (server time)
    live.rebalance()
    assert live.forget_dead() >= 1
    feeds = [store.keyspace.feed(p) for p in range(store.keyspace.partitions)]
    listed = [c for feed in feeds if store.client.exists(feed) for c in store.client.xinfo_consumers(feed, "g")]
    consumers = {c["name"].decode() if isinstance(c["name"], bytes) else c["name"] for c in listed}
    assert "dead" not in consumers and "stuck" in consumers  # pending work keeps its consumer
    assert sum(r["consumers"] for r in store.run(group_stats(store.keyspace)) if r["group"] == "g") == len(listed)
    live.leave()


def test_stop_before_run_returns_at_once_and_run_restores_the_signal_handlers(deployment):
    import signal
    import threading as _threading

    store = deployment.store
    worker = Worker(store, "g", lambda d: None, idle_wait=0.05)
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    worker.stop()  # before run: no AttributeError, and run returns at once
    worker.run()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    timer = _threading.Timer(0.2, worker.stop)  # and it can run again, until stopped
    timer.start()
    worker.run()
    timer.join()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_an_async_worker_stopped_before_run_returns(deployment):
    async def go() -> None:
        worker = AsyncWorker(deployment.astore, "g", lambda d: None, idle_wait=0.05)
        worker.stop()
        try:
            await asyncio.wait_for(worker.run(), timeout=10)
        finally:
            await deployment.aclose()

    asyncio.run(go())
