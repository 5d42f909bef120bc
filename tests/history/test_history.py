"""The LangChain face: RunnableWithMessageHistory, drop-in constructors, concurrency."""

from __future__ import annotations

import asyncio
import threading
import uuid
import warnings
from typing import Any

import pytest
import redis
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory

from langchain_streamlog import ConfigError, InvalidSessionId, LastN, RedisStreamChatMessageHistory, Streamlog
from tests.conftest import real_server_names


class CountingModel(BaseChatModel):
    """A fake chat model that answers with how many messages it was given."""

    @property
    def _llm_type(self) -> str:
        return "counting"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        text = f"seen {len(messages)}: " + messages[-1].content
        return ChatResult(generations=[ChatGeneration(message=AIMessage(text))])


def chain_for(get_history):
    prompt = ChatPromptTemplate.from_messages([MessagesPlaceholder("history"), ("human", "{q}")])
    with warnings.catch_warnings():  # deprecated in langchain-core 1.6.4, still supported
        warnings.simplefilter("ignore", DeprecationWarning)
        return RunnableWithMessageHistory(
            prompt | CountingModel(), get_history, input_messages_key="q", history_messages_key="history"
        )


def ask(chain, session, q):
    return chain.invoke({"q": q}, config={"configurable": {"session_id": session}}).content


async def aask(chain, session, q):
    return (await chain.ainvoke({"q": q}, config={"configurable": {"session_id": session}})).content


def test_runnable_with_message_history_over_turns_and_sessions(deployment):
    chain = chain_for(deployment.history)
    assert ask(chain, "alice", "hi") == "seen 1: hi"
    assert ask(chain, "bob", "yo") == "seen 1: yo"
    assert ask(chain, "alice", "again") == "seen 3: again"
    assert ask(chain, "alice", "third") == "seen 5: third"
    alice = deployment.history("alice").messages
    assert [m.content for m in alice] == [
        "hi",
        "seen 1: hi",
        "again",
        "seen 3: again",
        "third",
        "seen 5: third",
    ]
    assert [type(m) for m in alice[:2]] == [HumanMessage, AIMessage]
    assert len(deployment.history("bob").messages) == 2


async def test_runnable_with_message_history_async(deployment):
    chain = chain_for(deployment.history)
    assert await aask(chain, "alice", "hi") == "seen 1: hi"
    assert await aask(chain, "alice", "again") == "seen 3: again"
    history = deployment.history("alice")
    assert [m.content for m in await history.aget_messages()] == [
        "hi",
        "seen 1: hi",
        "again",
        "seen 3: again",
    ]
    await history.aclear()
    assert await history.aget_messages() == []
    assert len(await history.aevents()) == 5
    await deployment.aclose()


def test_trimmed_window_is_what_the_model_sees(deployment):
    log = Streamlog(deployment.store.client, key_prefix=deployment.prefix + "w", trim=LastN(2))
    chain = chain_for(log.history)
    for q in ["a", "b", "c"]:
        ask(chain, "s", q)
    assert ask(chain, "s", "d") == "seen 3: d"  # two from the window + the question
    assert len(log.history("s").events()) == 8


def test_history_api_offsets_time_travel_and_delete(deployment):
    h = deployment.history("s")
    offsets = h.append([HumanMessage("q"), AIMessage("a")])
    assert h.last_offset == offsets[-1]
    h.add_messages([HumanMessage("q2")])
    assert [m.content for m in h.messages_at(offsets[0])] == ["q"]
    assert [o for o, _ in h.events(start="(" + offsets[0])][:1] == [offsets[1]]
    h.clear()
    assert h.messages == [] and len(h.events()) == 4
    assert h.delete() is True and h.events() == [] and h.last_offset is None


def test_messages_is_read_only(deployment):
    with pytest.raises(AttributeError):
        deployment.history("s").messages = []


