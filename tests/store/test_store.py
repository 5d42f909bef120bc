"""The behavioural suite every backend must pass (fakeredis, each real server; sync, async; RESP2, RESP3)."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from langchain_core.messages import (
    AIMessage,
    ChatMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
)

from langchain_streamlog import (
    ConfigError,
    ConflictError,
    HistoryCleared,
    InvalidMessage,
    LastN,
    MessagesAppended,
    MessagesRemoved,
    OffsetOutOfRange,
    PartitionMismatch,
    SessionDeleted,
    StoreError,
    UnknownEventKind,
)
from langchain_streamlog._core.codec import decode
from langchain_streamlog._core.fold import offset_key
from tests.strategies import session_ids

CONVERSATION = [
    SystemMessage("be brief"),
    HumanMessage("weather?", id="h1"),
    AIMessage(
        "",
        id="a1",
        tool_calls=[{"name": "weather", "args": {"city": "Oslo"}, "id": "c1", "type": "tool_call"}],
        usage_metadata={"input_tokens": 3, "output_tokens": 4, "total_tokens": 7},
        response_metadata={"model": "fake"},
    ),
    ToolMessage("-3C", tool_call_id="c1", artifact={"raw": [1, 2]}, status="success"),
    AIMessage([{"type": "text", "text": "Cold: -3C."}], id="a2"),
    ChatMessage("noted", role="critic"),
]


def test_append_returns_one_increasing_offset_per_message(store):
    offsets = store.append("s", CONVERSATION)
    assert len(offsets) == len(CONVERSATION)
    assert [offset_key(o) for o in offsets] == sorted(offset_key(o) for o in offsets)
    assert len(set(offsets)) == len(offsets)
    assert store.last_offset("s") == offsets[-1]


def test_messages_come_back_equal_and_of_the_same_class(store):
    store.append("s", CONVERSATION)
    got = store.messages("s")
    assert got == CONVERSATION
    assert [type(m) for m in got] == [type(m) for m in CONVERSATION]
    assert got[0].id is None  # no offset or generated id is written into a message


def test_events_are_stored_one_per_message_with_offsets(store):
    offsets = store.append("s", CONVERSATION[:2])
    events = store.events("s")
    assert [o for o, _ in events] == offsets
    assert all(isinstance(e, MessagesAppended) and len(e.messages) == 1 for _, e in events)


def test_empty_session_reads_empty(store):
    assert store.messages("nobody") == []
    assert store.events("nobody") == []
    assert store.last_offset("nobody") is None
    assert store.append("nobody", []) == []


def test_sessions_are_isolated(store):
    store.append("a", [HumanMessage("for a")])
    store.append("b", [HumanMessage("for b")])
    assert [m.content for m in store.messages("a")] == ["for a"]
    assert [m.content for m in store.messages("b")] == ["for b"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=session_ids, b=session_ids)
def test_hostile_session_ids_stay_isolated(backend, a, b):
    store = backend.store(key_prefix=backend.prefix + "h")
    store.delete(a)
    store.delete(b)
    store.append(a, [HumanMessage("A")])
    if a != b:
        store.append(b, [HumanMessage("B")])
        assert [m.content for m in store.messages(b)] == ["B"]
    assert [m.content for m in store.messages(a)] == ["A"]


def test_idempotent_retry_returns_the_original_offsets_and_writes_nothing(store):
    first = store.append("s", CONVERSATION[:3], idempotency_key="k1")
    again = store.append("s", CONVERSATION[:3], idempotency_key="k1")
    assert again == first
    assert len(store.events("s")) == 3
    other = store.append("s", CONVERSATION[:1], idempotency_key="k2")
    assert other != first and len(store.events("s")) == 4


def test_idempotency_keys_are_per_session(store):
    store.append("a", [HumanMessage("x")], idempotency_key="same")
    store.append("b", [HumanMessage("x")], idempotency_key="same")
    assert len(store.events("a")) == len(store.events("b")) == 1


def test_idempotency_memory_is_bounded_but_keeps_the_recent_keys(backend):
    store = backend.store(idempotency_memory=4, idempotency_window=0)  # bounded by count alone
    offsets = {f"k{i}": store.append("s", [HumanMessage(str(i))], idempotency_key=f"k{i}") for i in range(10)}
    for i in range(6, 10):  # the last `memory` keys are always remembered
        assert store.append("s", [HumanMessage(str(i))], idempotency_key=f"k{i}") == offsets[f"k{i}"]
    assert len(store.events("s")) == 10
    keys = store.keyspace.session("s")
    raw = backend.raw()
    assert raw.hlen(keys.idem) + raw.hlen(keys.idem_old) <= 8 + 2  # keys, and each generation's birth


def test_a_key_is_remembered_for_the_window_however_many_appends_come_between(backend):
    # The reproduction of a lost acknowledgement: a retry delayed past 150 other keyed appends
    # of the same session (four writers) still finds its key, with the default settings.
    store = backend.store()
    first = store.append("s", [HumanMessage("once")], idempotency_key="late-retry")
    for i in range(150):
        store.append("s", [HumanMessage(f"other {i}")], idempotency_key=f"w{i % 4}-{i}")
    assert store.append("s", [HumanMessage("once")], idempotency_key="late-retry") == first
    assert [m.content for m in store.messages("s")].count("once") == 1


def test_expected_offsets_are_compared_as_redis_spells_them(store):
    first = store.append("s", [HumanMessage("one")], expected_offset="0")  # "0" is "0-0"
    ms, seq = first[0].split("-")
    if seq == "0":
        second = store.append("s", [HumanMessage("two")], expected_offset=ms)  # "T" is "T-0"
    else:
        second = store.append("s", [HumanMessage("two")], expected_offset=f"000{ms}-{seq}")  # leading zeros
    assert [m.content for m in store.messages("s")] == ["one", "two"] and len(second) == 1
    with pytest.raises(OffsetOutOfRange):
        store.append("s", [HumanMessage("x")], expected_offset="12-ab")
    with pytest.raises(ConfigError):
        store.append("s", [HumanMessage("x")], idempotency_key="\0born")


def test_expected_offset_conflict_writes_nothing(store):
    first = store.append("s", [HumanMessage("one")], expected_offset="0-0")
    with pytest.raises(ConflictError) as info:
        store.append("s", [HumanMessage("two")], expected_offset="0-0")
    assert info.value.actual == first[0] and info.value.expected == "0-0"
    assert len(store.events("s")) == 1
    second = store.append("s", [HumanMessage("two")], expected_offset=first[0])
    assert store.last_offset("s") == second[0]


def test_clear_is_an_event_and_the_log_keeps_everything(store):
    store.append("s", CONVERSATION)
    offset = store.clear("s")
    assert store.messages("s") == []
    events = store.events("s")
    assert len(events) == len(CONVERSATION) + 1 and events[-1] == (offset, HistoryCleared())
    store.append("s", [HumanMessage("after")])
    assert [m.content for m in store.messages("s")] == ["after"]


def test_remove_message_becomes_a_removal_event(store):
    store.append("s", CONVERSATION)
    store.append("s", [RemoveMessage(id="a1"), RemoveMessage(id="h1")])
    assert [m.id for m in store.messages("s")] == [m.id for m in CONVERSATION if m.id not in ("a1", "h1")]
    assert isinstance(store.events("s")[-1][1], MessagesRemoved)
    store.append("s", [RemoveMessage(id="__remove_all__")])  # LangGraph's REMOVE_ALL_MESSAGES
    assert store.messages("s") == [] and isinstance(store.events("s")[-1][1], HistoryCleared)


def test_time_travel_shows_the_state_at_an_offset(store):
    offsets = store.append("s", CONVERSATION[:3])
    store.clear("s")
    assert store.messages_at("s", offsets[0], trim=LastN(100)) == CONVERSATION[:1]
    assert store.messages_at("s", offsets[2], trim=LastN(100)) == CONVERSATION[:3]
    assert store.messages("s") == []


def test_paging_with_exclusive_start(store):
    offsets = store.append("s", [HumanMessage(str(i)) for i in range(7)])
    pages, start = [], "-"
    while page := store.events("s", start=start, count=3):
        pages.append([o for o, _ in page])
        start = "(" + page[-1][0]
    assert pages == [offsets[0:3], offsets[3:6], offsets[6:7]]
    assert [o for o, _ in store.events("s", start=offsets[2], end="(" + offsets[5])] == offsets[2:5]


@pytest.mark.parametrize("bad", ["yesterday", "1-2-3", "", "(", "+1", None])
def test_malformed_offsets_are_refused(store, bad):
    with pytest.raises(OffsetOutOfRange):
        store.events("s", start=bad)


def test_store_trim_policy_is_applied_and_can_be_overridden(backend):
    store = backend.store(trim=LastN(2))
    store.append("s", [HumanMessage(str(i)) for i in range(5)])
    assert [m.content for m in store.messages("s")] == ["3", "4"]
    assert len(store.messages("s", trim=LastN(10))) == 5


def test_ttl_is_set_and_slides_on_every_append(backend):
    store = backend.store(ttl=100)
    raw = backend.raw()
    store.append("s", [HumanMessage("x")], idempotency_key="k")
    keys = store.keyspace.session("s")
    assert 99_000 < raw.pttl(keys.log) <= 100_000
    assert 99_000 < raw.pttl(keys.idem) <= 100_000
    raw.pexpire(keys.log, 5_000)  # as if 95 s had passed
    store.append("s", [HumanMessage("y")])
    assert raw.pttl(keys.log) > 99_000


def test_no_ttl_means_no_expiry(store, backend):
    store.append("s", [HumanMessage("x")])
    assert backend.raw().pttl(store.keyspace.session("s").log) == -1


def test_the_feed_carries_each_event_with_session_and_offset(store, backend):
    offsets = store.append("s", CONVERSATION[:2])
    keys = store.keyspace.session("s")
    feed = backend.raw().xrange(keys.feed)
    assert [f[b"s"] for _, f in feed] == [b"s", b"s"]
    assert [i.decode() for i, _ in feed] == offsets  # the log offset is the feed entry's id
    assert [decode(f[b"e"]) for _, f in feed] == [e for _, e in store.events("s")]
    index = [tuple(x) for x in backend.raw().zrange(keys.sessions, 0, -1, withscores=True)]
    assert index == [(b"s", float(offsets[-1].split("-")[0]))]


def test_delete_erases_every_key_and_leaves_a_tombstone(store, backend):
    store.append("s", [HumanMessage("x")], idempotency_key="k")
    store.append("other", [HumanMessage("keep")])
    assert store.delete("s") is True
    keys = store.keyspace.session("s")
    raw = backend.raw()
    assert raw.exists(keys.log, keys.idem, keys.idem_old) == 0
    assert raw.zscore(keys.sessions, "s") is None
    last = raw.xrevrange(keys.feed, count=1)[0][1]
    assert last[b"s"] == b"s" and decode(last[b"e"]) == SessionDeleted()
    assert store.messages("s") == [] and store.delete("s") is False
    assert [m.content for m in store.messages("other")] == ["keep"]


def test_unknown_event_kind_in_the_log_is_an_error(store, backend):
    store.append("s", [HumanMessage("x")])
    log = store.keyspace.session("s").log
    backend.raw().xadd(log, {"e": msgspec.msgpack.encode({"kind": "summarized", "text": "..."})})
    with pytest.raises(UnknownEventKind):
        store.messages("s")


def test_oversized_and_non_messages_are_refused_before_writing(backend):
    store = backend.store(max_message_bytes=1000)
    with pytest.raises(InvalidMessage):
        store.append("s", [HumanMessage("small"), HumanMessage("x" * 2000)])
    with pytest.raises(InvalidMessage):
        store.append("s", [HumanMessage("ok"), {"role": "user", "content": "dict"}])
    with pytest.raises(InvalidMessage):
        store.append("s", "not a list")
    with pytest.raises(InvalidMessage):
        store.append("s", [HumanMessage("x", additional_kwargs={"f": object()})])
    assert store.events("s") == []


def test_partition_count_mismatch_fails_before_writing(backend):
    backend.store(partitions=16).append("s", [HumanMessage("x")])
    raw = backend.raw()
    before = {k: raw.dump(k) for k in raw.scan_iter(match=backend.prefix + ":*")}
    wrong = backend.store(partitions=8)
    with pytest.raises(PartitionMismatch) as info:
        wrong.append("t", [HumanMessage("y")])
    assert (info.value.configured, info.value.recorded) == (8, 16)
    assert raw.exists(wrong.keyspace.session("t").log) == 0
    assert {k: raw.dump(k) for k in raw.scan_iter(match=backend.prefix + ":*")} == before  # nothing written


def test_survives_script_flush(store, backend):
    store.append("s", [HumanMessage("1")])
    backend.raw().script_flush()
    store.append("s", [HumanMessage("2")])
    assert [m.content for m in store.messages("s")] == ["1", "2"]


def test_works_with_decode_responses_clients(backend):
    store = backend.store(backend.client(decode_responses=True))
    offsets = store.append("s", CONVERSATION, idempotency_key="k")
    assert store.append("s", CONVERSATION, idempotency_key="k") == offsets
    assert store.messages("s") == CONVERSATION
    assert store.last_offset("s") == offsets[-1]
    assert store.delete("s") is True


def test_offsets_are_never_reused_by_a_recreated_session(store):
    old = store.append("s", [HumanMessage("before")])
    store.delete("s")
    new = store.append("s", [HumanMessage("after")])  # even within the same millisecond
    assert offset_key(new[0]) > offset_key(old[0])


def test_a_feed_behind_its_log_fails_the_append_and_writes_nothing(store, backend):

    store.append("s", [HumanMessage("x")])
    keys = store.keyspace.session("s")
    raw = backend.raw()
    raw.xadd(keys.log, {"e": b"\x81\xa4kind\xa5clear"}, id="99999999999999-0")  # a log ahead of its feed
    before = (raw.xlen(keys.log), raw.xlen(keys.feed))
    with pytest.raises(StoreError, match="feed"):
        store.append("s", [HumanMessage("a"), HumanMessage("b")])
    assert (raw.xlen(keys.log), raw.xlen(keys.feed)) == before


def test_an_unreachable_server_is_store_unavailable():
    import socket

    import redis as redis_py
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from langchain_streamlog import StoreUnavailable, StreamStore

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes
    with redis_py.Redis(port=port, retry=Retry(NoBackoff(), 0), socket_connect_timeout=1) as client:
        with pytest.raises(StoreUnavailable) as info:
            StreamStore(client).append("s", [HumanMessage("x")])
    assert isinstance(info.value.__cause__, redis_py.ConnectionError)


def test_durable_append_without_enough_replicas_is_written_and_says_so(backend):
    from langchain_streamlog import NotReplicated

    wanted = backend.replicas + 1  # one more than the master has
    store = backend.store(wait_replicas=wanted, wait_timeout=0.05)
    if backend.name == "fakeredis":  # fakeredis has no WAIT: durable appends need a real server
        with pytest.raises(StoreError, match=r"(?i)wait"):
            store.append("s", [HumanMessage("x")])
        return
    with pytest.raises(NotReplicated) as info:
        store.append("s", [HumanMessage("x")], idempotency_key="k")
    assert (info.value.acknowledged, info.value.wanted) == (backend.replicas, wanted)
    assert [o for o, _ in store.events("s")] == info.value.offsets  # written on the master
    with pytest.raises(NotReplicated) as again:  # a retry waits again and appends nothing
        store.append("s", [HumanMessage("x")], idempotency_key="k")
    assert again.value.offsets == info.value.offsets and len(store.events("s")) == 1
    with pytest.raises(ConfigError):
        backend.store(wait_replicas=-1)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "newer-schema"])
def test_a_damaged_event_in_the_log_is_a_decode_error_and_harms_no_other_session(backend, damage):
    from langchain_streamlog import DecodeError
    from langchain_streamlog._core.codec import encode
    from langchain_streamlog._core.events import MessagesAppended

    store = backend.store(cache_size=0)
    store.append("s", [HumanMessage("fine")])
    store.append("other", [HumanMessage("untouched")])
    good = encode(MessagesAppended(messages=[{"type": "human", "content": "x"}]))
    payload = {
        "garbage": b"\xc1\xff\x00not msgpack",
        "truncated": good[: len(good) // 2],
        "empty": b"",
        "newer-schema": msgspec.msgpack.encode({"kind": "append", "v": 99, "messages": []}),
    }[damage]
    backend.raw().xadd(store.keyspace.session("s").log, {"e": payload})
    with pytest.raises(DecodeError):
        store.messages("s")
    with pytest.raises(DecodeError):
        store.events("s")
    assert [m.content for m in store.messages("other")] == ["untouched"]
    (first,) = store.events("s", count=1)  # the events before the damaged one still read
    assert first[1].messages[0]["content"] == "fine"


def test_drop_deployment_erases_every_key_under_the_prefix_and_nothing_else(store, backend):
    from langchain_streamlog._core.groups import GroupCore

    raw = backend.raw()
    raw.set("someone:else", "keep me")
    for sid in ("a", "b{x}", "c:log:d"):
        store.append(sid, [HumanMessage("hi"), HumanMessage("there")], idempotency_key="k")
    store.clear("a")
    store.read("b{x}")  # a cached projection too
    group = GroupCore(store.keyspace, "indexer", "w1", None)
    store.run(group.ensure_groups())
    store.run(group.heartbeat(0.0))  # the group's membership key
    prefix = store.keyspace.config().removesuffix(b"config")
    assert len(list(raw.scan_iter(match=prefix + b"*"))) >= 5
    assert store.drop_deployment() >= 5
    assert list(raw.scan_iter(match=prefix + b"*")) == []
    space = store.keyspace
    named = [k for sid in ("a", "b{x}", "c:log:d") for k in space.session(sid)[1:]]
    named += [k for p in range(space.partitions) for k in (space.feed(p), space.dead(p), space.sessions(p))]
    named += [space.members("indexer"), space.config()]
    assert sum(raw.exists(k) for k in set(named)) == 0  # by name too, whatever the scan reaches
    assert raw.get("someone:else") == b"keep me"
    assert store.messages("b{x}") == [] and store.last_offset("a") is None  # no stale cache
    assert store.drop_deployment() == 0
