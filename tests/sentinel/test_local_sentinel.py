"""`LocalSentinel` (langchain_streamlog.testing): loopback only, and it stops everything it started."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from langchain_streamlog._store.sentinel import parse_sentinel_url
from langchain_streamlog.testing import HOST, MAX_PORT, LocalSentinel
from tests.conftest import _first_binary, _unavailable


def refuses(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((HOST, port)) != 0


def listening_on(port: int) -> set[str]:
    """The local addresses of the sockets listening on ``port`` (hex, as /proc/net/tcp* shows them)."""
    found = set()
    for table in ("tcp", "tcp6"):
        path = Path("/proc/net", table)
        for line in path.read_text().splitlines()[1:] if path.exists() else []:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.rpartition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


@pytest.mark.skipif(not os.path.isdir("/proc/net"), reason="reads the listening sockets from /proc (Linux)")
def test_a_local_sentinel_runs_on_loopback_and_stops_everything_it_started() -> None:
    deployment = LocalSentinel(_first_binary(), service_name="svc one", replicas=1, sentinels=3)
    try:
        deployment.start()
    except RuntimeError as exc:
        _unavailable(f"a Sentinel deployment did not start: {exc}")
    try:
        nodes = [*deployment.servers, *deployment.sentinel_nodes]
        assert len(deployment.servers) == 2 and len(deployment.sentinel_nodes) == 3 and deployment.quorum == 2
        for node in nodes:
            assert node.host == HOST and 0 < node.port <= MAX_PORT
            assert listening_on(node.port) == {"0100007F"}  # 127.0.0.1 and nothing else
        master, (replica,) = deployment.master, deployment.replicas
        assert master is deployment.servers[0]
        with master.client() as client:
            assert client.info("replication")["role"] == "master"
        with replica.client() as client:
            info = client.info("replication")
            assert (info["role"], info["master_port"], info["master_link_status"]) == ("slave", master.port, "up")
        parsed = parse_sentinel_url(deployment.url)
        assert list(parsed.sentinels) == deployment.sentinels and parsed.service_name == "svc one"
        for node in deployment.sentinel_nodes:  # each its own file, rewritten by the sentinel as it learnt
            assert "sentinel myid" in Path(node.dir, "sentinel.conf").read_text()
            assert node.process is not None and "--sentinel" in node.process.args
        assert deployment.healthy()
    finally:
        deployment.stop()
    for node in nodes:
        assert node.process is not None and node.process.returncode is not None
        assert node.dir == "" and refuses(node.port)
    deployment.stop()  # idempotent


def test_a_local_sentinel_that_does_not_become_healthy_stops_what_it_started() -> None:
    deployment = LocalSentinel(_first_binary())
    with pytest.raises(RuntimeError, match="did not become healthy within 0 s"):
        deployment.start(timeout=0)  # the sentinels cannot have found each other yet
    nodes = [*deployment.servers, *deployment.sentinel_nodes]
    assert len(nodes) == 5
    assert all(n.process is not None and n.process.returncode is not None and n.dir == "" for n in nodes)


def test_a_local_sentinel_needs_something_to_fail_over_to() -> None:
    with pytest.raises(ValueError, match="at least one replica"):
        LocalSentinel(_first_binary(), replicas=0)
