"""Export, import and migration from the peer libraries (``langchain_streamlog.transfer``)."""

from __future__ import annotations

import io
import json
import random
import time
import uuid
import warnings

import fakeredis
import pytest
import redis
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
    message_to_dict,
    messages_from_dict,
)

from langchain_streamlog import ConfigError, DecodeError, KeepLast, StreamStore, UnknownEventKind
from langchain_streamlog.transfer import (
    dump_jsonl,
    export_events,
    import_events,
    iter_sessions,
    migrate,
    read_langchain_redis,
)
from tests.conftest import real_server_names


def conversation(tag: str) -> list[BaseMessage]:
    """Every kind of message a tool-using agent writes, with ids and metadata."""
    return [
        SystemMessage("be brief", id=f"{tag}-sys"),
        HumanMessage("weather in Paris?", id=f"{tag}-h1", additional_kwargs={"lang": "en"}),
        AIMessage(
            "",
            id=f"{tag}-a1",
            tool_calls=[{"name": "weather", "args": {"city": "Paris"}, "id": "call-1"}],
            response_metadata={"model_name": "m", "finish_reason": "tool_calls"},
            usage_metadata={"input_tokens": 10, "output_tokens": 3, "total_tokens": 13},
        ),
        ToolMessage("18C, sunny", tool_call_id="call-1", id=f"{tag}-t1", status="success"),
        AIMessage([{"type": "text", "text": "18C and sunny."}], id=f"{tag}-a2"),
    ]


def fill(store: StreamStore) -> dict[str, list[BaseMessage]]:
    """Sessions with appends, removals, a clear and odd ids; returns what each shows."""
    store.append("plain", [HumanMessage("hi"), AIMessage("hello")])
    store.append("tools", conversation("t"))
    store.append("tools", [RemoveMessage(id="t-h1")])
    store.clear("tools")
    store.append("tools", [HumanMessage("again", id="t-h2")])
    store.append("we{ird}:*id ✓", conversation("w"))
    store.append("we{ird}:*id ✓", [RemoveMessage(id="__remove_all__"), HumanMessage("after")])
    return {sid: store.messages(sid) for sid in ("plain", "tools", "we{ird}:*id ✓")}


def by_session(store: StreamStore, with_offsets: bool = False) -> dict[str, list]:
    out: dict[str, list] = {}
    for line in export_events(store):
        out.setdefault(line["session"], []).append(
            (line["offset"], line["event"]) if with_offsets else line["event"]
        )
    return out


def other_store(deployment, **settings) -> StreamStore:
    return StreamStore(deployment.store.client, key_prefix=f"t{uuid.uuid4().hex[:10]}", **settings)


def jsonl(store: StreamStore, sessions: list[str] | None = None) -> list[bytes]:
    out = io.BytesIO()
    dump_jsonl(store, out, sessions)
    return out.getvalue().splitlines(keepends=True)


# -- export and import ---------------------------------------------------------------


def test_export_then_import_gives_the_same_events_and_messages(deployment):
    source = deployment.store
    shown = fill(source)
    lines = jsonl(source)
    assert [json.loads(line) for line in lines] == list(export_events(source))
    text = io.StringIO()
    assert dump_jsonl(source, text) == len(lines)
    assert text.getvalue().encode().splitlines(keepends=True) == lines
    kinds = {json.loads(line)["event"]["kind"] for line in lines}
    assert kinds == {"append", "remove", "clear"}

    target = other_store(deployment)
    seen: list[int] = []
    result = import_events(target, lines, progress=seen.append)
    assert (result.sessions, result.events, result.skipped) == (3, len(lines), 0)
    assert seen[-1] == len(lines)
    assert by_session(target) == by_session(source)
    for sid, messages in shown.items():
        assert target.messages(sid) == messages
        assert [type(m) for m in target.messages(sid)] == [type(m) for m in messages]


def test_importing_twice_changes_nothing(deployment):
    source = deployment.store
    fill(source)
    lines = jsonl(source)
    target = other_store(deployment)
    import_events(target, lines)
    before = by_session(target, with_offsets=True)
    again = import_events(target, (line.decode() for line in lines))  # str lines work too
    assert (again.events, again.skipped) == (0, len(lines))
    assert by_session(target, with_offsets=True) == before


def test_an_interrupted_import_resumes_without_duplicates(deployment):
    """A session of several batches: a first run that stopped part way, then the whole file."""
    source = deployment.store
    source.append("long", [HumanMessage(f"m{i}") for i in range(1200)])
    source.append("short", [HumanMessage("s")])
    lines = jsonl(source)
    long_lines = [line for line in lines if b'"long"' in line]
    target = other_store(deployment)
    first = import_events(target, long_lines[:700])
    assert first.events == 700
    second = import_events(target, lines)
    assert (second.events, second.skipped) == (len(lines) - 700, 700)
    assert by_session(target) == by_session(source)
    assert [m.content for m in target.messages("long")] == [f"m{i}" for i in range(1200)]


