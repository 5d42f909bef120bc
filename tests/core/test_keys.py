import collections

import pytest
from hypothesis import given
from hypothesis import strategies as st

from langchain_streamlog import ConfigError, InvalidSessionId, Keyspace
from langchain_streamlog._core.keys import MAX_SESSION_ID_BYTES, key_slot
from langchain_streamlog.testing import even_slots
from tests.strategies import session_ids

SPACE = Keyspace("chat", 16)


def all_keys(space, sid):
    k = space.session(sid)
    return {k.log, k.idem, k.idem_old, k.snap}


@given(session_ids, session_ids)
def test_distinct_sessions_never_share_a_key(a, b):
    if a != b:
        assert not all_keys(SPACE, a) & all_keys(SPACE, b)
        shared = {SPACE.feed(p) for p in range(16)} | {SPACE.sessions(p) for p in range(16)}
        assert not all_keys(SPACE, a) & shared


@given(session_ids)
def test_all_keys_of_a_session_share_its_partition_slot(sid):
    k = SPACE.session(sid)
    slots = {key_slot(key) for key in (k.log, k.idem, k.idem_old, k.snap, k.feed, k.sessions)}
    assert slots == {key_slot(SPACE.feed(k.partition))}
    assert k.partition == SPACE.partition_of(sid)


@given(session_ids)
def test_partition_is_stable_and_in_range(sid):
    assert 0 <= SPACE.partition_of(sid) < 16
    assert Keyspace("other", 16).partition_of(sid) == SPACE.partition_of(sid)


def test_key_slot_matches_redis_reference_values():
    # Values from the Redis Cluster spec and `CLUSTER KEYSLOT` on a real server.
    assert key_slot(b"123456789") == 12739
    assert key_slot(b"foo") == 12182
    assert key_slot(b"{user1000}.following") == key_slot(b"user1000")
    assert key_slot(b"foo{}{bar}") == key_slot(b"foo{}{bar}")  # empty tag: whole key
    assert key_slot(b"foo{{bar}}zap") == key_slot(b"{bar")


@pytest.mark.parametrize("partitions", [8, 16, 32, 64])
@pytest.mark.parametrize("masters", [3, 4, 5, 6])
def test_partitions_spread_within_one_of_the_mean(partitions, masters):
    space = Keyspace("s", partitions)
    ranges = even_slots(masters)  # the split redis-cli --cluster create makes
    counts = collections.Counter()
    for p in range(partitions):
        slot = key_slot(space.feed(p))
        counts[next(m for m, (first, last) in enumerate(ranges) if first <= slot <= last)] += 1
    mean = partitions / masters
    assert all(abs(counts[m] - mean) <= 1 for m in range(masters)), counts


@pytest.mark.parametrize("bad", ["", b"\xff\xfe", "a" * (MAX_SESSION_ID_BYTES + 1), "\ud800", None, 42])
def test_bad_session_ids_are_refused(bad):
    with pytest.raises(InvalidSessionId):
        SPACE.session(bad)


def test_invalid_session_id_is_also_value_error():
    with pytest.raises(ValueError):
        SPACE.session("")


@pytest.mark.parametrize("prefix", ["", ":", "a{b", "a}b"])
def test_bad_prefixes_are_refused(prefix):
    with pytest.raises(ConfigError):
        Keyspace(prefix)


@pytest.mark.parametrize("partitions", [0, -1, 1025, True, 2.0])
def test_bad_partition_counts_are_refused(partitions):
    with pytest.raises(ConfigError):
        Keyspace("s", partitions)


def test_trailing_colon_of_langchain_style_prefix_is_dropped():
    assert Keyspace("chat:").session("u").log == Keyspace("chat").session("u").log


@given(st.sampled_from(["{", "}", "{p0}", "x}{y"]))
def test_braces_in_session_ids_do_not_move_the_slot(sid):
    k = SPACE.session(sid)
    assert key_slot(k.log) == key_slot(k.feed)
