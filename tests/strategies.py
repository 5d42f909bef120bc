"""Hypothesis strategies shared by the core and store tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from langchain_streamlog import HistoryCleared, MessagesAppended, MessagesRemoved

# Session ids that try hard to break key naming: braces, globs, separators, unicode.
session_ids = (
    st.one_of(
        st.text(min_size=1, max_size=40),
        st.text(alphabet="{}:*?[]\\ \x00-_ab", min_size=1, max_size=12),
        st.sampled_from(["{", "}", "{}", "}{", "{p0}", "a{b}c", ":", "::log:x", "*", " ", "log:", "idem:x"]),
        st.text(min_size=100, max_size=170),
    )
    .filter(lambda s: 0 < len(s.encode("utf-8", "surrogatepass")) <= 512)
    .filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s))
)

message_ids = st.sampled_from(["m1", "m2", "m3", "m4", "m5"])
# Records as _records.to_record makes them: a type, content, maybe an id.
records = st.builds(
    lambda t, c, i: {"type": t, "content": c, **({"id": i} if i else {})},
    st.sampled_from(["human", "ai", "system", "tool"]),
    st.text(max_size=20),
    st.one_of(st.none(), message_ids),
).map(lambda r: {**r, "tool_call_id": "t"} if r["type"] == "tool" else r)

events = st.one_of(
    st.builds(MessagesAppended, messages=st.lists(records, min_size=1, max_size=3).map(tuple)),
    st.builds(MessagesRemoved, ids=st.lists(message_ids, min_size=1, max_size=2).map(tuple)),
    st.just(HistoryCleared()),
)
# Appends dominate, as in real sessions.
weighted_events = st.one_of(
    st.builds(MessagesAppended, messages=st.lists(records, min_size=1, max_size=1).map(tuple)),
    st.builds(MessagesAppended, messages=st.lists(records, min_size=1, max_size=1).map(tuple)),
    events,
)


def with_offsets(evs: list[Any], start_ms: int = 1_700_000_000_000) -> list[tuple[str, Any]]:
    """Give events increasing stream offsets, several per millisecond."""
    return [(f"{start_ms + i // 3}-{i % 3}", e) for i, e in enumerate(evs)]
