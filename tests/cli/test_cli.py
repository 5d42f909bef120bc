"""`streamlog demo`, run as a user runs it: a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import redis

from tests.conftest import real_server_names

SECTIONS = ["1. Four turns", "2. The stored events: 8", "3. The trimmed window", "4. Replay", "5. Time travel",
            "6. A retried append", "7. A worker", "events handled: 9", "hit: session 'alice'",
            "8. clear() is an event", "search hits now 0"]  # fmt: skip


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("STREAMLOG_URL", None)
    return subprocess.run([sys.executable, "-m", "langchain_streamlog", "demo", *args], capture_output=True, text=True,
                          timeout=120, env=env, check=False)  # fmt: skip


@pytest.mark.parametrize("name", real_server_names()[:1])
def test_demo_on_a_given_server_touches_only_its_own_prefix(real_server_by_name, name):
    server = real_server_by_name(name)
    with redis.Redis(port=server.port) as client:
        client.set("someone:else", "keep me")
        before = set(client.scan_iter())
        result = demo("--url", server.url)
        assert result.returncode == 0, result.stderr
        assert all(section in result.stdout for section in SECTIONS)
        assert "first: ['" in result.stdout and "retry: ['" in result.stdout
        assert set(client.scan_iter()) == before  # it erased what it wrote, and nothing else
        assert client.get("someone:else") == b"keep me"


def test_demo_without_url_runs_on_a_throwaway_server():
    result = demo()
    assert result.returncode == 0, result.stderr
    assert "throwaway server" in result.stdout and all(section in result.stdout for section in SECTIONS)


def test_unknown_command_is_a_usage_error():
    result = subprocess.run(
        [sys.executable, "-m", "langchain_streamlog", "nope"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2 and "No such command" in result.stderr


def streamlog(*args: str, cwd: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "langchain_streamlog", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env}, cwd=cwd, check=False)  # fmt: skip


@pytest.mark.parametrize("name", real_server_names()[:1])
def test_worker_groups_search_and_dead_letters(real_server_by_name, name, tmp_path):
    from langchain_core.messages import AIMessage, HumanMessage

    from langchain_streamlog import StreamStore

    server = real_server_by_name(name)
    prefix = f"cli{os.getpid()}{id(tmp_path)}"
    where = ("--url", server.url, "--prefix", prefix)
    with redis.Redis(port=server.port) as client:
        store = StreamStore(client, key_prefix=prefix)
        offsets = store.append("alice", [HumanMessage("custard tarts please"), AIMessage("Belém has them")])
        store.append("bob", [HumanMessage("a tram ride")])
    index = str(tmp_path / "index.sqlite3")
    ran = streamlog("worker", *where, "--group", "idx", "--handler", "indexer", "--index", index, "--burst")
    assert ran.returncode == 0 and "handled 3 events" in ran.stdout, ran.stderr
    found = streamlog("search", "tarts", "--index", index)
    assert (
        found.returncode == 0 and f"'alice'  {offsets[0]}" in found.stdout and "custard tarts" in found.stdout
    )
    listed = streamlog("groups", *where)
    assert listed.returncode == 0 and "idx" in listed.stdout

    (tmp_path / "failing.py").write_text("def handle(delivery):\n    raise RuntimeError('always')\n")
    failing = streamlog("worker", *where, "--group", "bad", "--handler", "failing:handle", "--max-deliveries", "1",
                        "--burst", PYTHONPATH=str(tmp_path))  # fmt: skip
    assert failing.returncode == 0, failing.stderr
    dead = streamlog("dlq", "list", *where)
    assert dead.stdout.count("RuntimeError: always") == 3 and "'alice'" in dead.stdout
    assert "requeued 3" in streamlog("dlq", "requeue", *where, "--group", "bad").stdout
    assert streamlog("dlq", "list", *where).stdout == ""
    again = streamlog("worker", *where, "--group", "idx", "--handler", "indexer", "--index", index, "--burst")
    assert "handled 3 events" in again.stdout  # requeued events reach every group again (at least once)


def test_operator_commands_fail_cleanly():
    assert streamlog("groups").returncode == 2  # no --url: a usage error
    missing = streamlog("search", "x", "--index", "/nonexistent/index.sqlite3")
    assert missing.returncode == 1 and "no index" in missing.stderr
    bad = streamlog(
        "worker", "--url", "redis://127.0.0.1:1/0", "--group", "g", "--handler", "nope", "--burst"
    )
    assert bad.returncode == 2 and "module:function" in bad.stderr


@pytest.mark.parametrize("name", real_server_names()[:1])
def test_a_running_worker_reports_progress_and_stops_on_sigterm(real_server_by_name, name, tmp_path):
    import signal

    from langchain_core.messages import HumanMessage

    from langchain_streamlog import StreamStore

    server = real_server_by_name(name)
    prefix = f"live{os.getpid()}{id(tmp_path)}"
    with redis.Redis(port=server.port) as client:
        StreamStore(client, key_prefix=prefix).append("s", [HumanMessage("hi"), HumanMessage("there")])
    worker = subprocess.Popen(
        [sys.executable, "-m", "langchain_streamlog", "worker", "--url", server.url, "--prefix", prefix, "--group", "g",
         "--handler", "indexer", "--index", str(tmp_path / "i.sqlite3"), "--progress", "0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = worker.stdout.readline()  # blocks until the first progress line (or exit)
        while line and "handled 2 events" not in line:
            line = worker.stdout.readline()
        assert "handled 2 events; pending 0" in line
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0 and "stopped: handled 2 events" in err


def test_worker_and_groups_on_a_cluster(redis_cluster, tmp_path):
    from langchain_core.messages import HumanMessage
    from redis.cluster import RedisCluster

    from langchain_streamlog import StreamStore

    prefix = f"clic{os.getpid()}"
    with RedisCluster(host=redis_cluster.host, port=redis_cluster.port) as client:
        store = StreamStore(client, key_prefix=prefix)
        for i in range(6):  # sessions on several partitions, so on several masters
            store.append(f"s{i}", [HumanMessage(f"hello {i}")])
    where = ("--url", redis_cluster.url, "--cluster", "--prefix", prefix)
    index = str(tmp_path / "index.sqlite3")
    ran = streamlog("worker", *where, "--group", "idx", "--handler", "indexer", "--index", index, "--burst")
    assert ran.returncode == 0 and "handled 6 events" in ran.stdout, ran.stderr
    listed = streamlog("groups", *where)
    assert listed.returncode == 0 and "idx" in listed.stdout, listed.stderr
    plain = streamlog("groups", "--url", redis_cluster.url, "--prefix", prefix)  # without --cluster
    assert plain.returncode == 1 and "Redis Cluster node" in plain.stderr and "--cluster" in plain.stderr
