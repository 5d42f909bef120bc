"""Flows are driven by hand here: no Redis at all, which is the point of the core."""

import pytest
from langchain_core.messages import HumanMessage

from langchain_streamlog import ConfigError, PartitionMismatch, UnsupportedServer
from langchain_streamlog._core.keys import Keyspace
from langchain_streamlog._core.plans import Plan
from langchain_streamlog._core.settings import StoreSettings
from langchain_streamlog._core.store import EvictionRiskWarning, StoreCore


def drive(flow, replies):
    """Answer each plan with the next canned reply; return (result, plans sent)."""
    sent = []
    try:
        plan = next(flow)
        while True:
            sent.append(plan)
            reply = replies.pop(0)
            plan = flow.send(None if reply is None else plan.parse(reply))
    except StopIteration as stop:
        return stop.value, sent


def test_first_use_checks_server_then_records_partitions():
    ops = StoreCore(StoreSettings("p", 16))
    result, sent = drive(ops.prepared(ops.last_offset("s")), [[b"ok", b"16", b"noeviction"], []])
    assert result is None
    assert sent[0].script is not None and sent[0].script.name == "configure"
    assert sent[0].args == (1, b"p:config", 16)
    assert sent[1].args[0] == b"XREVRANGE"
    assert ops.ready
    _, again = drive(ops.prepared(ops.last_offset("s")), [[]])
    assert len(again) == 1  # the check runs once per store


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-lru", "allkeys-random", "volatile-ttl"])
def test_an_evicting_policy_is_refused_at_first_use_unless_allowed(policy):
    ops = StoreCore(StoreSettings("p", 16))
    with pytest.raises(ConfigError, match=f"{policy}.*noeviction.*allow_eviction=True"):
        drive(ops.prepared(ops.last_offset("s")), [[b"ok", b"16", policy.encode()]])
    assert not ops.ready
    allowed = StoreCore(StoreSettings("p", 16, allow_eviction=True))
    with pytest.warns(EvictionRiskWarning, match=policy):
        drive(allowed.prepared(allowed.last_offset("s")), [[b"ok", b"16", policy.encode()], []])
    assert allowed.ready


def test_a_server_that_refuses_info_is_not_checked_for_eviction():
    ops = StoreCore(StoreSettings("p", 16))
    drive(ops.prepared(ops.last_offset("s")), [[b"ok", b"16", b""], []])  # INFO refused: ""
    assert ops.ready


def test_old_server_is_refused_before_anything_else():
    ops = StoreCore(StoreSettings("p", 16))
    with pytest.raises(UnsupportedServer, match=r"6\.2"):
        drive(ops.prepared(ops.last_offset("s")), [[b"old", b"ERR unknown command 'XAUTOCLAIM'"]])
    assert not ops.ready


def test_recorded_partition_count_wins():
    ops = StoreCore(StoreSettings("p", 8))
    with pytest.raises(PartitionMismatch) as info:
        drive(ops.prepared(ops.last_offset("s")), [[b"ok", b"16"]])
    assert (info.value.configured, info.value.recorded, info.value.key) == (8, 16, "p:config")


def test_append_plan_is_one_script_call_whatever_the_batch():
    ops = StoreCore(StoreSettings("p", 16, ttl=2.5))
    messages = [HumanMessage("x")] * 50
    plan = next(ops.append("s", messages, idempotency_key="k"))
    assert isinstance(plan, Plan) and plan.script is not None and plan.script.name == "append"
    keys = Keyspace("p", 16).session("s")
    dead = Keyspace("p", 16).dead(keys.partition)
    assert plan.args[:8] == (7, keys.log, keys.feed, keys.sessions, keys.idem, keys.idem_old, keys.snap, dead)
    assert plan.args[8:12] == (b"s", b"2500", b"", "k")
    assert plan.args[15:] == tuple(ops.payloads(messages))
    assert len(plan.args[15:]) == 50