def test_a_session_listed_again_later_imports_only_what_is_new(deployment):
    """What an export of a live deployment may hold: a session, then the same session grown."""
    source = deployment.store
    source.append("s", [HumanMessage("one"), HumanMessage("two")])
    early = jsonl(source)
    source.append("s", [HumanMessage("three")])
    target = other_store(deployment)
    result = import_events(target, early + jsonl(source))
    assert (result.sessions, result.events, result.skipped) == (2, 3, 2)
    assert [m.content for m in target.messages("s")] == ["one", "two", "three"]


def test_a_garbled_line_is_named_and_nothing_of_its_session_is_written(deployment):
    source = deployment.store
    source.append("a", [HumanMessage("a1"), HumanMessage("a2")])
    source.append("b", [HumanMessage("b1"), HumanMessage("b2"), HumanMessage("b3")])
    lines = jsonl(source, ["a", "b"])
    first_b = next(i for i, line in enumerate(lines) if b'"b"' in line)
    truncated = [*lines]
    truncated[first_b + 1] = lines[first_b + 1][:25]  # cut off mid-line
    target = other_store(deployment)
    with pytest.raises(DecodeError, match=f"line {first_b + 2}:") as caught:
        import_events(target, truncated)
    assert caught.value.line == first_b + 2
    assert [e for _, e in target.events("a")] == [e for _, e in source.events("a")]  # before it
    assert target.events("b") == []

    unknown = [line.replace(b'"kind":"append"', b'"kind":"summarise"') for line in lines]
    with pytest.raises(UnknownEventKind, match="line 2:") as caught_kind:
        import_events(other_store(deployment), [b"\n", *unknown])
    assert (caught_kind.value.kind, caught_kind.value.line) == ("summarise", 2)


def test_a_repaired_file_imports_after_a_garbled_one(deployment):
    source = deployment.store
    source.append("a", [HumanMessage("a1")])
    source.append("b", [HumanMessage("b1"), HumanMessage("b2")])
    lines = jsonl(source)
    target = other_store(deployment)
    broken = [*lines[:-1], lines[-1][:-10]]
    with pytest.raises(DecodeError):
        import_events(target, broken)
    result = import_events(target, lines)
    assert result.events + result.skipped == len(lines)
    assert by_session(target) == by_session(source)


def test_export_reads_a_page_at_a_time(deployment):
    store = deployment.store
    store.append("big", [HumanMessage(f"m{i}") for i in range(1100)])
    reads = []
    original = store.events

    def counting(*args, **kwargs):
        reads.append(kwargs.get("count"))
        return original(*args, **kwargs)

    store.events = counting
    try:
        lines = export_events(store, ["big"])
        next(lines)
        assert reads == [500]  # the first page only, not the whole log
        assert sum(1 for _ in lines) == 1099
        assert reads == [500, 500, 500]
    finally:
        del store.events


def test_a_retention_trimmed_session_exports_what_its_snapshot_keeps(deployment):
    prefix = f"r{uuid.uuid4().hex[:10]}"
    source = StreamStore(
        deployment.store.client, key_prefix=prefix, retention=KeepLast(2), snapshot_every=3, cache_size=0
    )
    source.append("s", conversation("r"))
    source.append("s", [RemoveMessage(id="r-h1"), HumanMessage("last", id="r-h9")])
    shown = source.messages("s")  # folds 7 events: writes a snapshot and trims the log
    assert len(source.events("s")) < 7
    target = other_store(deployment)
    import_events(target, jsonl(source))
    assert target.messages("s") == shown


def test_sessions_are_listed_once_each_a_page_at_a_time_ties_included(deployment):
    store = StreamStore(deployment.store.client, key_prefix=f"i{uuid.uuid4().hex[:10]}", partitions=1)
    ids = [f"s{i}" for i in range(9)]
    for sid in ids:
        store.append(sid, [HumanMessage(sid)])
    index = store.keyspace.sessions(0)
    store.client.zadd(index, dict.fromkeys(ids[2:7], 5))  # five sessions active in the same ms
    listed = list(iter_sessions(store, page=2))
    assert sorted(listed) == sorted(ids)

    walk = iter_sessions(store, page=2)
    first = next(walk)
    time.sleep(0.002)  # a later millisecond than every other session's
    store.append(first, [HumanMessage("again")])  # active after it was listed: listed again, later
    rest = list(walk)
    assert sorted([first, *rest]) == sorted([*ids, first])
    assert rest[-1] == first


