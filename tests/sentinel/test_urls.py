"""``redis+sentinel://`` URLs: what they say, what is refused, and the client one makes (no server needed)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel

from langchain_streamlog import AsyncStreamStore, ConfigError, Streamlog, StreamStore
from langchain_streamlog._store.connections import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_POOL_TIMEOUT,
    client_for_url,
)
from langchain_streamlog._store.sentinel import SentinelURL, parse_sentinel_url

A, B = ("10.0.0.1", 26379), ("10.0.0.2", 26380)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # langchain-redis's (RedisVL's) own examples
        ("redis+sentinel://sentinel1:26379,sentinel2:26379/mymaster",
         SentinelURL((("sentinel1", 26379), ("sentinel2", 26379)), "mymaster")),
        ("redis+sentinel://user:pass@sentinel1:26379,sentinel2:26379/mymaster/0",
         SentinelURL((("sentinel1", 26379), ("sentinel2", 26379)), "mymaster", 0, "user", "pass", "user", "pass")),
        ("redis+sentinel://10.0.0.1,10.0.0.2:26380", SentinelURL((A, B), "mymaster")),  # default port, service
        ("redis+sentinel://10.0.0.1/", SentinelURL((A,), "mymaster")),
        ("REDIS+SENTINEL://10.0.0.1:26379/svc/3/", SentinelURL((A,), "svc", 3)),  # a trailing slash
        ("redis+sentinel://:p%40ss%3Aw@10.0.0.1/my%20svc",  # percent-escapes; a password alone
         SentinelURL((A,), "my svc", None, None, "p@ss:w", None, "p@ss:w")),
        ("redis+sentinel://[::1]:5000,[fe80::1]/svc", SentinelURL((("::1", 5000), ("fe80::1", 26379)), "svc")),
        ("redis+sentinel://:master@10.0.0.1/svc?sentinel_password=other",  # the sentinels' own
         SentinelURL((A,), "svc", None, None, "master", None, "other")),
        ("redis+sentinel://u:master@10.0.0.1/svc?sentinel_password=",  # the sentinels take no AUTH
         SentinelURL((A,), "svc", None, "u", "master", "u", None)),
        ("redis+sentinel://10.0.0.1/svc?sentinel_username=watch&sentinel_password=s%26cret",
         SentinelURL((A,), "svc", None, None, None, "watch", "s&cret")),
    ],
)  # fmt: skip
def test_a_sentinel_url_names_sentinels_service_db_and_credentials(url: str, expected: SentinelURL) -> None:
    assert parse_sentinel_url(url) == expected


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("redis://10.0.0.1/svc", "scheme"),
        ("redis+sentinel:/10.0.0.1/svc", "scheme"),
        ("redis+sentinel:///svc", "no sentinel"),
        ("redis+sentinel://user:pw@/svc", "no sentinel"),
        ("redis+sentinel://10.0.0.1,,10.0.0.2/svc", "empty sentinel address"),
        ("redis+sentinel://10.0.0.1,/svc", "empty sentinel address"),
        ("redis+sentinel://10.0.0.1:port/svc", "port of '10.0.0.1:port'"),
        ("redis+sentinel://10.0.0.1:0/svc", "port of '10.0.0.1:0'"),
        ("redis+sentinel://10.0.0.1:65536/svc", "port of '10.0.0.1:65536'"),
        ("redis+sentinel://:26379/svc", "has no host"),
        ("redis+sentinel://::1:26379/svc", "IPv6 address goes in brackets"),
        ("redis+sentinel://[::1/svc", r"\[address\]:port"),
        ("redis+sentinel://[::1]x/svc", r"\[address\]:port"),
        ("redis+sentinel://10.0.0.1/svc/zero", "db 'zero' is not a number"),
        ("redis+sentinel://10.0.0.1/svc/-1", "db '-1' is not a number"),
        ("redis+sentinel://10.0.0.1/svc/0/extra", "more than /service_name/db"),
        ("redis+sentinel://10.0.0.1/svc?socket_timeout=5", "unknown option.*socket_timeout.*keywords"),
        ("redis+sentinel://10.0.0.1/svc?sentinel_password=a&sentinel_password=b", "more than once"),
        ("redis+sentinel://10.0.0.1/svc#top", "fragment"),
    ],
)
def test_a_malformed_sentinel_url_is_a_config_error_naming_what_is_wrong(url: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        parse_sentinel_url(url)
    assert "malformed Sentinel URL" in str(info.value)
    if url.startswith("redis+sentinel:"):  # and so from every URL taker, before any connection
        with pytest.raises(ConfigError, match=match):
            StreamStore.from_url(url)


def test_passwords_never_appear_in_an_error_or_a_repr() -> None:
    with pytest.raises(ConfigError) as info:
        parse_sentinel_url("redis+sentinel://me:hunter2@10.0.0.1/svc/x?sentinel_password=swordfish")
    assert "hunter2" not in str(info.value) and "swordfish" not in str(info.value)
    assert "me:***@10.0.0.1" in str(info.value)
    parsed = parse_sentinel_url("redis+sentinel://me:hunter2@10.0.0.1/svc?sentinel_password=swordfish")
    assert "hunter2" not in repr(parsed) and "swordfish" not in repr(parsed)


def test_tls_through_a_url_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"rediss\+sentinel.*master_for\(service_name, ssl=True"):
        StreamStore.from_url("rediss+sentinel://10.0.0.1/svc")


@pytest.mark.parametrize(
    "setting",
    [{"host": "10.0.0.9"}, {"port": 6380}, {"unix_socket_path": "/tmp/r.sock"}, {"ssl": True},
     {"ssl_ca_certs": "/ca.pem"}, {"cache_config": object()}],
)  # fmt: skip
def test_settings_that_cannot_apply_to_a_sentinel_url_are_refused(setting: dict[str, Any]) -> None:
    (name,) = setting
    with pytest.raises(ConfigError, match=rf"{name}.*do\(es\) not apply.*master_for"):
        StreamStore.from_url("redis+sentinel://10.0.0.1/svc", **setting)


def test_a_sentinel_url_with_cluster_true_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a cluster: drop cluster=True"):
        StreamStore.from_url("redis+sentinel://10.0.0.1/svc", cluster=True)
    log = Streamlog.from_url("redis+sentinel://10.0.0.1/svc", cluster=True)  # it makes clients lazily
    with pytest.raises(ConfigError, match="not a cluster"):
        log.history("s").add_user_message("x")


def sentinel_addresses(manager: Any) -> list[tuple[str, int]]:
    return [(s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
            for s in manager.sentinels]  # fmt: skip


def test_a_url_client_is_sentinel_managed_with_a_blocking_pool_and_the_settings() -> None:
    url = "redis+sentinel://u:pw@10.0.0.1,10.0.0.2:26380/svc/2?sentinel_password="
    client = client_for_url(url, to_async=False, socket_timeout=2.5, health_check_interval=7, db=9)
    pool = client.connection_pool
    assert isinstance(pool, redis.sentinel.SentinelConnectionPool) and isinstance(pool, redis.BlockingConnectionPool)
    assert (pool.service_name, pool.is_master) == ("svc", True)
    assert (pool.max_connections, pool.timeout) == (DEFAULT_MAX_CONNECTIONS, DEFAULT_POOL_TIMEOUT)
    kwargs = pool.connection_kwargs
    assert (kwargs["username"], kwargs["password"], kwargs["db"]) == ("u", "pw", 2)  # the URL wins over db=9
    assert (kwargs["socket_timeout"], kwargs["health_check_interval"]) == (2.5, 7)
    manager = pool.sentinel_manager
    assert sentinel_addresses(manager) == [A, B]
    # The sentinels: socket_* settings, their own credentials (none here), no retries.
    sentinel_kwargs = manager.sentinels[0].connection_pool.connection_kwargs
    assert sentinel_kwargs["socket_timeout"] == 2.5 and sentinel_kwargs.get("password") is None
    assert sentinel_kwargs.get("username") == "u" and manager.sentinel_kwargs["retry"]._retries == 0
    assert "health_check_interval" not in manager.sentinel_kwargs
    client.close()

    sized = client_for_url(url, to_async=False, max_connections=3, pool_timeout=0.5)
    assert (sized.connection_pool.max_connections, sized.connection_pool.timeout) == (3, 0.5)
    sized.close()


def test_an_asyncio_url_client_is_sentinel_managed_with_a_blocking_pool() -> None:
    async def go() -> None:
        store = AsyncStreamStore.from_url("redis+sentinel://:pw@10.0.0.1/svc", max_connections=4, socket_timeout=1)
        pool = store.client.connection_pool
        assert isinstance(pool, redis.asyncio.sentinel.SentinelConnectionPool)
        assert isinstance(pool, redis.asyncio.BlockingConnectionPool)
        assert (pool.service_name, pool.max_connections, pool.timeout) == ("svc", 4, DEFAULT_POOL_TIMEOUT)
        assert pool.connection_kwargs["password"] == "pw" and pool.connection_kwargs["socket_timeout"] == 1
        manager = pool.sentinel_manager
        assert isinstance(manager, redis.asyncio.sentinel.Sentinel) and sentinel_addresses(manager) == [A]
        assert manager.sentinels[0].connection_pool.connection_kwargs["password"] == "pw"
        await store.aclose()

    asyncio.run(go())
