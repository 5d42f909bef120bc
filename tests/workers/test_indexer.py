"""The search indexer converges: duplicates and any delivery order give the in-order index."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_streamlog import HistoryCleared, MessagesAppended, MessagesRemoved, Projection, SessionDeleted
from langchain_streamlog._core.groups import Delivery
from langchain_streamlog._workers.indexer import SearchIndex

words = st.sampled_from(["apple", "banana", "cherry", "date"])
records = st.builds(
    lambda t, w, i: {"type": t, "content": w, **({"id": i} if i else {})},
    st.sampled_from(["human", "ai"]),
    words,
    st.sampled_from([None, "m1", "m2"]),
)
events = st.one_of(
    st.builds(MessagesAppended, messages=st.lists(records, min_size=1, max_size=2).map(tuple)),
    st.builds(MessagesAppended, messages=st.lists(records, min_size=1, max_size=1).map(tuple)),
    st.builds(
        MessagesRemoved, ids=st.lists(st.sampled_from(["m1", "m2"]), min_size=1, max_size=2).map(tuple)
    ),
    st.just(HistoryCleared()),
    st.just(SessionDeleted()),
)
histories = st.lists(st.tuples(st.sampled_from(["a", "b"]), events), max_size=25)


def deliveries(history):
    # One partition: offsets from one increasing sequence, as the feed assigns them.
    return [Delivery(0, f"{1000 + i // 2}-{i % 2}", sid, event) for i, (sid, event) in enumerate(history)]


def state(index):
    return ({s: index.visible(s) for s in "ab"},
            {w: sorted((h.session_id, h.offset) for h in index.search(w, limit=100))
             for w in ["apple", "banana", "cherry", "date"]})  # fmt: skip


@settings(max_examples=60)
@given(histories, st.data())
def test_duplicates_and_reordering_converge_to_the_in_order_index(history, data):
    ordered = deliveries(history)
    exact = SearchIndex()
    for d in ordered:
        exact.handle(d)
    messy = data.draw(st.permutations(ordered + data.draw(st.lists(st.sampled_from(ordered), max_size=10)))
                      if ordered else st.just([]))  # fmt: skip
    converged = SearchIndex()
    for d in messy:
        converged.handle(d)
    assert state(converged) == state(exact)


@settings(max_examples=60)
@given(histories)
def test_the_index_shows_what_the_projection_shows(history):
    index = SearchIndex()
    for d in deliveries(history):
        index.handle(d)
    for sid in "ab":
        folded = Projection().apply_all(
            (d.offset, d.event) for d in deliveries(history) if d.session_id == sid
        )
        assert index.visible(sid) == [(e.offset, e.record) for e in folded.entries]


def test_search_finds_visible_messages_with_session_and_offset():
    index = SearchIndex()
    index.handle(
        Delivery(
            0, "1-0", "alice", MessagesAppended(messages=({"type": "human", "content": "tarts in Belém"},))
        )
    )
    index.handle(
        Delivery(
            0, "2-0", "bob", MessagesAppended(messages=({"type": "ai", "content": "tarts?", "id": "x"},))
        )
    )
    index.handle(Delivery(0, "3-0", "bob", MessagesRemoved(ids=("x",))))
    hits = index.search("tarts")
    assert [(h.session_id, h.offset, h.message.content) for h in hits] == [("alice", "1-0", "tarts in Belém")]
    assert index.search("tarts", session_id="bob") == []
    index.handle(Delivery(0, "4-0", "alice", SessionDeleted()))
    assert index.search("tarts") == [] and index.visible("alice") == []
    rows = index._db.execute("SELECT count(*) FROM messages WHERE session = 'alice'").fetchone()
    assert rows == (0,)  # erased, not merely hidden
