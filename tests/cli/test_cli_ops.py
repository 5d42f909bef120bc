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

from langchain_streamlog import StreamStore, Worker
from tests.conftest import real_server_names


def streamlog(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "langchain_streamlog", *args], capture_output=True, text=True, timeout=120,
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
        [sys.executable, "-m", "langchain_streamlog", "tail", "alice", "--url", server.url, "--prefix", prefix],
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
    "command",
    [
        "sessions",
        "show",
        "tail",
        "stats",
        "export",
        "import",
        "migrate",
        "checkpoints",
        "worker",
        "groups",
        "search",
        "demo",
    ],
)
def test_every_command_has_help(command):
    ran = streamlog(command, "--help")
    assert ran.returncode == 0 and "Usage:" in ran.stdout


def test_a_bad_url_is_a_one_line_error():
    ran = streamlog("sessions", "--url", "redis://127.0.0.1:1/0")
    assert ran.returncode == 1 and ran.stderr.count("\n") == 1 and "Error:" in ran.stderr


def test_time_is_read_from_the_offset():
    from langchain_streamlog._cli.common import offset_datetime

    assert offset_datetime("0-0") == "1970-01-01 00:00:00.000"
    assert offset_datetime(f"{int(time.time() * 1000)}-3").startswith(time.strftime("%Y-", time.gmtime()))


def test_export_then_import_elsewhere_twice(deployment, tmp_path):
    server, prefix, store, _ = deployment
    dump = tmp_path / "dump.jsonl"
    ran = streamlog("export", "--url", server.url, "--prefix", prefix, "-o", str(dump))
    assert ran.returncode == 0 and "exported 5 events" in ran.stderr, ran.stderr
    lines = [json.loads(line) for line in dump.read_text().splitlines()]
    assert {line["session"] for line in lines} == {"alice", "bob"} and len(lines) == 5
    target = prefix + "copy"
    first = streamlog("import", str(dump), "--url", server.url, "--prefix", target)
    assert first.returncode == 0 and "imported 5 events into 2 sessions; 0 already there" in first.stdout, (
        first.stderr
    )
    again = streamlog("import", str(dump), "--url", server.url, "--prefix", target)
    assert again.returncode == 0 and "imported 0 events" in again.stdout and "5 already there" in again.stdout
    copy = StreamStore(store.client, key_prefix=target)
    for sid in ("alice", "bob"):
        assert [e for _, e in copy.events(sid)] == [e for _, e in store.events(sid)]
    one = streamlog("export", "--url", server.url, "--prefix", prefix, "--session", "bob")
    assert [json.loads(line)["event"]["kind"] for line in one.stdout.splitlines()] == ["append", "clear"]
    broken = tmp_path / "broken.jsonl"
    broken.write_text(dump.read_text()[:-20] + "\n")
    bad = streamlog("import", str(broken), "--url", server.url, "--prefix", prefix + "bad")
    assert bad.returncode == 1 and "line" in bad.stderr and "Traceback" not in bad.stderr


def test_migrate_from_langchain_community(deployment):
    import warnings

    from langchain_core.messages import ToolMessage

    server, prefix, store, _ = deployment
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from langchain_community.chat_message_histories import RedisChatMessageHistory
    old_prefix = f"old{uuid.uuid4().hex[:6]}:"
    written = [
        HumanMessage("weather in Oslo?", id="h1"),
        AIMessage("", id="a1", tool_calls=[{"name": "weather", "args": {"city": "Oslo"}, "id": "c1"}]),
        ToolMessage("4°C, rain", tool_call_id="c1"),
        AIMessage("Cold and wet: 4°C."),
    ]
    RedisChatMessageHistory("u1", url=server.url, key_prefix=old_prefix).add_messages(written)
    RedisChatMessageHistory("u2", url=server.url, key_prefix=old_prefix).add_messages(written[:1])
    target = prefix + "mig"
    args = ("migrate", "--from", "community", "--source-url", server.url, "--source-prefix", old_prefix)
    where = ("--url", server.url, "--prefix", target)
    dry = streamlog(*args, "--dry-run", *where)
    assert dry.returncode == 0 and "would copy 5 messages of 2 sessions" in dry.stdout, dry.stderr
    assert StreamStore(store.client, key_prefix=target).events("u1") == []
    ran = streamlog(*args, *where)
    assert ran.returncode == 0 and "copied 5 messages of 2 sessions" in ran.stdout, ran.stderr
    migrated = StreamStore(store.client, key_prefix=target).messages("u1")
    assert migrated == written and [type(m) for m in migrated] == [type(m) for m in written]
    again = streamlog(*args, *where)
    assert again.returncode == 0 and "copied 0 messages" in again.stdout and "2 already there" in again.stdout
    unknown = streamlog("migrate", "--from", "nobody", "--source-url", server.url, *where)
    assert unknown.returncode == 2


def test_checkpoints_of_a_langgraph_thread_with_offsets_and_time_travel(deployment):
    from langchain_streamlog import StreamlogSaver
    from tests.langgraph.test_savers import build, turn

    server, prefix, store, _ = deployment
    saver = StreamlogSaver(store)
    graph = build(saver)
    turn(graph, "trip", "first question")
    first = saver.offset_of({"configurable": {"thread_id": "trip", "checkpoint_ns": ""}})
    turn(graph, "trip", "second question")
    where = ("--url", server.url, "--prefix", prefix)
    listed = streamlog("checkpoints", "trip", *where)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    offsets = [line.split()[0] for line in lines]
    assert first in offsets and offsets == sorted(
        offsets, key=lambda o: tuple(map(int, o.split("-"))), reverse=True
    )
    assert lines[0].endswith("last message ai: reply 2")  # the newest checkpoint, after the second turn
    then = streamlog("checkpoints", "trip", "--at", first, *where)
    assert then.returncode == 0 and then.stdout.split()[0] == first
    none = streamlog("checkpoints", "nobody", *where)
    assert none.returncode == 1 and "no checkpoints" in none.stderr


def test_delete_and_sweep_erase_from_the_command_line(deployment):
    server, prefix, store, _ = deployment
    where = ["--url", server.url, "--prefix", prefix]
    erased = streamlog("delete", "alice", *where)
    assert erased.returncode == 0 and "erased 'alice'" in erased.stdout, erased.stderr
    assert store.last_offset("alice") is None
    again = streamlog("delete", "alice", *where)
    assert again.returncode == 0 and "nothing to erase" in again.stdout
    expiring = StreamStore(store.client, key_prefix=prefix, ttl=0.2)
    expiring.append("carol", [HumanMessage("short-lived")])
    log = expiring.keyspace.session("carol").log
    deadline = time.monotonic() + 10
    while store.client.exists(log):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    swept = streamlog("sweep", "--ttl", "0.2", *where)
    assert swept.returncode == 0 and swept.stdout.strip() == "erased 1 expired session", swept.stderr
    listed = streamlog("sessions", *where)
    assert "carol" not in listed.stdout and "alice" not in listed.stdout and "bob" in listed.stdout
    assert streamlog("sweep", *where).returncode == 2  # --ttl is required: the deployment's TTL
