from hypothesis import given
from hypothesis import strategies as st

from langchain_streamlog import HistoryCleared, MessagesAppended, MessagesRemoved, Projection
from langchain_streamlog._core.fold import offset_key
from tests.strategies import weighted_events, with_offsets


def reference(events):
    """The fold written as plainly as possible, to check Projection against."""
    visible = []
    for offset, event in events:
        if isinstance(event, MessagesAppended):
            visible += [(offset, r) for r in event.messages]
        elif isinstance(event, MessagesRemoved):
            visible = [(o, r) for o, r in visible if r.get("id") not in event.ids]
        elif isinstance(event, HistoryCleared):
            visible = []
    return visible


def state(p):
    return [(e.offset, e.record) for e in p.entries], p.last_offset


@given(st.lists(weighted_events, max_size=30))
def test_fold_matches_reference(evs):
    events = with_offsets(evs)
    p = Projection().apply_all(events)
    assert [(e.offset, e.record) for e in p.entries] == reference(events)
    assert p.last_offset == (events[-1][0] if events else "0-0")


@given(st.lists(weighted_events, max_size=25), st.data())
def test_fold_split_at_every_point(evs, data):
    # h11's habit: any split of the input gives the same state as all at once.
    events = with_offsets(evs)
    whole = state(Projection().apply_all(events))
    for cut in range(len(events) + 1):
        p = Projection().apply_all(events[:cut])
        p.apply_all(events[cut:])
        assert state(p) == whole


@given(st.lists(weighted_events, max_size=25), st.integers(0, 25))
def test_refolding_applied_events_changes_nothing(evs, cut):
    events = with_offsets(evs)
    p = Projection().apply_all(events)
    before = state(p)
    p.apply_all(events[: cut % (len(events) + 1)])  # a cache re-reading an overlap
    assert state(p) == before


def test_offsets_order_numerically_not_lexically():
    assert offset_key("999-10") < offset_key("1000-0")
    assert offset_key("5-2") < offset_key("5-10")
    assert offset_key("7") == (7, 0)


def test_clear_then_append_shows_only_later_messages():
    p = Projection().apply_all(
        with_offsets(
            [
                MessagesAppended(messages=({"type": "human", "content": "a"},)),
                HistoryCleared(),
                MessagesAppended(messages=({"type": "ai", "content": "b"},)),
            ]
        )
    )
    assert [m.content for m in p.messages] == ["b"]


def test_removal_hides_every_message_with_the_id():
    p = Projection().apply_all(
        with_offsets(
            [
                MessagesAppended(messages=({"type": "human", "content": "a", "id": "x"},)),
                MessagesAppended(messages=({"type": "ai", "content": "b", "id": "y"},)),
                MessagesRemoved(ids=("x", "nope")),
            ]
        )
    )
    assert [m.id for m in p.messages] == ["y"]