# -- migration ----------------------------------------------------------------------


def community_history(session_id: str, url: str, prefix: str):
    with warnings.catch_warnings():  # langchain-community warns it is being sunset
        warnings.simplefilter("ignore", DeprecationWarning)
        from langchain_community.chat_message_histories import RedisChatMessageHistory

        return RedisChatMessageHistory(session_id, url=url, key_prefix=prefix)


@pytest.fixture
def source_server(real_server_by_name):
    server = real_server_by_name(real_server_names()[0])
    client = redis.Redis.from_url(server.url)
    yield server.url, client
    client.close()


def migrated_tool_calls(messages: list[BaseMessage]) -> list:
    return [call for m in messages if isinstance(m, AIMessage) for call in m.tool_calls]


def test_community_histories_migrate_with_full_fidelity(deployment, source_server):
    url, source = source_server
    prefix = f"c{uuid.uuid4().hex[:8]}:"
    written = {"alpha": conversation("a"), "beta:{x}": [HumanMessage("one"), AIMessage("two", id="b2")]}
    for sid, messages in written.items():
        community_history(sid, url, prefix).add_messages(messages)
    as_community_reads = {sid: community_history(sid, url, prefix).messages for sid in written}

    result = migrate(deployment.store, source, "community", key_prefix=prefix)
    assert (result.sessions, result.messages, result.skipped_sessions) == (2, 7, 0)
    for sid, messages in written.items():
        migrated = deployment.store.messages(sid)
        assert migrated == messages == as_community_reads[sid]
        assert [type(m) for m in migrated] == [type(m) for m in messages]
        assert [m.id for m in migrated] == [m.id for m in messages]
    assert migrated_tool_calls(deployment.store.messages("alpha")) == [
        {"name": "weather", "args": {"city": "Paris"}, "id": "call-1", "type": "tool_call"}
    ]

    again = migrate(deployment.store, source, "community", key_prefix=prefix)
    assert (again.sessions, again.messages, again.skipped_sessions) == (2, 0, 2)
    assert deployment.store.messages("alpha") == written["alpha"]

    # The old application went on writing: a later run copies only what is new.
    community_history("alpha", url, prefix).add_messages([HumanMessage("more", id="a-h3")])
    grown = migrate(deployment.store, source, "community", key_prefix=prefix, sessions=["alpha"])
    assert (grown.messages, grown.skipped_sessions) == (1, 0)
    assert deployment.store.messages("alpha") == [*written["alpha"], HumanMessage("more", id="a-h3")]


def test_a_dry_run_reads_and_writes_nothing(source_server):
    url, source = source_server
    prefix = f"c{uuid.uuid4().hex[:8]}:"
    community_history("s", url, prefix).add_messages([HumanMessage("x"), AIMessage("y")])
    target_prefix = f"d{uuid.uuid4().hex[:8]}"
    target = StreamStore(source, key_prefix=target_prefix)
    result = migrate(target, source, "community", key_prefix=prefix, dry_run=True)
    assert (result.sessions, result.messages) == (1, 2)
    assert list(source.scan_iter(match=f"{target_prefix}*")) == []


def test_a_target_session_holding_other_messages_is_left_alone(deployment, source_server):
    url, source = source_server
    prefix = f"c{uuid.uuid4().hex[:8]}:"
    community_history("s", url, prefix).add_messages([HumanMessage("old")])
    deployment.store.append("s", [HumanMessage("new, written before the migration")])
    result = migrate(deployment.store, source, "community", key_prefix=prefix)
    assert (result.messages, result.diverged) == (0, ("s",))
    assert [m.content for m in deployment.store.messages("s")] == ["new, written before the migration"]


def memorystore_add(
    client: redis.Redis, session_id: str, message: BaseMessage, ttl: int | None = None
) -> None:
    """``MemorystoreChatMessageHistory.add_message``, as langchain-google-memorystore-redis 0.3.0
    writes it (src/langchain_google_memorystore_redis/chat_message_history.py): the key is the
    session id, RPUSH of ``json.dumps(message_to_dict(message))``, EXPIRE when ttl is set.
    """
    client.rpush(session_id, json.dumps(message_to_dict(message)))
    if ttl:
        client.expire(session_id, ttl)


