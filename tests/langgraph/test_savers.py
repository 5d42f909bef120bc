"""StreamlogSaver and AsyncStreamlogSaver: LangGraph checkpointers on streamlog's engine.

The conformance suite (test_checkpoint_conformance.py) checks the storage contract; this
module checks real graphs (turns, threads, history, time travel, subgraph namespaces),
what lands in Redis (one round trip per write, blobs once per version, TTL, erasure),
and streamlog's additions (offsets, copies, the indexes), on fakeredis, on every real
server with RESP2 and RESP3 clients, and on the test cluster.
"""

from __future__ import annotations

import asyncio
import operator
import time
import uuid
from collections.abc import Iterator
from typing import Annotated, Any

import fakeredis
import pytest
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Command, interrupt
from typing_extensions import TypedDict

from langchain_streamlog import ConfigError, ConflictError, InvalidSessionId, StoreError, Streamlog
from langchain_streamlog._core.keys import Keyspace, key_slot
from langchain_streamlog.langgraph import AsyncStreamlogSaver, StreamlogSaver
from langchain_streamlog.langgraph._core import scripts as _scripts
from langchain_streamlog.langgraph._core.checkpoints import CheckpointCore
from langchain_streamlog.langgraph._core.names import ThreadKeys, _take
from tests.conftest import MISSING, real_server_names, topologies

# -- backends ------------------------------------------------------------------------

REAL = [n for n in real_server_names() if n not in MISSING]
BACKENDS = ["fakeredis", *[f"{n}/resp{p}" for n in REAL for p in (2, 3)], *MISSING, *topologies("cluster")]


def _endpoint(request: pytest.FixtureRequest, backend: str) -> tuple[str, int, int]:
    """(host, port, protocol) of a real backend."""
    if backend == "cluster":
        cluster = request.getfixturevalue("redis_cluster")
        return cluster.host, cluster.port, 2
    name, _, protocol = backend.partition("/resp")
    server = request.getfixturevalue("real_server_by_name")(name)
    return server.host, server.port, int(protocol or 2)


