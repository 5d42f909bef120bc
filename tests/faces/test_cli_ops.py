"""The operator's commands, each driven as a subprocess against a real server the suite started."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
import redis
from langchain_core.messages import AIMessage, HumanMessage

from streamlog import StreamStore, Worker
from tests.conftest import real_server_names


def streamlog(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamlog", *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})}, check=False,
    )  # fmt: skip


@pytest.fixture
def deployment(real_server_by_name):
    server = real_server_by_name(real_server_names()[0])
    prefix = f"ops{uuid.uuid4().hex[:8]}"
    client = redis.Redis(port=server.port)
    store = StreamStore(client, key_prefix=prefix)
    offsets = store.append("alice", [HumanMessage("custard tarts?"), AIMessage("Belém, by the monastery")])
    store.append("bob", [HumanMessage("a tram")])
    store.clear("bob")
    later = store.append("alice", [HumanMessage("and after?")])
    yield server, prefix, store, offsets + later
    client.close()


def test_sessions_lists_by_last_activity_from_the_index(deployment):
    server, prefix, _, offsets = deployment
    ran = streamlog("sessions", "--url", server.url, "--prefix", prefix)
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()[1:]
    assert sorted(line.split()[-1] for line in lines) == ["'alice'", "'bob'"]
    assert [line[:23] for line in lines] == sorted(
        (line[:23] for line in lines), reverse=True
    )  # newest first
    (alice,) = [line for line in lines if "'alice'" in line]
    assert offsets[-1] in alice and alice.split()[2] == "3"  # last offset, events
    ran = streamlog(
        "sessions", "--prefix", prefix, "--limit", "1", "--since", "1h", env={"STREAMLOG_URL": server.url}
    )
    assert (
        ran.returncode == 0 and len(ran.stdout.splitlines()) == 2 and ran.stdout.splitlines()[1] == lines[0]
    )
    future = streamlog("sessions", "--url", server.url, "--prefix", prefix, "--since", "2999-01-01T00:00:00")
    assert future.returncode == 0 and len(future.stdout.splitlines()) == 1  # only the header
    bad = streamlog("sessions", "--url", server.url, "--since", "yesterday-ish")
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_show_the_conversation_time_travel_events_and_json(deployment):
    server, prefix, _, offsets = deployment
    where = ("--url", server.url, "--prefix", prefix)
    now = streamlog("show", "alice", *where)
    assert now.returncode == 0, now.stderr
    assert [line.split(": ", 1)[1] for line in now.stdout.splitlines()] == [
        "custard tarts?", "Belém, by the monastery", "and after?",
    ]  # fmt: skip
    assert "human" in now.stdout.splitlines()[0] and "ai" in now.stdout.splitlines()[1]
    then = streamlog("show", "alice", "--at", offsets[0], *where)
    assert then.returncode == 0 and then.stdout.count("\n") == 1 and "custard" in then.stdout
    events = streamlog("show", "bob", "--events", *where)
    assert events.returncode == 0 and "history cleared" in events.stdout.splitlines()[1]
    as_json = [json.loads(line) for line in streamlog("show", "alice", "--json", *where).stdout.splitlines()]
    assert [d["offset"] for d in as_json] == offsets
    assert as_json[1]["message"]["type"] == "ai"
    raw = [
        json.loads(line)
        for line in streamlog("show", "bob", "--events", "--json", *where).stdout.splitlines()
    ]
    assert [e["event"]["kind"] for e in raw] == ["append", "clear"]
    missing = streamlog("show", "nobody", *where)
    assert missing.returncode == 1 and missing.stderr.startswith("Error: session 'nobody' has no events")
    bad = streamlog("show", "alice", "--at", "not-an-offset", *where)
    assert bad.returncode == 1 and "offset" in bad.stderr and "Traceback" not in bad.stderr


def test_tail_follows_live_and_ctrl_c_exits_cleanly(deployment):
    server, prefix, store, _ = deployment
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlog", "tail", "alice", "--url", server.url, "--prefix", prefix],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert "following 'alice'" in proc.stderr.readline()  # pinned: nothing after this is missed
        new = store.append("alice", [HumanMessage("live one")])
        line = proc.stdout.readline()  # blocks until the tail prints (the test's timeout bounds it)
        assert new[0] in line and "live one" in line
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        rest = proc.stderr.read()
        assert "stopped" in rest and "Traceback" not in rest
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()  # reaps it and closes the pipes


def test_stats_counts_sessions_events_bytes_feeds_and_group_backlog(deployment):
    server, prefix, store, _ = deployment
    Worker(store, "idx", lambda d: None).run_check()
    store.append("carol", [HumanMessage("new")])
    ran = streamlog("stats", "--url", server.url, "--prefix", prefix)
    assert ran.returncode == 0, ran.stderr
    out = ran.stdout
    assert "sessions      3" in out and "events        6" in out and "dead letters  0" in out
    assert "group 'idx': pending 0" in out
    assert "KiB in the session logs" in out


@pytest.mark.parametrize(
    "command", ["sessions", "show", "tail", "stats", "worker", "groups", "search", "demo"]
)
def test_every_command_has_help(command):
    ran = streamlog(command, "--help")
    assert ran.returncode == 0 and "Usage:" in ran.stdout


def test_a_bad_url_is_a_one_line_error():
    ran = streamlog("sessions", "--url", "redis://127.0.0.1:1/0")
    assert ran.returncode == 1 and ran.stderr.count("\n") == 1 and "Error:" in ran.stderr


def test_time_is_read_from_the_offset():
    from streamlog._cli import offset_datetime

    assert offset_datetime("0-0") == "1970-01-01 00:00:00.000"
    assert offset_datetime(f"{int(time.time() * 1000)}-3").startswith(time.strftime("%Y-", time.gmtime()))
