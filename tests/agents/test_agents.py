"""Agent memory: ``create_agent`` with ``StreamlogMemory``, a scripted chat model and a tool, sync and async."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool

from langchain_streamlog import LastN, SearchIndex, Worker
from langchain_streamlog.agents import StreamlogMemory


@tool
def weather(city: str) -> str:
    """The weather in a city."""
    return f"4°C and rain in {city}"


class Scripted(BaseChatModel):
    """Answers from a script and keeps every list of messages it was given."""

    script: list[AIMessage]
    seen: list[list[BaseMessage]]

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Scripted:
        return self

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        self.seen.append(list(messages))
        return ChatResult(generations=[ChatGeneration(message=self.script.pop(0))])


def script() -> list[AIMessage]:
    return [
        AIMessage("", tool_calls=[{"name": "weather", "args": {"city": "Oslo"}, "id": "call-1"}]),
        AIMessage("Cold and wet in Oslo."),
        AIMessage("You asked about Oslo."),
    ]


def check(deployment: Any, model: Scripted, sid: str) -> None:
    stored = deployment.store.messages(sid, trim=None)
    assert [type(m) for m in stored] == [
        HumanMessage,
        AIMessage,
        ToolMessage,
        AIMessage,
        HumanMessage,
        AIMessage,
    ]
    assert [m.content for m in stored][::2] == ["weather in Oslo?", "4°C and rain in Oslo", "what did I ask?"]
    assert stored[1].tool_calls[0]["id"] == "call-1" and stored[2].tool_call_id == "call-1"
    assert len({m.id for m in stored}) == 6  # each message once
    # The second run's model call saw the first run (no checkpointer): its window, LastN(4).
    last_call = model.seen[-1]
    assert [m.content for m in last_call[-2:]] == ["Cold and wet in Oslo.", "what did I ask?"]
    assert len(last_call) <= 4
    index = SearchIndex()
    Worker(deployment.store, f"idx-{sid}", index.handle).run_check()
    assert {hit.session_id for hit in index.search("Oslo")} == {sid}


def test_agent_runs_are_stored_as_a_session_and_the_model_sees_its_window(deployment):
    model = Scripted(script=script(), seen=[])
    agent = create_agent(model, tools=[weather], middleware=[StreamlogMemory(deployment, trim=LastN(4))])
    config = {"configurable": {"session_id": "agent-sync"}}
    first = agent.invoke({"messages": [HumanMessage("weather in Oslo?")]}, config)
    assert first["messages"][-1].content == "Cold and wet in Oslo."
    agent.invoke({"messages": [HumanMessage("what did I ask?")]}, config)
    check(deployment, model, "agent-sync")


def test_agent_memory_async(deployment):
    model = Scripted(script=script(), seen=[])
    agent = create_agent(model, tools=[weather], middleware=[StreamlogMemory(deployment, trim=LastN(4))])
    config = {"configurable": {"thread_id": "agent-async"}}

    async def go() -> None:
        await agent.ainvoke({"messages": [HumanMessage("weather in Oslo?")]}, config)
        await agent.ainvoke({"messages": [HumanMessage("what did I ask?")]}, config)
        await deployment.aclose()

    asyncio.run(go())
    check(deployment, model, "agent-async")


def test_a_run_without_a_session_is_a_config_error(deployment):
    from langchain_streamlog import ConfigError

    agent = create_agent(
        Scripted(script=script(), seen=[]), tools=[weather], middleware=[StreamlogMemory(deployment)]
    )
    with pytest.raises(ConfigError, match="session"):
        agent.invoke({"messages": [HumanMessage("hi")]})


def test_sessions_of_runnable_with_message_history_carry_over_to_the_agent(deployment):
    import warnings

    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
    from langchain_core.runnables.history import RunnableWithMessageHistory

    prompt = ChatPromptTemplate.from_messages([MessagesPlaceholder("history"), ("human", "{question}")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        chat = RunnableWithMessageHistory(
            prompt | FakeListChatModel(responses=["Hi Ada!"]), deployment.history,
            input_messages_key="question", history_messages_key="history",
        )  # fmt: skip
    config = {"configurable": {"session_id": "moved"}}
    chat.invoke({"question": "I am Ada."}, config)
    model = Scripted(script=[AIMessage("You are Ada.")], seen=[])
    agent = create_agent(model, tools=[], middleware=[StreamlogMemory(deployment, trim=LastN(10))])
    agent.invoke({"messages": [HumanMessage("Who am I?")]}, config)
    assert [m.content for m in model.seen[0]] == ["I am Ada.", "Hi Ada!", "Who am I?"]
    assert [m.content for m in deployment.history("moved").messages][-1] == "You are Ada."
