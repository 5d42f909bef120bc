"""Workers' decisions and flows, driven by hand: no Redis."""

from hypothesis import given
from hypothesis import strategies as st

from langchain_streamlog._core.codec import encode
from langchain_streamlog._core.events import HistoryCleared
from langchain_streamlog._core.groups import Call, Decision, GroupCore, decide
from langchain_streamlog._core.keys import Keyspace
from langchain_streamlog._core.plans import Plan


@given(st.integers(1, 20), st.booleans(), st.integers(1, 20))
def test_decide(attempt, failed, max_deliveries):
    decision = decide(attempt, failed, max_deliveries)
    if not failed:
        assert decision is Decision.ACK
    else:
        assert decision is (Decision.DEAD if attempt >= max_deliveries else Decision.RETRY)


def test_a_poll_acks_only_what_the_handler_finished():
    reader = GroupCore(Keyspace("w", 1), "g", "me", [0], min_idle=5)
    flow = reader.poll()
    claim = next(flow)
    assert isinstance(claim, Plan) and claim.args[0] == b"XAUTOCLAIM" and claim.args[4] == 5000
    read = flow.send(claim.parse([b"0-0", []]))
    assert read.args[0] == b"XREADGROUP"
    entries = [
        [b"1-0", [b"s", b"a", b"e", encode(HistoryCleared())]],
        [b"1-1", [b"s", b"b", b"e", encode(HistoryCleared())]],
    ]
    call = flow.send(read.parse([[b"w:{p0.0}:feed", entries]]))
    assert isinstance(call, Call) and [d.session_id for d in call.args] == ["a", "b"]
    ack = flow.send([None, "RuntimeError: no"])  # the handler returned, then failed
    assert ack.args[0] == b"XACK" and ack.args[3:] == ("1-0",)
    try:
        flow.send(1)
    except StopIteration as stop:
        assert stop.value == 2


@given(
    st.integers(1, 64),
    st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=20, unique=True),
)
def test_shares_cover_every_partition_once_and_differ_by_at_most_one(partitions, names):
    from langchain_streamlog._core.groups import share

    members = sorted(names)
    shares = [share(partitions, members, m) for m in members]
    assert sorted(p for s in shares for p in s) == list(range(partitions))
    assert max(map(len, shares)) - min(map(len, shares)) <= 1
    assert share(partitions, members, "\x00not-a-member") == list(range(partitions))
