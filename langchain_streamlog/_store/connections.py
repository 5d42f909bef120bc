"""Connection settings, and the clients streamlog makes for a URL.

Rule: store settings (`StoreSettings`) and connection settings (what redis-py's clients
take: ``max_connections``, timeouts, ``health_check_interval``, ``retry``, TLS options, ...)
are told apart by name, here, once; a name that is neither raises `ConfigError` naming it.

A client streamlog makes for a standalone URL has a **blocking** pool: a call that finds
every connection busy waits for one, up to ``pool_timeout`` seconds, instead of failing at
once (redis-py's default pool fails the 101st concurrent asyncio call). A wait that times
out raises `PoolExhausted`; the command was not sent. A cluster client keeps redis-py's
pools per node, which are unbounded unless ``max_connections`` is given. A
``redis+sentinel://`` URL gets a client of the service's master with the same blocking
pool (`sentinel_url_client`: docs/sentinel.md).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster

from .._core.errors import ConfigError
from .._core.settings import StoreSettings
from .clients import convert_retry
from .sentinel import SCHEME, is_sentinel_url, sentinel_url_client
from .shared import accepted_kwargs

__all__ = [
    "CONNECTION_SETTINGS",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_POOL_TIMEOUT",
    "client_for_url",
    "split_settings",
]

#: Connections a pool streamlog makes may hold (per client; per node on a cluster if given).
DEFAULT_MAX_CONNECTIONS = 100
#: Seconds a call waits for a free connection before `PoolExhausted` (redis-py's blocking default).
DEFAULT_POOL_TIMEOUT = 20.0

_NOT_SETTINGS = {"self", "connection_pool", "single_connection_client", "auto_close_connection_pool", "kwargs"}
#: Every connection setting accepted: what either redis-py client takes, and ``pool_timeout``.
CONNECTION_SETTINGS: frozenset[str] = frozenset(
    name
    for target in (redis.Redis, redis.asyncio.Redis)
    for name in inspect.signature(target).parameters
    if name not in _NOT_SETTINGS
) | {"pool_timeout"}


def split_settings(kwargs: Mapping[str, Any]) -> tuple[StoreSettings, dict[str, Any]]:
    """``kwargs`` as (store settings, connection settings); an unknown name is a `ConfigError`."""
    store_names = set(StoreSettings.names())
    unknown = sorted(set(kwargs) - store_names - CONNECTION_SETTINGS)
    if unknown:
        raise ConfigError(
            f"unknown setting(s) {', '.join(map(repr, unknown))}: neither a store setting "
            f"({', '.join(StoreSettings.names())}) nor a connection setting of redis-py's clients "
            "(max_connections, pool_timeout, socket_timeout, socket_connect_timeout, "
            "health_check_interval, retry, username, password, ssl_..., ...)"
        )
    store = StoreSettings.of({k: v for k, v in kwargs.items() if k in store_names})
    return store, {k: v for k, v in kwargs.items() if k not in store_names}


def _positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"{name} is a positive number, not {value!r}")


def client_for_url(url: str, *, to_async: bool, cluster: bool = False, **connection: Any) -> Any:
    """A new redis-py client for ``url``, sync or asyncio: standalone or Sentinel (blocking pool), cluster."""
    connection = dict(connection)
    if "retry" in connection:
        connection["retry"] = convert_retry(connection["retry"], to_async)
    sentinel = is_sentinel_url(url)
    if sentinel and cluster:
        raise ConfigError(f"a {SCHEME}:// URL names a service's master, not a cluster: drop cluster=True")
    if cluster:
        connection.pop("pool_timeout", None)  # per-node pools of a cluster client do not wait
        factory: Any = redis.asyncio.cluster.RedisCluster if to_async else redis.cluster.RedisCluster
        return factory.from_url(url, **accepted_kwargs(factory, connection))
    size = connection.pop("max_connections", DEFAULT_MAX_CONNECTIONS)
    wait = connection.pop("pool_timeout", DEFAULT_POOL_TIMEOUT)
    _positive("max_connections", size)
    if wait is not None:
        _positive("pool_timeout", wait)
    if sentinel:
        return sentinel_url_client(
            url, to_async=to_async, max_connections=size, pool_timeout=wait, **connection
        )
    pool_class: Any = redis.asyncio.BlockingConnectionPool if to_async else redis.BlockingConnectionPool
    client_class: Any = redis.asyncio.Redis if to_async else redis.Redis
    pool = pool_class.from_url(url, max_connections=size, timeout=wait, **connection)
    client = client_class(connection_pool=pool)
    client.auto_close_connection_pool = True  # the client owns its pool: closing one closes both
    return client
