"""The archiver converges: duplicates and any delivery order give the in-order archive."""

from __future__ import annotations

import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_streamlog._workers.archiver import Archiver
from tests.workers.test_indexer import deliveries, histories


def snapshot(archiver):
    files = sorted(p.rsplit("/", 1)[1] for p in archiver.fs.find(archiver.root))
    return {s: archiver.read(s) for s in "ab"}, files


@settings(max_examples=30)
@given(histories, st.data())
def test_duplicates_and_reordering_converge_to_the_in_order_archive(history, data):
    ordered = deliveries(history)
    messy = data.draw(st.permutations(ordered + data.draw(st.lists(st.sampled_from(ordered), max_size=10)))
                      if ordered else st.just([]))  # fmt: skip
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        exact, converged = Archiver(one), Archiver(two)
        for d in ordered:
            exact.handle(d)
        for d in messy:
            converged.handle(d)
        assert snapshot(converged) == snapshot(exact)


def test_erasure_removes_the_archive_and_keeps_it_gone(tmp_path):
    from langchain_streamlog import HistoryCleared, MessagesAppended, SessionDeleted
    from langchain_streamlog._core.groups import Delivery

    archiver = Archiver(str(tmp_path / "archive"))
    hello = MessagesAppended(messages=({"type": "human", "content": "hello"},))
    archiver.handle(Delivery(0, "1-0", "alice", hello))
    archiver.handle(Delivery(0, "2-0", "alice", HistoryCleared()))
    assert [line["kind"] for line in archiver.read("alice")] == ["append", "clear"]
    assert archiver.read("alice")[0]["message"]["content"] == "hello"
    archiver.handle(Delivery(0, "3-0", "alice", SessionDeleted()))
    archiver.handle(Delivery(0, "1-0", "alice", hello))  # a late redelivery of an erased event
    assert archiver.read("alice") == []
    archiver.handle(Delivery(0, "4-0", "alice", hello))  # the session's next life is archived
    assert [line["offset"] for line in archiver.read("alice")] == ["4-0"]
    marks = list((tmp_path / "archive").rglob("*.deleted-*"))
    assert len(marks) == 1 and marks[0].read_bytes() == b""  # neither content nor the session id kept