def test_memorystore_histories_migrate(deployment, source_server):
    url, source = source_server
    prefix = f"m{uuid.uuid4().hex[:8]}:"
    written = {prefix + "one": conversation("m"), prefix + "two": [HumanMessage("hey", id="m2")]}
    for sid, messages in written.items():
        for message in messages:
            memorystore_add(source, sid, message, ttl=3600)
    with pytest.raises(ConfigError, match="bare session ids"):
        migrate(deployment.store, source, "memorystore")
    result = migrate(deployment.store, source, "memorystore", key_prefix=prefix)
    assert (result.sessions, result.messages) == (2, 6)
    for sid, messages in written.items():  # the session id is the key, prefix included
        assert deployment.store.messages(sid) == messages
    with redis.Redis.from_url(
        url, decode_responses=True
    ) as decoding:  # a client that decodes replies reads the same
        again = migrate(deployment.store, decoding, "memorystore", key_prefix=prefix)
    assert (again.sessions, again.messages, again.skipped_sessions) == (2, 0, 2)
    listed = migrate(deployment.store, source, "memorystore", sessions=[*written, prefix + "none"])
    assert (listed.sessions, listed.messages, listed.skipped_sessions) == (3, 0, 3)


def ulid(ms: int, n: int) -> str:
    """A ULID-shaped id (48-bit time, 80 bits here from a counter), in Crockford's base32."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    value = (ms << 80) | n
    return "".join(alphabet[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def langchain_redis_add(client, key_prefix: str, session_id: str, message: BaseMessage, n: int) -> None:
    """``RedisChatMessageHistory.add_message`` as langchain-redis 0.2.6 writes it
    (langchain_redis/chat_message_history.py, ``_build_message_entry`` then RedisVL's
    ``SearchIndex.load`` of a JSON document): ``<prefix><session>:<ULID>``.
    """
    timestamp = time.time()
    message_id = ulid(int(timestamp * 1000), n)
    doc = {
        "type": message.type,
        "message_id": message_id,
        "data": {
            "content": message.content,
            "additional_kwargs": message.additional_kwargs,
            "type": message.type,
        },
        "session_id": session_id,
        "timestamp": timestamp,
    }
    if isinstance(message, ToolMessage):
        doc["data"]["tool_call_id"] = message.tool_call_id
        doc["data"]["status"] = message.status
    client.execute_command("JSON.SET", f"{key_prefix}{session_id}:{message_id}", "$", json.dumps(doc))


def kept(message: BaseMessage) -> set[str]:
    """The message fields langchain-redis 0.2.6 stores."""
    fields = {"content", "additional_kwargs", "type"}
    return fields | {"tool_call_id", "status"} if isinstance(message, ToolMessage) else fields


def test_langchain_redis_histories_migrate_in_timestamp_order(deployment):
    pytest.importorskip("jsonpath_ng", reason="fakeredis implements JSON commands with jsonpath-ng")
    source = fakeredis.FakeRedis()
    written = {"u1": conversation("l"), "u1:b": [HumanMessage("other", additional_kwargs={"k": 1})]}
    n = 0
    for sid, messages in written.items():
        for message in messages:
            n += 1
            langchain_redis_add(source, "chat:", sid, message, n)
            time.sleep(0.002)
    source.set("chat:not-a-message", "x")  # other keys under the prefix are not messages
    # What langchain-redis reads back: content, additional_kwargs, type, tool_call_id, status.
    expected = {
        sid: messages_from_dict(
            [
                {
                    "type": m.type,
                    "data": {k: v for k, v in message_to_dict(m)["data"].items() if k in kept(m)},
                }
                for m in ms
            ]
        )
        for sid, ms in written.items()
    }
    result = migrate(deployment.store, source, "langchain-redis")
    assert (result.sessions, result.messages) == (2, 6)
    for sid in written:
        assert deployment.store.messages(sid) == expected[sid]
    only = migrate(deployment.store, source, "langchain-redis", sessions=["u1"])
    assert (only.sessions, only.messages, only.skipped_sessions) == (1, 0, 1)


def test_langchain_redis_reads_a_session_in_timestamp_order_whatever_the_key_order():
    pytest.importorskip("jsonpath_ng", reason="fakeredis implements JSON commands with jsonpath-ng")
    source = fakeredis.FakeRedis(decode_responses=True)
    contents = [f"m{i}" for i in range(30)]
    order = list(range(30))
    random.Random(7).shuffle(order)
    base = 1_700_000_000.0
    for i in order:  # written out of order; the timestamps say the real order
        doc = {
            "type": "human",
            "message_id": ulid(int((base + i) * 1000), i),
            "data": {"content": contents[i], "additional_kwargs": {}, "type": "human"},
            "session_id": "s",
            "timestamp": base + i,
        }
        source.execute_command("JSON.SET", f"chat:s:{doc['message_id']}", "$", json.dumps(doc))
    [(sid, messages)] = list(read_langchain_redis(source))
    assert sid == "s"
    assert [m.content for m in messages] == contents
