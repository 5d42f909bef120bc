"""Clients streamlog makes itself: the other flavour (sync / asyncio) of a client it was given.

Rule: a client made from another keeps all of its connection settings, its retry policy
included: redis-py's sync and asyncio ``Retry`` classes differ, so a policy is rebuilt
for the other flavour from its backoff, retries and errors; a custom ``Retry`` subclass
cannot be carried over and is refused with a `ConfigError` that names the fix. The twin
of a Sentinel-managed client is Sentinel-managed too (same sentinels, service, settings).
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.retry
import redis.cluster
import redis.retry

from .._core.errors import ConfigError
from .sentinel import is_sentinel_client, sentinel_client, sentinel_setup
from .shared import accepted_kwargs, is_cluster_client

__all__ = ["check_twin", "convert_retry", "twin"]

_RETRY = {True: redis.asyncio.retry.Retry, False: redis.retry.Retry}


def convert_retry(retry: Any, to_async: bool) -> Any:
    """``retry`` as the other flavour's ``Retry`` (same backoff, retries, errors); None stays None."""
    if retry is None:
        return None
    target, source = _RETRY[to_async], _RETRY[not to_async]
    if isinstance(retry, target) and not isinstance(retry, source):
        return retry
    if type(retry) is not source:
        raise ConfigError(
            f"the client's retry policy is a {type(retry).__qualname__}, which cannot be carried over to "
            f"the {'asyncio' if to_async else 'sync'} client streamlog makes from it: give that client "
            f"yourself (Streamlog(client, async_client=...)) with a {target.__module__}.Retry"
        )
    converted = target(retry._backoff, retry._retries, tuple(retry._supported_errors))
    if getattr(retry, "_is_retryable", None) is not None:
        converted._is_retryable = retry._is_retryable
    return converted


def _settings_of(client: Any) -> dict[str, Any]:
    if is_cluster_client(client):
        return dict(getattr(client, "connection_kwargs", None) or client.nodes_manager.connection_kwargs)
    return dict(client.connection_pool.connection_kwargs)


def check_twin(client: Any, to_async: bool) -> None:
    """Raise `ConfigError` now if `twin` could not carry ``client``'s settings over later."""
    convert_retry(_settings_of(client).get("retry"), to_async)
    if is_sentinel_client(client):  # the sentinels' connections have a policy of their own
        convert_retry(sentinel_setup(client).sentinel_kwargs.get("retry"), to_async)


def twin(client: Any, to_async: bool) -> Any:
    """A new client of the other flavour (sync/asyncio) to the same server(s), same settings."""
    if is_sentinel_client(client):
        setup = sentinel_setup(client)
        for kwargs in (setup.connection_kwargs, setup.sentinel_kwargs):
            if "retry" in kwargs:
                kwargs["retry"] = convert_retry(kwargs["retry"], to_async)
        return sentinel_client(setup, to_async=to_async)
    if is_cluster_client(client):
        target: Any = redis.asyncio.cluster.RedisCluster if to_async else redis.cluster.RedisCluster
        manager = client.nodes_manager
        kwargs = _settings_of(client)
        node = next(iter(manager.startup_nodes.values()))
        kwargs["host"], kwargs["port"] = node.host, node.port
    else:
        target = redis.asyncio.Redis if to_async else redis.Redis
        pool = client.connection_pool
        kwargs = _settings_of(client)
        if "ssl" in pool.connection_class.__name__.lower():
            kwargs["ssl"] = True
        if "path" in kwargs:
            kwargs["unix_socket_path"] = kwargs.pop("path")
    if "retry" in kwargs:
        kwargs["retry"] = convert_retry(kwargs["retry"], to_async)
    return target(**accepted_kwargs(target, kwargs))