@pytest.mark.parametrize("name", real_server_names())
def test_drop_in_constructors(real_server_by_name, name):
    url = real_server_by_name(name).url
    prefix = f"chat{uuid.uuid4().hex[:8]}:"
    a = RedisStreamChatMessageHistory("user_123", redis_url=url, key_prefix=prefix, ttl=3600)
    a.add_messages([HumanMessage("hello")])
    b = RedisStreamChatMessageHistory("user_123", url, prefix, 3600)  # langchain-redis's positional order
    assert [m.content for m in b.messages] == ["hello"]
    client = redis.Redis.from_url(url, decode_responses=True)  # two peers crash on this
    c = RedisStreamChatMessageHistory("user_123", redis_client=client, key_prefix=prefix)
    assert c.messages == b.messages
    d = RedisStreamChatMessageHistory.from_client(client, "user_123", ttl=60, key_prefix=prefix[:-1])
    d.add_messages([AIMessage("hi")])
    assert [m.content for m in a.messages] == ["hello", "hi"]
    c_async = RedisStreamChatMessageHistory(
        "user_123", url=url, key_prefix=prefix
    )  # langchain-community's url=

    async def read_async():
        try:
            return await c_async.aget_messages()
        finally:
            await c_async.streamlog.aclose()

    assert len(asyncio.run(read_async())) == 2
    assert a.delete()
    for h in (a, b, c_async):
        h.streamlog.close()
    client.close()


def test_bad_constructions_fail_early(deployment):
    with pytest.raises(InvalidSessionId):
        deployment.history("")
    with pytest.raises(ConfigError):
        RedisStreamChatMessageHistory("s", store=deployment, key_prefix="x")
    with pytest.raises(ConfigError):
        Streamlog(deployment.store.client, ttl=-5)


def test_concurrent_threads_append_contiguous_batches(deployment):
    h = deployment.history("busy")
    batches, size = 24, 5

    def writer(w: int) -> None:
        for b in range(batches // 6):
            h.add_messages([HumanMessage(f"{w}.{b}.{i}") for i in range(size)])

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    contents = [m.content for m in h.messages]
    assert len(contents) == batches * size and len(set(contents)) == len(contents)
    for start in range(0, len(contents), size):  # every batch contiguous and in order
        chunk = contents[start : start + size]
        assert [c.rsplit(".", 1)[0] for c in chunk] == [chunk[0].rsplit(".", 1)[0]] * size
        assert [c.rsplit(".", 1)[1] for c in chunk] == [str(i) for i in range(size)]
    offsets = [o for o, _ in h.events()]
    assert offsets == sorted(offsets, key=lambda o: tuple(map(int, o.split("-"))))


async def test_concurrent_tasks_append_contiguous_batches(deployment):
    h = deployment.history("busy-async")
    size = 4
    await asyncio.gather(
        *(h.aadd_messages([HumanMessage(f"{t}.{i}") for i in range(size)]) for t in range(30))
    )
    contents = [m.content for m in await h.aget_messages()]
    assert len(contents) == 30 * size
    for start in range(0, len(contents), size):
        chunk = contents[start : start + size]
        assert {c.split(".")[0] for c in chunk} == {chunk[0].split(".")[0]}
        assert [c.split(".")[1] for c in chunk] == [str(i) for i in range(size)]
    await deployment.aclose()


def test_history_replay_and_tail_sync_and_async(deployment):
    h = deployment.history("replay")
    offsets = h.append([HumanMessage(str(i)) for i in range(7)])
    assert [o for o, _ in h.iter_events(page=3)] == offsets
    events = h.tail(after=offsets[4], block=0.05)
    assert [next(events)[0], next(events)[0]] == offsets[5:]
    events.close()

    async def go():
        got = [o async for o, _ in h.aiter_events("(" + offsets[1], page=2)]
        tail = h.atail(after=offsets[5], block=0.05)
        first = await tail.__anext__()
        await tail.aclose()
        await deployment.aclose()
        return got, first[0]

    got, first = asyncio.run(go())
    assert got == offsets[2:] and first == offsets[6]
