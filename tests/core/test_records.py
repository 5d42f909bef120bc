"""Full fidelity: every message class comes back equal, of the same class, id=None kept."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    ChatMessage,
    ChatMessageChunk,
    FunctionMessage,
    FunctionMessageChunk,
    HumanMessage,
    HumanMessageChunk,
    SystemMessage,
    SystemMessageChunk,
    ToolMessage,
    ToolMessageChunk,
)

from langchain_streamlog import DecodeError, InvalidMessage
from langchain_streamlog._core.records import from_record, to_record

text = st.text(max_size=12)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.floats(allow_nan=False), text)
json_like = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)),
    max_leaves=6,
)
metadata = st.dictionaries(text, json_like, max_size=3)
blocks = st.lists(
    st.one_of(
        text,
        st.builds(lambda t: {"type": "text", "text": t}, text),
        st.builds(lambda u: {"type": "image_url", "image_url": {"url": "https://x/" + u}}, text),
    ),
    max_size=3,
)
content = st.one_of(text, blocks)
common = {
    "content": content,
    "id": st.one_of(st.none(), text),
    "name": st.one_of(st.none(), text),
    "additional_kwargs": metadata,
    "response_metadata": metadata,
}
tool_calls = st.lists(
    st.builds(
        lambda n, a, i: {"name": n, "args": a, "id": i, "type": "tool_call"},
        text,
        st.dictionaries(text, json_like, max_size=2),
        st.one_of(st.none(), text),
    ),
    max_size=2,
)
invalid_tool_calls = st.lists(
    st.builds(
        lambda n, a, i, e: {"name": n, "args": a, "id": i, "error": e, "type": "invalid_tool_call"},
        st.one_of(st.none(), text),
        st.one_of(st.none(), text),
        st.one_of(st.none(), text),
        st.one_of(st.none(), text),
    ),
    max_size=2,
)
usage = st.one_of(
    st.none(),
    st.builds(
        lambda i, o: {"input_tokens": i, "output_tokens": o, "total_tokens": i + o},
        st.integers(0, 10**6),
        st.integers(0, 10**6),
    ),
)
tool_call_chunks = st.lists(
    st.builds(
        lambda n, a, i, x: {"name": n, "args": a, "id": i, "index": x, "type": "tool_call_chunk"},
        st.one_of(st.none(), text),
        st.one_of(st.none(), text),
        st.one_of(st.none(), text),
        st.one_of(st.none(), st.integers(0, 5)),
    ),
    max_size=2,
)
tool_extra = {"tool_call_id": text, "artifact": json_like, "status": st.sampled_from(["success", "error"])}

messages = st.one_of(
    st.builds(HumanMessage, **common),
    st.builds(HumanMessageChunk, **common),
    st.builds(SystemMessage, **common),
    st.builds(SystemMessageChunk, **common),
    st.builds(
        AIMessage,
        **common,
        tool_calls=tool_calls,
        invalid_tool_calls=invalid_tool_calls,
        usage_metadata=usage,
    ),
    st.builds(AIMessageChunk, **common, tool_call_chunks=tool_call_chunks, usage_metadata=usage),
    st.builds(ToolMessage, **common, **tool_extra),
    st.builds(ToolMessageChunk, **common, **tool_extra),
    st.builds(FunctionMessage, **{**common, "name": text}),
    st.builds(FunctionMessageChunk, **{**common, "name": text}),
    st.builds(ChatMessage, **common, role=text),
    st.builds(ChatMessageChunk, **common, role=text),
)


def round_trip(message):
    return from_record(msgspec.msgpack.decode(msgspec.msgpack.encode(to_record(message))))


@given(messages)
def test_message_comes_back_equal_and_of_the_same_class(message):
    out = round_trip(message)
    assert type(out) is type(message)
    assert out == message
    assert out.id == message.id
    assert out.model_dump() == message.model_dump()
    assert to_record(out) == to_record(message)


@given(messages)
def test_rebuilt_messages_share_no_top_level_containers(message):
    record = to_record(message)
    a, b = from_record(record), from_record(record)
    a.additional_kwargs["touched"] = True
    a.response_metadata["touched"] = True
    assert "touched" not in b.additional_kwargs and "touched" not in b.response_metadata
    assert "touched" not in from_record(record).additional_kwargs


def test_defaults_are_not_stored_and_id_none_stays_none():
    assert to_record(HumanMessage("hi")) == {"type": "human", "content": "hi"}
    out = round_trip(AIMessage("x"))
    assert out.id is None and out.tool_calls == [] and out == AIMessage("x")


def test_from_record_leaves_its_input_alone():
    record = {"type": "ai", "content": "x", "id": "a"}
    from_record(record)
    assert record == {"type": "ai", "content": "x", "id": "a"}


@pytest.mark.parametrize("bad", [{"role": "user", "content": "x"}, "text", None, 3])
def test_non_messages_are_invalid(bad):
    with pytest.raises(InvalidMessage):
        to_record(bad)


@pytest.mark.parametrize("record", [{"type": "robot", "content": "x"}, {"content": "x"}, {"type": 7}])
def test_unknown_record_types_are_decode_errors(record):
    with pytest.raises(DecodeError):
        from_record(record)
