import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from langchain_streamlog import (
    DecodeError,
    HistoryCleared,
    InvalidMessage,
    MessagesAppended,
    SessionDeleted,
    UnknownEventKind,
    UnsupportedSchema,
)
from langchain_streamlog._core.codec import decode, encode
from tests.strategies import events


@given(events)
def test_round_trip(event):
    assert decode(encode(event)) == event


def test_version_one_costs_no_bytes():
    assert b"\xa1v" not in encode(HistoryCleared())
    assert decode(encode(SessionDeleted())).v == 1


def test_unknown_kind_is_named_not_skipped():
    with pytest.raises(UnknownEventKind) as info:
        decode(msgspec.msgpack.encode({"kind": "summarized", "text": "x"}))
    assert info.value.kind == "summarized"


def test_newer_schema_version_is_refused_even_with_changed_fields():
    with pytest.raises(UnsupportedSchema) as info:
        decode(msgspec.msgpack.encode({"kind": "append", "v": 2, "messages": []}))
    assert (info.value.version, info.value.supported) == (2, 1)
    with pytest.raises(UnsupportedSchema):  # a field a v2 writer changed must not mask the version
        decode(msgspec.msgpack.encode({"kind": "append", "v": 3, "messages": "now a string"}))


def test_unknown_fields_from_newer_writers_are_skipped():
    data = msgspec.msgpack.encode({"kind": "clear", "reason": "user asked"})
    assert decode(data) == HistoryCleared()


def test_unencodable_content_is_invalid_message():
    with pytest.raises(InvalidMessage):
        encode(MessagesAppended(messages=({"type": "human", "content": object()},)))


@given(st.binary(max_size=64))
def test_any_bytes_decode_or_raise_decode_error(data):
    try:
        event = decode(data)
    except DecodeError:
        return
    assert decode(encode(event)) == event


@given(events, st.integers(min_value=0, max_value=200))
def test_truncated_payload_raises_decode_error(event, cut):
    data = encode(event)
    cut = cut % len(data)
    with pytest.raises(DecodeError):
        decode(data[:cut])
