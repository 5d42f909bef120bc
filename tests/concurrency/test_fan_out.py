"""Concurrency as deployed: thousands of coroutines in one process, on default settings.

Clients streamlog makes wait for a free connection (a blocking pool) instead of failing, so no
call fails because many are in flight; a wait that times out is `PoolExhausted` and sends nothing.
"""

from __future__ import annotations

import asyncio
import operator
import uuid
from typing import Annotated, Any

import pytest
import redis
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send
from typing_extensions import TypedDict

from langchain_streamlog import (
    ConfigError,
    PoolExhausted,
    RedisStreamChatMessageHistory,
    Streamlog,
    StreamStore,
)
from langchain_streamlog.langgraph import AsyncStreamlogSaver
from tests.conftest import real_server_names

NAMES = real_server_names()[:1]


@pytest.fixture
def url(real_server_by_name: Any) -> str:
    return real_server_by_name(NAMES[0]).url


async def chat(log: Streamlog, sid: str, turns: int) -> list[str]:
    history = log.history(sid)
    for t in range(turns):
        await history.aadd_messages([HumanMessage(f"{sid} q{t}"), AIMessage(f"{sid} a{t}")])
        seen = await history.aget_messages()
        assert seen[-1].content == f"{sid} a{t}"
    return [m.content for m in await history.aget_messages()]


def test_a_thousand_concurrent_sessions_on_default_settings_all_succeed_exactly(url: str) -> None:
    log = Streamlog.from_url(url, key_prefix=f"fan{uuid.uuid4().hex[:6]}")
    sids = [f"user-{i}" for i in range(1000)]

    async def go() -> list[Any]:
        try:
            return await asyncio.gather(*(chat(log, sid, 10) for sid in sids), return_exceptions=True)
        finally:
            await log.aclose()

    results = asyncio.run(go())
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == []
    for sid, contents in zip(sids, results, strict=True):
        assert contents == [f"{sid} {k}{t}" for t in range(10) for k in ("q", "a")]
    log.store.drop_deployment()
    log.close()


def test_connection_settings_are_accepted_everywhere_and_kept_apart_from_store_settings(url: str) -> None:
    log = Streamlog.from_url(url, max_connections=500, pool_timeout=3, socket_timeout=7, key_prefix="cs")
    pool = log.store.client.connection_pool
    assert (pool.max_connections, pool.timeout) == (500, 3)
    assert pool.connection_kwargs["socket_timeout"] == 7 and log.settings.key_prefix == "cs"
    log.close()
    history = RedisStreamChatMessageHistory("s", url, max_message_bytes=None, max_connections=8)
    assert history.streamlog.settings.max_message_bytes is None
    assert history.streamlog.store.client.connection_pool.max_connections == 8
    history.streamlog.close()
    with StreamStore.from_url(url, health_check_interval=5, key_prefix="cs") as store:
        assert store.client.connection_pool.connection_kwargs["health_check_interval"] == 5
    with pytest.raises(ConfigError, match="'max_conections'"):
        Streamlog.from_url(url, max_conections=5)
    with pytest.raises(ConfigError, match="'bogus'"):
        RedisStreamChatMessageHistory("s", url, bogus=1)
    with pytest.raises(ConfigError, match="max_connections"):
        Streamlog.from_url(url, max_connections=0).store  # noqa: B018
    with pytest.raises(ConfigError, match="set them on your own client"):
        Streamlog(redis.Redis.from_url(url), max_connections=5)


def test_a_pool_that_stays_busy_raises_pool_exhausted_and_sends_nothing(url: str) -> None:
    log = Streamlog.from_url(url, key_prefix=f"px{uuid.uuid4().hex[:6]}", max_connections=2, pool_timeout=0.3)

    async def go() -> None:
        store = log.astore
        await store.append("s", [HumanMessage("first")])

        async def hold() -> None:  # a blocking read keeps its connection busy
            async for _ in store.tail("s", block=5.0):
                pass

        holders = [asyncio.create_task(hold()) for _ in range(2)]
        await asyncio.sleep(0.1)
        with pytest.raises(PoolExhausted) as info:
            await store.append("s", [HumanMessage("never sent")])
        assert (info.value.max_connections, info.value.timeout) == (2, 0.3)
        assert "all 2 connections" in str(info.value) and "0.3 s" in str(info.value)
        for task in holders:  # a cancelled blocking read gives its connection back
            task.cancel()
        await asyncio.gather(*holders, return_exceptions=True)
        await store.append("s", [HumanMessage("second")])
        assert [m.content for m in await store.messages("s")] == ["first", "second"]
        await log.aclose()

    asyncio.run(go())
    log.store.drop_deployment()
    log.close()


class Fan(TypedDict):
    items: Annotated[list[int], operator.add]


def test_a_thousand_way_send_fan_out_and_two_thousand_concurrent_aput(url: str) -> None:
    def fan(state: Fan) -> list[Send]:
        return [Send("work", {"items": [i]}) for i in range(1000)]

    def work(state: Fan) -> dict[str, Any]:
        return {"items": [state["items"][0] * 2]}

    builder = StateGraph(Fan)
    builder.add_node("work", work)
    builder.add_conditional_edges(START, fan, ["work"])
    builder.add_edge("work", END)

    async def go() -> None:
        async with AsyncStreamlogSaver.from_url(url, key_prefix=f"lg{uuid.uuid4().hex[:6]}") as saver:
            graph = builder.compile(checkpointer=saver)
            config = {"configurable": {"thread_id": "fan"}}
            out = await graph.ainvoke({"items": []}, config, durability="async")
            assert sorted(out["items"]) == [2 * i for i in range(1000)]

            async def put(i: int) -> Any:
                cp = empty_checkpoint()
                cfg = {"configurable": {"thread_id": f"t{i % 50}", "checkpoint_ns": ""}}
                return await saver.aput(cfg, cp, {"source": "input", "step": i}, {})

            done = await asyncio.gather(*(put(i) for i in range(2000)), return_exceptions=True)
            assert [d for d in done if isinstance(d, BaseException)] == []
            listed = [c async for c in saver.alist({"configurable": {"thread_id": "t7"}})]
            assert len(listed) == 40
            await saver.store.drop_deployment()

    asyncio.run(go())
