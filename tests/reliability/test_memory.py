"""At maxmemory: what keeps working, what fails, and how (real servers, each binary).

With ``noeviction`` a full server refuses writes that grow memory. Then: appends fail cleanly
with `OutOfMemory` and write nothing; reads keep working (a snapshot the read would write is
skipped); workers start and drain existing groups (ensuring a group that exists writes
nothing); erasure and the sweep still work (they free memory). A policy that can evict
streamlog's keys is refused at first use.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from langchain_streamlog import ConfigError, OutOfMemory, StreamStore, Worker
from langchain_streamlog._core.store import EvictionRiskWarning
from langchain_streamlog.testing import LocalServer
from tests.conftest import BINARIES, MISSING, _unavailable, real_server_names


@pytest.fixture(params=real_server_names())
def server(request: pytest.FixtureRequest) -> Any:
    if request.param in MISSING:
        _unavailable(MISSING[request.param])
    binary = next(b for b in BINARIES if b.name == request.param)
    with LocalServer(binary) as running:
        yield running


def full(server: LocalServer) -> None:
    """Used memory is now over maxmemory, for good: every growing write is refused."""
    with server.client() as admin:
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", 1)


def test_a_full_server_refuses_appends_cleanly_and_keeps_reads_workers_and_erasure(server: LocalServer) -> None:
    prefix = f"oom{uuid.uuid4().hex[:6]}"
    client = server.client()
    store = StreamStore(client, key_prefix=prefix, snapshot_every=500)
    long = [HumanMessage(f"m{i}") if i % 2 == 0 else AIMessage(f"m{i}") for i in range(600)]
    store.append("long", long)
    store.append("short", [HumanMessage("hello")])
    store.append("gone", [HumanMessage("to erase")])
    seen: list[str] = []
    worker = Worker(store, "g", lambda d: seen.append(d.offset))
    worker.run_check()  # the group exists, and has handled what was there
    store.append("short", [AIMessage("after the group")])
    before = len(store.events("short"))
    full(server)

    fresh = StreamStore(client, key_prefix=prefix, snapshot_every=500)  # first use on a full server
    with pytest.raises(OutOfMemory, match="maxmemory"):
        fresh.append("short", [HumanMessage("refused")])
    with pytest.raises(OutOfMemory):
        fresh.append("short", [HumanMessage("a"), AIMessage("b"), HumanMessage("c")])
    assert len(fresh.events("short")) == before  # nothing of either batch was written
    with pytest.raises(OutOfMemory):
        fresh.append("brand-new", [HumanMessage("refused")])
    assert fresh.last_offset("brand-new") is None
    # A full read of 600 events wants to write a snapshot: refused, the read still works.
    assert [m.content for m in fresh.messages("long")] == [m.content for m in long]
    assert client.exists(fresh.keyspace.session("long").snap) == 0
    # A new worker starts on the existing group and drains what is pending.
    again = Worker(StreamStore(client, key_prefix=prefix), "g", lambda d: seen.append(d.offset))
    assert again.run_check() == 1 and len(seen) == 603
    # Erasure frees memory, and works.
    assert fresh.delete("gone") is True and fresh.last_offset("gone") is None
    client.close()


def test_a_sweep_works_on_a_full_server(server: LocalServer) -> None:
    prefix = f"oomsw{uuid.uuid4().hex[:6]}"
    client = server.client()
    store = StreamStore(client, key_prefix=prefix, ttl=0.2)
    store.append("lapses", [HumanMessage("x")])
    deadline = time.monotonic() + 10
    while client.exists(store.keyspace.session("lapses").log):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    full(server)
    assert store.sweep() == 1
    client.close()


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-lru", "allkeys-lfu", "volatile-ttl"])
def test_a_policy_that_can_evict_is_refused_at_first_use(server: LocalServer, policy: str) -> None:
    prefix = f"ev{uuid.uuid4().hex[:6]}"
    client = server.client()
    client.config_set("maxmemory-policy", policy)
    store = StreamStore(client, key_prefix=prefix)
    with pytest.raises(ConfigError, match=f"maxmemory-policy is {policy}"):
        store.append("s", [HumanMessage("x")])
    assert client.exists(store.keyspace.session("s").log) == 0  # refused before writing
    risky = StreamStore(client, key_prefix=prefix, allow_eviction=True)
    with pytest.warns(EvictionRiskWarning, match=policy):
        risky.append("s", [HumanMessage("x")])
    client.config_set("maxmemory-policy", "noeviction")
    client.close()


def test_a_running_worker_keeps_draining_on_a_full_server(server: LocalServer) -> None:
    import threading

    prefix = f"oomw{uuid.uuid4().hex[:6]}"
    client = server.client()
    store = StreamStore(client, key_prefix=prefix)
    store.append("s", [HumanMessage("before")])
    Worker(store, "g", lambda d: None).run_check()  # the group exists
    store.append("s", [HumanMessage("pending"), AIMessage("work")])
    full(server)
    seen: list[str] = []
    worker = Worker(StreamStore(client, key_prefix=prefix), "g", lambda d: seen.append(d.offset), idle_wait=0.05)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while len(seen) < 2:  # its lease cannot be written, yet it drains its share
            assert time.monotonic() < deadline and thread.is_alive()
            time.sleep(0.02)
    finally:
        worker.stop()
        thread.join(10)
    assert len(seen) == 2
    client.close()