@pytest.fixture(params=BACKENDS)
def client(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A sync client of each backend (real servers with RESP2 and RESP3)."""
    if request.param == "fakeredis":
        made: Any = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    else:
        host, port, protocol = _endpoint(request, request.param)
        if request.param == "cluster":
            made = redis.cluster.RedisCluster(host=host, port=port)
        else:
            made = redis.Redis(host=host, port=port, protocol=protocol)
    yield made
    made.close()


@pytest.fixture(params=[b for b in BACKENDS if b != "fakeredis"])
async def aclient(request: pytest.FixtureRequest) -> Any:
    """An asyncio client of each real backend (RESP2 and RESP3) and the cluster."""
    host, port, protocol = _endpoint(request, request.param)
    if request.param == "cluster":
        made: Any = redis.asyncio.cluster.RedisCluster(host=host, port=port)
    else:
        made = redis.asyncio.Redis(host=host, port=port, protocol=protocol)
    yield made
    await made.aclose()


@pytest.fixture(params=["fakeredis", REAL[0] if REAL else next(iter(MISSING))])
def one_client(request: pytest.FixtureRequest) -> Iterator[Any]:
    """fakeredis and the preferred real server: for checks of what lands in Redis."""
    if request.param == "fakeredis":
        made: Any = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    else:
        host, port, _ = _endpoint(request, request.param)
        made = redis.Redis(host=host, port=port)
    yield made
    made.close()


def prefix() -> str:
    return f"g{uuid.uuid4().hex[:10]}"


def keys_of(client: Any, pattern: bytes) -> set[bytes]:
    """Every key matching ``pattern`` (on a cluster: on every master)."""
    if isinstance(client, redis.cluster.RedisCluster):
        return set(client.scan_iter(match=pattern, target_nodes=redis.cluster.RedisCluster.PRIMARIES))
    return set(client.scan_iter(match=pattern))


# -- a small graph: a counter, messages, a value set once ----------------------------


class State(TypedDict, total=False):
    count: Annotated[int, operator.add]
    messages: Annotated[list[AnyMessage], add_messages]
    static: str


def setup(state: State) -> dict[str, Any]:
    return {} if state.get("static") else {"static": "set once"}


def respond(state: State) -> dict[str, Any]:
    return {"count": 1, "messages": [AIMessage(f"reply {state.get('count', 0) + 1}")]}


def build(saver: Any, *, subgraph: bool = False) -> Any:
    graph = StateGraph(State)
    graph.add_node("setup", setup)
    graph.add_node("respond", respond)
    graph.add_edge(START, "setup")
    graph.add_edge("setup", "respond")
    if subgraph:
        inner = StateGraph(State)
        inner.add_node("inner", lambda s: {"count": 10})
        inner.add_edge(START, "inner")
        inner.add_edge("inner", END)
        graph.add_node("sub", inner.compile())
        graph.add_edge("respond", "sub")
        graph.add_edge("sub", END)
    else:
        graph.add_edge("respond", END)
    return graph.compile(checkpointer=saver)


def cfg(thread: str, **extra: Any) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread, **extra}}


def turn(graph: Any, thread: str, text: str) -> dict[str, Any]:
    """One turn; the run id goes into the checkpoints' metadata, as LangGraph's server does."""
    config = {**cfg(thread), "metadata": {"run_id": f"run-{uuid.uuid4().hex[:8]}"}}
    result: dict[str, Any] = graph.invoke({"messages": [HumanMessage(text)]}, config)
    return result


THREAD_A, THREAD_B = "thread-A", "thread B {x} é"


# -- graphs ------------------------------------------------------------------------


def test_a_graph_runs_turns_on_two_threads_and_time_travels(client: Any) -> None:
    p = prefix()
    graph = build(StreamlogSaver(client, key_prefix=p))
    for i in range(3):
        state = turn(graph, THREAD_A, f"a{i}")
    assert state["count"] == 3 and len(state["messages"]) == 6 and state["static"] == "set once"
    for i in range(2):
        state = turn(graph, THREAD_B, f"b{i}")
    assert state["count"] == 2 and [m.content for m in state["messages"]][-1] == "reply 2"

    # A second saver on the same deployment (another process, say) sees the same state.
    again = build(StreamlogSaver(client, key_prefix=p))
    snapshot = again.get_state(cfg(THREAD_A))
    assert snapshot.values["count"] == 3 and len(snapshot.values["messages"]) == 6
    assert again.get_state(cfg(THREAD_B)).values["count"] == 2

    # History, newest first: 3 turns x 4 checkpoints (input, start, setup, respond).
    history = list(again.get_state_history(cfg(THREAD_A)))
    assert [s.metadata["step"] for s in history] == list(range(10, -2, -1))
    ids = [s.config["configurable"]["checkpoint_id"] for s in history]
    assert ids == sorted(ids, reverse=True)
    assert [s.values.get("count", 0) for s in history][:3] == [3, 2, 2]

    # Time travel: fork from the end of turn 1 and run another turn on that branch.
    after_one = next(s for s in history if s.values.get("count") == 1 and not s.next)
    forked = again.invoke({"messages": [HumanMessage("fork")]}, after_one.config)
    assert forked["count"] == 2 and [m.content for m in forked["messages"]] == [
        "a0", "reply 1", "fork", "reply 2",
    ]  # fmt: skip
    # The original branch is intact: the fork wrote new channel versions, never over old ones.
    old_head = again.get_state(history[0].config)
    assert old_head.values["count"] == 3 and len(old_head.values["messages"]) == 6
    assert again.get_state(cfg(THREAD_A)).values["count"] == 2  # the thread's head is the fork's end
    assert again.get_state(cfg(THREAD_B)).values["count"] == 2  # and B never saw any of it


async def test_an_async_graph_runs_on_the_async_saver(aclient: Any) -> None:
    saver = AsyncStreamlogSaver(aclient, key_prefix=prefix())
    graph = build(saver)
    for i in range(2):
        state = await graph.ainvoke({"messages": [HumanMessage(f"q{i}")]}, cfg(THREAD_A))
    assert state["count"] == 2 and len(state["messages"]) == 4
    history = [s async for s in graph.aget_state_history(cfg(THREAD_A))]
    assert len(history) == 8 and history[0].values["count"] == 2
    after_one = next(s for s in history if s.values.get("count") == 1 and not s.next)
    forked = await graph.ainvoke({"messages": [HumanMessage("again")]}, after_one.config)
    assert forked["count"] == 2 and [m.content for m in forked["messages"]][2:] == ["again", "reply 2"]
    assert (await graph.aget_state(history[0].config)).values["count"] == 2
    await saver.adelete_thread(THREAD_A)
    assert (await graph.aget_state(cfg(THREAD_A))).values == {}


def test_subgraph_namespaces_and_delete_erases_every_key(client: Any) -> None:
    p = prefix()
    saver = StreamlogSaver(client, key_prefix=p)
    graph = build(saver, subgraph=True)
    for thread in (THREAD_A, THREAD_B):
        assert turn(graph, thread, "hi")["count"] == 12  # respond +1, then the subgraph's state (+10)
        assert turn(graph, thread, "again")["count"] == 36
    namespaces = {t.config["configurable"]["checkpoint_ns"] for t in saver.list(cfg(THREAD_A))}
    assert "" in namespaces and any(ns.startswith("sub:") for ns in namespaces)
    root_only = list(saver.list(cfg(THREAD_A, checkpoint_ns="")))
    assert root_only and all(t.config["configurable"]["checkpoint_ns"] == "" for t in root_only)
    sub_ns = next(ns for ns in namespaces if ns)
    assert saver.get_tuple(cfg(THREAD_A, checkpoint_ns=sub_ns)) is not None

    keys = ThreadKeys(*saver.keyspace.thread(THREAD_A))
    before = keys_of(client, p.encode() + b"*")
    assert {keys.checkpoints, keys.blobs, keys.writes, keys.ids} <= before
    saver.delete_thread(THREAD_A)
    after = keys_of(client, p.encode() + b"*")
    gone = before - after
    assert gone >= {keys.checkpoints, keys.blobs, keys.writes, keys.ids}
    assert not any(k.endswith(THREAD_A.encode()) for k in after)
    # The partition's indexes forget the thread too; thread B is untouched.
    assert client.zscore(keys.threads, THREAD_A) is None
    assert not [m for m in client.zrange(keys.runs, 0, -1) if THREAD_A.encode() in m]
    assert saver.get_tuple(cfg(THREAD_A)) is None and list(saver.list(cfg(THREAD_A))) == []
    assert saver.get_tuple(cfg(THREAD_B)).checkpoint["channel_values"]["count"] == 36
    assert any(t.config["configurable"]["checkpoint_ns"] for t in saver.list(cfg(THREAD_B)))


class Fan(TypedDict, total=False):
    seen: Annotated[list[str], operator.add]
    answer: str


def test_parallel_tasks_interrupts_and_resume(one_client: Any) -> None:
    """Two tasks write at once (concurrent put_writes), then a human-in-the-loop interrupt:
    the interrupt and the resume value are pending writes, and the run resumes from them."""
    saver = StreamlogSaver(one_client, key_prefix=prefix())
    graph = StateGraph(Fan)
    graph.add_node("left", lambda s: {"seen": ["left"]})
    graph.add_node("right", lambda s: {"seen": ["right"]})
    graph.add_node("ask", lambda s: {"answer": interrupt("which one?")})
    graph.add_edge(START, "left")
    graph.add_edge(START, "right")
    graph.add_edge(["left", "right"], "ask")
    graph.add_edge("ask", END)
    app = graph.compile(checkpointer=saver)
    paused = app.invoke({"seen": []}, cfg(THREAD_A))
    assert sorted(paused["seen"]) == ["left", "right"]
    assert [i.value for i in paused["__interrupt__"]] == ["which one?"]
    state = app.get_state(cfg(THREAD_A))
    assert state.next == ("ask",) and state.tasks[0].interrupts[0].value == "which one?"
    # A new saver (another process) resumes the run.
    again = graph.compile(checkpointer=StreamlogSaver(one_client, key_prefix=saver.keyspace.prefix))
    done = again.invoke(Command(resume="left"), cfg(THREAD_A))
    assert done["answer"] == "left" and sorted(done["seen"]) == ["left", "right"]
    assert again.get_state(cfg(THREAD_A)).next == ()


# -- what lands in Redis -------------------------------------------------------------


class Counting:
    """A client wrapper that records every command sent."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(args)
        return self.inner.execute_command(*args, **kwargs)


def checkpoint(values: dict[str, Any], versions: dict[str, Any]) -> Any:
    cp = empty_checkpoint()
    cp["channel_values"], cp["channel_versions"] = values, versions
    return cp


def test_every_write_and_read_of_one_checkpoint_is_one_round_trip(one_client: Any) -> None:
    counting = Counting(one_client)
    saver = StreamlogSaver(counting, key_prefix=prefix())

    def work(thread: str) -> tuple[Any, list[Any]]:
        values, versions = {"a": 1}, {"a": saver.get_next_version(None, None)}
        stored = saver.put(cfg(thread, checkpoint_ns=""), checkpoint(values, versions), {"step": 0}, versions)
        saver.put_writes(stored, [("a", 2), ("b", 3)], "task-1", "path")
        return saver.get_tuple(cfg(thread)), list(saver.list(cfg(thread)))

    work("warm-up")  # first use: the store's server check, and each script loaded once (EVAL)
    counting.calls.clear()
    found, listed = work("t")
    assert [c[0] for c in counting.calls] == ["EVALSHA"] * 4
    assert found is not None and found.pending_writes == [("task-1", "a", 2), ("task-1", "b", 3)]
    assert listed[0].checkpoint["channel_values"] == {"a": 1}


def test_blobs_are_stored_once_per_channel_version(one_client: Any) -> None:
    saver = StreamlogSaver(one_client, key_prefix=prefix())
    graph = build(saver)
    for i in range(4):
        turn(graph, THREAD_A, f"q{i}")
    keys = ThreadKeys(*saver.keyspace.thread(THREAD_A))
    per_channel: dict[str, int] = {}
    for name in one_client.hkeys(keys.blobs):
        ns, pos = _take(name, 0)  # enc(ns) enc(channel) version
        channel, _ = _take(name, pos)
        assert ns == b""
        per_channel[channel.decode()] = per_channel.get(channel.decode(), 0) + 1
    assert per_channel["static"] == 1  # written by the first turn only
    assert per_channel["count"] == 4  # one new version per turn
    assert per_channel["messages"] == 8  # input and reply, each turn
    # 16 checkpoints share those blobs: the stream holds no channel value.
    assert one_client.xlen(keys.checkpoints) == 16


def test_ttl_is_set_on_every_key_of_the_thread(one_client: Any) -> None:
    p = prefix()
    saver = StreamlogSaver(one_client, key_prefix=p, ttl=60)
    graph = build(saver)
    turn(graph, THREAD_A, "hi")
    keys = ThreadKeys(*saver.keyspace.thread(THREAD_A))
    for key in (keys.checkpoints, keys.blobs, keys.writes, keys.write_keys, keys.ids):
        assert 55_000 < one_client.pttl(key) <= 60_000, key
    deadline = one_client.zscore(keys.threads, THREAD_A)
    assert deadline is not None and deadline > time.time() * 1000
    # Without a ttl nothing expires.
    forever = StreamlogSaver(one_client, key_prefix=p + "x")
    turn(build(forever), THREAD_A, "hi")
    assert one_client.pttl(ThreadKeys(*forever.keyspace.thread(THREAD_A)).checkpoints) == -1


def test_expired_threads_leave_the_partition_indexes(one_client: Any) -> None:
    saver = StreamlogSaver(one_client, key_prefix=prefix(), partitions=1, ttl=0.05)
    graph = build(saver)
    turn(graph, "old", "hi")
    keys = ThreadKeys(*saver.keyspace.thread("old"))
    assert one_client.zscore(keys.threads, "old") is not None and one_client.zcard(keys.runs) == 2
    time.sleep(0.2)
    turn(graph, "new", "hi")  # any later write in the partition forgets expired threads
    assert one_client.zscore(keys.threads, "old") is None
    assert {m for m in one_client.zrange(keys.runs, 0, -1) if b"old" in m} == set()
    assert one_client.zscore(keys.threads, "new") is not None


def test_keys_of_a_thread_share_one_slot_whatever_its_id() -> None:
    keyspace = Keyspace("s", 16)
    for tid in ["a", "{p0}", "x}{y", "é" * 100, "sub:{1}|x"]:
        keys = ThreadKeys(*keyspace.thread(tid))
        assert len({key_slot(k) for k in keys[1:]}) == 1
        assert keys.partition == keyspace.partition_of(tid)
    with pytest.raises(InvalidSessionId):
        keyspace.thread("")


# -- streamlog's additions ------------------------------------------------------------


def test_offsets_name_checkpoints_and_time_travel_by_offset(one_client: Any) -> None:
    saver = StreamlogSaver(one_client, key_prefix=prefix())
    graph = build(saver)
    turn(graph, THREAD_A, "one")
    first = saver.offset_of(cfg(THREAD_A))
    turn(graph, THREAD_A, "two")
    history = list(saver.list(cfg(THREAD_A, checkpoint_ns="")))
    offsets = [saver.offset_of(t.config) for t in history]
    assert offsets[0] == saver.offset_of(cfg(THREAD_A)) and first in offsets
    ms = [tuple(map(int, o.split("-"))) for o in offsets if o]
    assert ms == sorted(ms, reverse=True) and len(set(ms)) == len(ms)  # newest first, distinct
    # The state as of an offset: the newest checkpoint at or before it.
    at_first = saver.get_tuple_at(cfg(THREAD_A), first)
    assert at_first is not None and at_first.checkpoint["channel_values"]["count"] == 1
    assert saver.get_tuple_at(cfg(THREAD_A), "0-1") is None
    latest = saver.get_tuple_at(cfg(THREAD_A), "99999999999999-0")
    assert latest is not None and latest.config == history[0].config
    assert saver.offset_of(cfg(THREAD_A, checkpoint_id="nope")) is None
    assert saver.offset_of(cfg("no such thread")) is None


def test_copy_thread_keeps_offsets_and_refuses_a_target_with_checkpoints(one_client: Any) -> None:
    saver = StreamlogSaver(one_client, key_prefix=prefix())
    graph = build(saver)
    turn(graph, THREAD_A, "hi")
    turn(graph, THREAD_B, "hi")
    saver.copy_thread(THREAD_A, "copy")
    source = list(saver.list(cfg(THREAD_A)))
    copied = list(saver.list(cfg("copy")))
    assert [t.checkpoint for t in copied] == [t.checkpoint for t in source]
    assert [saver.offset_of(t.config) for t in copied] == [saver.offset_of(t.config) for t in source]
    assert graph.get_state(cfg("copy")).values == graph.get_state(cfg(THREAD_A)).values
    turn(graph, "copy", "more")  # a copy is a thread of its own
    assert graph.get_state(cfg(THREAD_A)).values["count"] == 1
    with pytest.raises(ConflictError):
        saver.copy_thread(THREAD_A, THREAD_B)
    assert graph.get_state(cfg(THREAD_B)).values["count"] == 1


def test_delete_for_runs_and_prune_on_a_graph(one_client: Any) -> None:
    saver = StreamlogSaver(one_client, key_prefix=prefix())
    graph = build(saver)
    turn(graph, THREAD_A, "one")
    turn(graph, THREAD_A, "two")
    turn(graph, THREAD_B, "one")
    runs = [t.metadata["run_id"] for t in saver.list(cfg(THREAD_A))]
    last_run = runs[0]
    saver.delete_for_runs([last_run])
    left = list(saver.list(cfg(THREAD_A)))
    assert len(left) == 4 and last_run not in {t.metadata["run_id"] for t in left}
    assert graph.get_state(cfg(THREAD_A)).values["count"] == 1  # the head moved back
    assert len(list(saver.list(cfg(THREAD_B)))) == 4
    saver.prune([THREAD_B], strategy="keep_latest")
    (only,) = saver.list(cfg(THREAD_B))
    assert only.checkpoint["channel_values"]["count"] == 1 and only.checkpoint["channel_values"]["static"]
    keys = ThreadKeys(*saver.keyspace.thread(THREAD_B))
    assert one_client.hlen(keys.blobs) == len(only.checkpoint["channel_values"])  # the rest were freed
    with pytest.raises(ConfigError):
        saver.prune([THREAD_B], strategy="most")


def test_list_without_a_config_lists_every_thread(one_client: Any) -> None:
    saver = StreamlogSaver(one_client, key_prefix=prefix())
    graph = build(saver)
    turn(graph, THREAD_A, "hi")
    turn(graph, THREAD_B, "hi")
    listed = list(saver.list(None))
    assert {t.config["configurable"]["thread_id"] for t in listed} == {THREAD_A, THREAD_B}
    assert len(listed) == 8
    assert len(list(saver.list(None, limit=5))) == 5
    assert len(list(saver.list(None, filter={"source": "input"}))) == 2


def test_settings_come_from_a_store_or_a_streamlog_and_must_agree(one_client: Any) -> None:
    p = prefix()
    log = Streamlog(one_client, key_prefix=p, ttl=30)
    saver = StreamlogSaver(log)
    assert saver.keyspace == log.store.keyspace and saver.ttl == 30
    assert StreamlogSaver(log.store, ttl=5).ttl == 5
    assert StreamlogSaver(log.store, key_prefix=p + ":").keyspace == log.store.keyspace
    with pytest.raises(ConfigError):
        StreamlogSaver(log.store, key_prefix="other")
    with pytest.raises(ConfigError):
        StreamlogSaver(log.store, partitions=3)
    with pytest.raises(ConfigError):
        StreamlogSaver(one_client, ttl=0)
    turn(build(saver), THREAD_A, "hi")
    assert log.store.messages(THREAD_A) == []  # chat sessions and graph threads never mix


def test_with_allowlist_gives_the_copy_its_own_serializer(one_client: Any) -> None:
    # A strict msgpack serializer: compiling a graph derives one allowing the state's types.
    strict = JsonPlusSerializer(allowed_msgpack_modules=None)
    saver = StreamlogSaver(one_client, key_prefix=prefix(), serde=strict)
    clone = saver.with_allowlist([("tests", "langgraph", "test_savers", "State")])
    assert clone is not saver and clone.serde is not saver.serde
    assert clone._core.serde is clone.serde and saver._core.serde is saver.serde
    assert clone._core is not saver._core and isinstance(clone._core, CheckpointCore)
    assert clone._core.keyspace == saver._core.keyspace and clone.store is saver.store
    graph = build(saver)
    assert turn(graph, THREAD_A, "hi")["count"] == 1 and turn(graph, THREAD_A, "hi")["count"] == 2


def test_a_decode_responses_client_works(request: pytest.FixtureRequest) -> None:
    if not REAL:
        pytest.skip("no real server")
    host, port, _ = _endpoint(request, REAL[0])
    with redis.Redis(host=host, port=port, decode_responses=True) as decoding:
        graph = build(StreamlogSaver(decoding, key_prefix=prefix()))
        assert turn(graph, THREAD_A, "hi")["count"] == 1
        assert graph.get_state(cfg(THREAD_A)).values["count"] == 1


async def test_the_async_saver_bridges_sync_calls_from_other_threads_only(aclient: Any) -> None:
    saver = AsyncStreamlogSaver(aclient, key_prefix=prefix())
    await build(saver).ainvoke({"messages": [HumanMessage("hi")]}, cfg(THREAD_A))
    with pytest.raises(asyncio.InvalidStateError):
        saver.get_tuple(cfg(THREAD_A))
    found = await asyncio.to_thread(saver.get_tuple, cfg(THREAD_A))
    assert found is not None and found.checkpoint["channel_values"]["count"] == 1
    listed = await asyncio.to_thread(lambda: list(saver.list(cfg(THREAD_A))))
    assert len(listed) == 4
    assert await saver.aoffset_of(cfg(THREAD_A)) == await asyncio.to_thread(saver.offset_of, cfg(THREAD_A))


async def test_the_async_saver_on_a_streamlog_uses_its_store_per_loop(aclient: Any) -> None:
    log = Streamlog(async_client=aclient, key_prefix=prefix(), ttl=30)
    saver = AsyncStreamlogSaver(log)
    assert saver.keyspace == log.keyspace and saver.ttl == 30 and saver.store is log.astore
    state = await build(saver).ainvoke({"messages": [HumanMessage("hi")]}, cfg(THREAD_A))
    assert state["count"] == 1
    keys = ThreadKeys(*saver.keyspace.thread(THREAD_A))
    assert 0 < await aclient.pttl(keys.checkpoints) <= 30_000
    with pytest.raises(ConfigError):
        AsyncStreamlogSaver(log, key_prefix="other")


def test_the_sync_saver_serves_async_graphs_too(one_client: Any) -> None:
    saver = StreamlogSaver(one_client, key_prefix=prefix())
    graph = build(saver)

    async def go() -> int:
        state = await graph.ainvoke({"messages": [HumanMessage("hi")]}, cfg(THREAD_A))
        assert len([t async for t in saver.alist(cfg(THREAD_A))]) == 4
        return int(state["count"])

    assert asyncio.run(go()) == 1


def test_thread_ids_that_are_not_text(one_client: Any) -> None:
    saver = StreamlogSaver(one_client, key_prefix=prefix())
    graph = build(saver)
    assert graph.invoke({"messages": [HumanMessage("hi")]}, {"configurable": {"thread_id": 7}})["count"] == 1
    assert saver.get_tuple(cfg("7")) is not None
    with pytest.raises(ConfigError):
        saver.get_tuple({"configurable": {}})


# -- least privilege -------------------------------------------------------------------


def every_checkpoint_command(client: Any, prefix: str) -> None:
    """Drive every checkpoint script and command once (for least-privilege checks)."""
    saver = StreamlogSaver(client, key_prefix=prefix, ttl=60)
    graph = build(saver, subgraph=True)
    turn(graph, "a", "hi")  # ckpt_put, ckpt_writes, ckpt_get
    turn(graph, "a", "again")
    history = list(saver.list(cfg("a")))  # ckpt_list
    offset = saver.offset_of(cfg("a"))  # HGET
    assert offset is not None and saver.get_tuple_at(cfg("a"), offset) is not None
    assert list(saver.list(None, limit=1))  # ZRANGE of the thread index
    saver.copy_thread("a", "b")  # ckpt_dump, ckpt_load
    saver.delete_for_runs([history[0].metadata["run_id"]])  # ckpt_run_threads, ckpt_sweep
    saver.prune(["b"], strategy="keep_latest")  # ckpt_sweep
    saver.delete_thread("a")  # ckpt_delete
    assert saver.get_tuple(cfg("a")) is None and len(list(saver.list(cfg("b", checkpoint_ns="")))) == 1


CHECKPOINT_SCRIPTS = [
    s for name, s in vars(_scripts).items() if name.startswith("CKPT_")
]


@pytest.mark.parametrize("name", REAL or list(MISSING))
def test_the_documented_acl_runs_the_checkpointer_and_hdel_is_needed(
    real_server_by_name: Any, name: str
) -> None:
    """docs/security.md's least-privilege user runs the checkpointer; without HDEL it cannot."""
    from tests.reliability.test_security import COMMANDS, as_user, quiet, refusals, set_user

    assert "hdel" in COMMANDS
    server = real_server_by_name(name)
    with server.client() as admin:
        grants, settings = quiet(admin)
        for with_hdel in (True, False):
            p, user = prefix(), f"ckpt{uuid.uuid4().hex[:10]}"
            granted = tuple(c for c in COMMANDS if with_hdel or c != "hdel")
            set_user(admin, user, granted + grants, (p,))
            admin.script_flush()  # so every script goes through EVALSHA, NOSCRIPT, then EVAL
            try:
                with as_user(server, user, **settings) as acl_client:
                    if with_hdel:
                        every_checkpoint_command(acl_client, p)
                        assert all(admin.script_exists(*(s.sha for s in CHECKPOINT_SCRIPTS)))
                        assert refusals(admin, user) == []
                    else:
                        with pytest.raises(StoreError):
                            every_checkpoint_command(acl_client, p)
                        assert ("command", "hdel") in refusals(admin, user)
            finally:
                admin.execute_command("ACL", "DELUSER", user)


class Recording(redis.Redis):
    """A client that keeps every command it sends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[tuple[Any, ...]] = []

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent.append(args)
        return super().execute_command(*args, **options)


def test_every_checkpoint_command_touches_one_slot(request: pytest.FixtureRequest) -> None:
    """The server names each command's keys: every command's keys share one slot, ours."""
    if not REAL:
        pytest.skip("no real server")
    host, port, _ = _endpoint(request, REAL[0])
    cluster = request.getfixturevalue("redis_cluster")
    client = Recording(host=host, port=port)
    try:
        every_checkpoint_command(client, prefix())
        multi = 0
        with redis.Redis(host=host, port=port) as plain, cluster.nodes[0].client() as node:
            for args in client.sent:
                try:
                    keys = plain.execute_command(b"COMMAND", b"GETKEYS", *args)
                except redis.ResponseError:
                    keys = []  # a command without keys
                multi += len(keys) > 1
                assert len({key_slot(k) for k in keys}) <= 1, args
                for k in keys:
                    assert node.execute_command("CLUSTER", "KEYSLOT", k) == key_slot(k)
        sent = {a[1] for a in client.sent if a[0] == "EVALSHA"}
    finally:
        client.close()
    assert multi > 0 and {s.sha for s in CHECKPOINT_SCRIPTS} <= sent
