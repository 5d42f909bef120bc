"""At-least-once across a worker that dies mid-batch: a real subprocess, SIGKILLed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import redis
from langchain_core.messages import HumanMessage

from langchain_streamlog import StreamStore
from langchain_streamlog._workers.runtime import Worker
from tests.conftest import real_server_names

VICTIM = textwrap.dedent(
    """
    import sys, time, redis
    from langchain_streamlog import StreamStore
    from langchain_streamlog._workers.runtime import Worker

    url, prefix = sys.argv[1], sys.argv[2]
    client = redis.Redis.from_url(url)

    def handler(delivery):
        client.sadd(prefix + ":handled", delivery.session_id + "|" + delivery.offset)
        if client.scard(prefix + ":handled") >= 5:
            time.sleep(3600)  # stuck mid-batch, holding the rest of it pending

    Worker(StreamStore(client, key_prefix=prefix, partitions=1), "g", handler, consumer="victim",
           batch=50, min_idle=3600).run_check()
    """
)


@pytest.mark.parametrize("name", real_server_names()[:1])
def test_events_a_killed_worker_held_are_finished_by_another(real_server_by_name, name):
    server = real_server_by_name(name)
    prefix = f"crash{time.perf_counter_ns()}"
    with redis.Redis(port=server.port) as client:
        store = StreamStore(client, key_prefix=prefix, partitions=1)
        expected = {
            f"s{i % 4}|{o}" for i in range(20) for o in store.append(f"s{i % 4}", [HumanMessage(str(i))])
        }
        env = {**os.environ, "PYTHONPATH": os.getcwd()}
        victim = subprocess.Popen([sys.executable, "-c", VICTIM, server.url, prefix], env=env)
        try:
            deadline = time.monotonic() + 30
            while client.scard(prefix + ":handled") < 5:  # bounded: the victim is mid-batch
                assert victim.poll() is None and time.monotonic() < deadline
                time.sleep(0.01)
            feed = store.keyspace.feed(0)
            assert client.xpending(feed, "g")["pending"] == 20  # the whole batch is held by "victim"
        finally:
            victim.send_signal(signal.SIGKILL)
            victim.wait()
        handled_by_victim = {m.decode() for m in client.smembers(prefix + ":handled")}
        rescued = []
        assert Worker(store, "g", rescued.append, consumer="rescuer", min_idle=0).run_check() == 20
        handled = handled_by_victim | {f"{d.session_id}|{d.offset}" for d in rescued}
        assert handled == expected  # every event handled at least once
        assert all(d.attempt == 2 for d in rescued)
        assert client.xpending(feed, "g")["pending"] == 0
