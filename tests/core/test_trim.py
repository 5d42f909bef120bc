import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.messages import (
    AIMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    trim_messages,
)
from langchain_core.messages.utils import count_tokens_approximately

from langchain_streamlog import ConfigError, LastN, Projection, TokenBudget
from langchain_streamlog._core.fold import Entry
from langchain_streamlog._core.records import to_record
from tests.strategies import records


def entries(recs):
    return [Entry(f"{i + 1}-0", r) for i, r in enumerate(recs)]


def starts_clean(window):
    """The first message that is not a system message is not a tool result."""
    rest = [e for e in window if e.type != "system"]
    return not rest or rest[0].type != "tool"


def leading(entries):
    """The entries before the first human/AI message."""
    out = []
    for e in entries:
        if e.type not in ("system", "tool"):
            break
        out.append(e)
    return out


@given(st.lists(records, max_size=30), st.integers(0, 35))
def test_last_n_is_a_clean_suffix_of_at_most_n(recs, n):
    es = entries(recs)
    window = LastN(n).select(es)
    assert len(window) <= n
    assert starts_clean(window)
    tail = es[-n:] if n else []
    assert window == [e for e in tail if e in window]  # a subsequence of the last n, in order
    dropped = [e for e in tail if e not in window]
    # Only the tool results before the first human/AI message are ever dropped.
    assert dropped == [e for e in leading(tail) if e.type == "tool"]


def tool_conversation():
    call = AIMessage("", tool_calls=[{"name": "f", "args": {}, "id": "c1", "type": "tool_call"}])
    return [
        SystemMessage("sys"),
        HumanMessage("q1"),
        call,
        ToolMessage("r1", tool_call_id="c1"),
        ToolMessage("r2", tool_call_id="c1"),
        AIMessage("a1"),
    ]


def test_last_n_never_starts_with_orphan_tool_results():
    es = entries([to_record(m) for m in tool_conversation()])
    assert [e.message.content for e in LastN(3).select(es)] == ["a1"]
    assert [e.type for e in LastN(4).select(es)] == ["ai", "tool", "tool", "ai"]


@given(st.integers(1, 200), st.booleans())
def test_token_budget_is_trim_messages_without_orphans(budget, include_system):
    es = entries([to_record(m) for m in tool_conversation()])
    window = TokenBudget(budget, include_system=include_system).select(es)
    expected = trim_messages(
        [e.message for e in es],
        max_tokens=budget,
        token_counter=count_tokens_approximately,
        strategy="last",
        include_system=include_system,
    )
    got = [e.message for e in window]
    assert got == [m for m in expected if m in got]  # trim_messages' choice, in order
    assert starts_clean(window)
    dropped = [m for m in expected if m not in got]
    assert all(m.type == "tool" for m in dropped)


def test_token_budget_uses_a_custom_counter():
    es = entries([to_record(HumanMessage(str(i))) for i in range(10)])
    window = TokenBudget(3, token_counter=len).select(es)
    assert [e.message.content for e in window] == ["7", "8", "9"]


def test_bad_last_n():
    with pytest.raises(ConfigError):
        LastN(-1)


def test_trimming_never_touches_the_projection():
    p = Projection()
    p.apply("1-0", __import__("langchain_streamlog").MessagesAppended(messages=({"type": "human", "content": "x"},)))
    LastN(0).select(p.entries)
    assert len(p) == 1
