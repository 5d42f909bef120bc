"""A live tail sees what is appended while it waits (real servers: fakeredis does not block)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import redis
import redis.asyncio
from langchain_core.messages import HumanMessage

from langchain_streamlog import AsyncStreamStore, StreamStore
from tests.conftest import real_server_names


def wait_for_blocked_xread(port: int, deadline: float = 10.0) -> None:
    """Poll CLIENT LIST until some client is blocked in XREAD (bounded, no blind sleep)."""
    with redis.Redis(port=port) as admin:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if any(c.get("cmd") == "xread" for c in admin.client_list()):
                return
            time.sleep(0.005)
    raise AssertionError("no XREAD ever blocked")


def append_when_blocked(port: int, prefix: str, text: str) -> threading.Thread:
    def go() -> None:
        wait_for_blocked_xread(port)
        with redis.Redis(port=port) as client:
            StreamStore(client, key_prefix=prefix).append("live", [HumanMessage(text)])

    thread = threading.Thread(target=go)
    thread.start()
    return thread


@pytest.mark.parametrize("name", real_server_names())
def test_sync_tail_sees_a_live_append(real_server_by_name, name):
    server = real_server_by_name(name)
    prefix = f"live{time.perf_counter_ns()}"
    with redis.Redis(port=server.port) as client:
        events = StreamStore(client, key_prefix=prefix).tail("live", block=5)
        writer = append_when_blocked(server.port, prefix, "hello")
        _offset, event = next(events)
        events.close()
        writer.join()
    assert event.messages[0]["content"] == "hello"


@pytest.mark.parametrize("name", real_server_names())
async def test_async_tail_sees_a_live_append_and_stops_on_break(real_server_by_name, name):
    server = real_server_by_name(name)
    prefix = f"alive{time.perf_counter_ns()}"
    client = redis.asyncio.Redis(port=server.port)
    store = AsyncStreamStore(client, key_prefix=prefix)
    writer = append_when_blocked(server.port, prefix, "hi")
    got = []
    async for _offset, event in store.tail("live", block=5):
        got.append(event.messages[0]["content"])
        break
    await asyncio.to_thread(writer.join)
    await client.aclose()
    assert got == ["hi"]


@pytest.mark.parametrize("name", real_server_names()[:1])
def test_a_stop_event_ends_the_tail_between_blocking_reads(real_server_by_name, name):
    server = real_server_by_name(name)
    with redis.Redis(port=server.port) as client:
        store = StreamStore(client, key_prefix=f"stop{time.perf_counter_ns()}")
        first = store.append("s", [HumanMessage("one")])[0]
        stop = threading.Event()
        seen = []
        for offset, _ in store.tail("s", after="0-0", block=0.05, stop=stop):
            seen.append(offset)
            stop.set()  # as a signal handler would
        assert seen == [first]  # the batch in hand is finished, then the tail ends
        stop.set()
        assert list(store.tail("s", after="0-0", stop=stop)) == []  # already set: no read at all
