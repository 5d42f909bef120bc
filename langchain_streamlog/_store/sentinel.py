"""Redis Sentinel: ``redis+sentinel://`` URLs, and clients of the master a service names.

Rule: a Sentinel-managed client finds its master by asking the sentinels (redis-py's
``master_for``), on every new connection and after a failover; a client of the other
flavour made from one (`sentinel_setup`, then `sentinel_client`) asks the same sentinels
for the same service, with the same settings: never a plain client of the address the
master has now. A client made here owns the sentinel clients it made: closing it closes them.

The URL, as langchain-redis (RedisVL) reads it::

    redis+sentinel://[user:password@]host[:port][,host[:port]...][/service_name[/db]]
                     [?sentinel_username=...&sentinel_password=...]

A sentinel's port defaults to 26379 and the service name to ``mymaster``; an IPv6 address
goes in brackets. The URL's credentials authenticate to the master **and** to the sentinels
(as langchain-redis does); ``sentinel_username`` / ``sentinel_password`` set the sentinels'
own instead (an empty ``sentinel_password=``: the sentinels take no AUTH). Percent-escapes
are decoded. Anything else is a `ConfigError` that names what is wrong.

Connection settings apply to the master's connections, except ``max_connections`` and
``pool_timeout``, which size the client's blocking pool (as for a standalone URL); the
sentinels' connections take the ``socket_*`` settings (redis-py's choice) and no retries
(master discovery moves on to the next sentinel instead). An address (``host``, ``port``,
``unix_socket_path``), TLS (``ssl...``) and client-side caching do not apply to a URL:
give your own client (``Sentinel(...).master_for(...)``) for those.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel

from .._core.errors import ConfigError
from .shared import accepted_kwargs

__all__ = [
    "DEFAULT_SENTINEL_PORT",
    "DEFAULT_SERVICE_NAME",
    "SCHEME",
    "SentinelSetup",
    "SentinelURL",
    "is_sentinel_client",
    "is_sentinel_url",
    "parse_sentinel_url",
    "sentinel_client",
    "sentinel_setup",
    "sentinel_url_client",
]

SCHEME = "redis+sentinel"
DEFAULT_SENTINEL_PORT = 26379
DEFAULT_SERVICE_NAME = "mymaster"  # langchain-redis's default too

_QUERY = ("sentinel_username", "sentinel_password")
#: Connection settings a sentinel URL refuses: the sentinels name the address; TLS and
#: client-side caching need a client of one's own.
_NOT_FOR_URL = frozenset({"host", "port", "unix_socket_path", "cache", "cache_config", "metadata_resolver"})


@dataclass(frozen=True)
class SentinelURL:
    """What a ``redis+sentinel://`` URL says (passwords are left out of the repr)."""

    sentinels: tuple[tuple[str, int], ...]
    service_name: str
    db: int | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_username: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)


def is_sentinel_url(url: str) -> bool:
    """Whether ``url`` names the Sentinel scheme (case-insensitively), well-formed or not."""
    return url.lower().startswith((f"{SCHEME}:", "rediss+sentinel:"))


def _fail(url: str, what: str) -> ConfigError:
    return ConfigError(
        f"malformed Sentinel URL ({what}): expected "
        f"{SCHEME}://[user:password@]host:port[,host:port...]/service_name[/db], got {_masked(url)!r}"
    )


def _masked(url: str) -> str:
    """``url`` with its passwords (userinfo, ``sentinel_password=``) replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    end = min([i for i in map(rest.find, "/?#") if i != -1], default=len(rest))
    userinfo, at, hosts = rest[:end].rpartition("@")
    if ":" in userinfo:
        userinfo = userinfo.partition(":")[0] + ":***"
    tail = re.sub(r"(password=)[^&#]*", r"\1***", rest[end:])
    return f"{scheme}{sep}{userinfo}{at}{hosts}{tail}"


def _address(url: str, entry: str) -> tuple[str, int]:
    if not entry:
        raise _fail(url, "an empty sentinel address (two commas, or a comma at an end)")
    if entry.startswith("["):
        host, bracket, rest = entry[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise _fail(url, f"the IPv6 address {entry!r} is not [address]:port")
        port_text = rest[1:] if rest else ""
    else:
        host, colon, port_text = entry.rpartition(":")
        if not colon:
            host, port_text = entry, ""
        if ":" in host:
            raise _fail(url, f"{entry!r}: an IPv6 address goes in brackets, [address]:port")
    if not host:
        raise _fail(url, f"the sentinel address {entry!r} has no host")
    if port_text == "":
        return unquote(host), DEFAULT_SENTINEL_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise _fail(url, f"the port of {entry!r} is not a number from 1 to 65535")
    return unquote(host), int(port_text)


def parse_sentinel_url(url: str) -> SentinelURL:
    """The sentinels, service, db and credentials of a ``redis+sentinel://`` URL, or `ConfigError`."""
    scheme, sep, rest = url.partition("://")
    if scheme.lower() == "rediss+sentinel":
        raise ConfigError(
            "rediss+sentinel:// (TLS through Sentinel) is not supported by URL: give your own client, "
            "e.g. redis.sentinel.Sentinel(addresses, ssl=True, sentinel_kwargs={'ssl': True, ...})"
            ".master_for(service_name, ssl=True, ...)"
        )
    if not sep or scheme.lower() != SCHEME:
        raise _fail(url, f"the scheme is not {SCHEME}://")
    if "#" in rest:
        raise _fail(url, "a fragment (#...) means nothing here")
    end = min([i for i in map(rest.find, "/?") if i != -1], default=len(rest))
    netloc, rest = rest[:end], rest[end:]
    path, _, query = rest.partition("?")
    userinfo, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user_text, _, password_text = userinfo.partition(":")
        username, password = unquote(user_text) or None, unquote(password_text) or None
    if not hosts:
        raise _fail(url, "it names no sentinel")
    sentinels = tuple(_address(url, entry) for entry in hosts.split(","))
    segments = path.split("/")[1:] if path else []
    if segments and segments[-1] == "" and len(segments) > 1:
        segments.pop()  # a trailing slash
    if len(segments) > 2:
        raise _fail(url, f"the path {path!r} has more than /service_name/db")
    service = unquote(segments[0]) if segments and segments[0] else DEFAULT_SERVICE_NAME
    db = None
    if len(segments) == 2:
        if not segments[1].isdigit():
            raise _fail(url, f"the db {segments[1]!r} is not a number")
        db = int(segments[1])
    options = parse_qs(query, keep_blank_values=True) if query else {}
    unknown = sorted(set(options) - set(_QUERY))
    if unknown:
        raise _fail(
            url,
            f"unknown option(s) {', '.join(unknown)}: the URL takes only {' and '.join(_QUERY)}; "
            "give connection settings as keywords (from_url(url, socket_timeout=...))",
        )
    repeated = sorted(name for name, values in options.items() if len(values) > 1)
    if repeated:
        raise _fail(url, f"{', '.join(repeated)} given more than once")
    given = {name: values[0] or None for name, values in options.items()}
    return SentinelURL(
        sentinels,
        service,
        db,
        username,
        password,
        given["sentinel_username"] if "sentinel_username" in given else username,
        given["sentinel_password"] if "sentinel_password" in given else password,
    )


@dataclass
class SentinelSetup:
    """Everything a Sentinel-managed client is made of, flavour-free (retries as given)."""

    sentinels: list[tuple[str, int]]
    service_name: str
    connection_kwargs: dict[str, Any]  # the master's (or replicas') connections
    sentinel_kwargs: dict[str, Any]  # the sentinels' connections
    max_connections: int
    pool_timeout: float | None = None
    blocking: bool = True  # wait for a free connection (up to pool_timeout), or fail at once
    is_master: bool = True
    min_other_sentinels: int = 0
    force_master_ip: str | None = None


class _BlockingSentinelPool(redis.sentinel.SentinelConnectionPool, redis.BlockingConnectionPool):
    """A Sentinel-managed pool that waits up to ``timeout`` seconds for a free connection."""


class _AsyncBlockingSentinelPool(
    redis.asyncio.sentinel.SentinelConnectionPool, redis.asyncio.BlockingConnectionPool
):
    """The asyncio `_BlockingSentinelPool`."""


class _SentinelMaster(redis.Redis):
    """A Sentinel-managed client streamlog made: closing it closes its sentinel clients too."""

    def close(self) -> None:
        try:
            super().close()
        finally:
            manager: Any = self.connection_pool.sentinel_manager  # type: ignore[attr-defined]
            if callable(getattr(manager, "close", None)):  # redis-py >= 8.2
                manager.close()
            else:
                for sentinel in manager.sentinels:
                    sentinel.close()


class _AsyncSentinelMaster(redis.asyncio.Redis):
    """The asyncio `_SentinelMaster`."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        try:
            await super().aclose(close_connection_pool)
        finally:
            manager: Any = self.connection_pool.sentinel_manager  # type: ignore[attr-defined]
            if callable(getattr(manager, "aclose", None)):  # redis-py >= 8.2
                await manager.aclose()
            else:
                for sentinel in manager.sentinels:
                    await sentinel.aclose()


_POOLS: dict[bool, tuple[Any, Any]] = {  # to_async -> (blocking pool, redis-py's pool)
    False: (_BlockingSentinelPool, redis.sentinel.SentinelConnectionPool),
    True: (_AsyncBlockingSentinelPool, redis.asyncio.sentinel.SentinelConnectionPool),
}


def is_sentinel_client(client: Any) -> bool:
    """A redis-py client whose pool is Sentinel-managed (``Sentinel(...).master_for``), either flavour."""
    pool = getattr(client, "connection_pool", None)
    return isinstance(
        pool, (redis.sentinel.SentinelConnectionPool, redis.asyncio.sentinel.SentinelConnectionPool)
    )


def _init_params(cls: type) -> set[str]:
    """Every keyword the constructors along ``cls``'s MRO name (what ``**kwargs`` passes on to)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None:
            names |= {
                p.name
                for p in inspect.signature(init).parameters.values()
                if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name != "self"
            }
    return names


def sentinel_setup(client: Any) -> SentinelSetup:
    """What ``client`` (Sentinel-managed, either flavour) is made of: its sentinels, service, settings."""
    pool = client.connection_pool
    manager = pool.sentinel_manager
    addresses = []
    for sentinel in manager.sentinels:
        kwargs = sentinel.connection_pool.connection_kwargs
        addresses.append((kwargs["host"], int(kwargs["port"])))
    connection = {k: v for k, v in pool.connection_kwargs.items() if k != "connection_pool"}
    if "ssl" in pool.connection_class.__name__.lower():
        connection["ssl"] = True
    blocking = isinstance(pool, (redis.BlockingConnectionPool, redis.asyncio.BlockingConnectionPool))
    return SentinelSetup(
        addresses,
        pool.service_name,
        connection,
        dict(manager.sentinel_kwargs),
        pool.max_connections,
        pool.timeout if blocking else None,
        blocking,
        bool(pool.is_master),
        manager.min_other_sentinels,
        manager._force_master_ip,
    )


def sentinel_client(setup: SentinelSetup, *, to_async: bool, strict: bool = False) -> Any:
    """A new Sentinel-managed client (sync or asyncio) as ``setup`` says, owning its sentinel clients.

    Connection settings the target's connections do not take (redis-py's own bookkeeping
    in a pool's ``connection_kwargs``) are dropped, or with ``strict`` refused with a
    `ConfigError`; ``retry`` policies must already be of the target flavour.
    """
    redis_class: Any = redis.asyncio.Redis if to_async else redis.Redis
    blocking_pool, plain_pool = _POOLS[to_async]
    pool_class = blocking_pool if setup.blocking else plain_pool
    connection = dict(setup.connection_kwargs)
    ssl = bool(connection.pop("ssl", False))
    module: Any = redis.asyncio.sentinel if to_async else redis.sentinel
    connection_class = module.SentinelManagedSSLConnection if ssl else module.SentinelManagedConnection
    accepted = _init_params(connection_class) & set(inspect.signature(redis_class).parameters)
    dropped = sorted(set(connection) - accepted - {"host", "port"})
    if strict and dropped:
        raise ConfigError(
            f"{', '.join(dropped)}: not a setting of the connections of "
            f"{'an asyncio' if to_async else 'a sync'} Sentinel-managed client"
        )
    connection = {k: v for k, v in connection.items() if k in accepted and k not in ("host", "port")}
    manager = module.Sentinel(
        setup.sentinels,
        min_other_sentinels=setup.min_other_sentinels,
        sentinel_kwargs=accepted_kwargs(redis_class, setup.sentinel_kwargs),
        force_master_ip=setup.force_master_ip,
    )
    pool_settings: dict[str, Any] = {"max_connections": setup.max_connections}
    if setup.blocking:
        pool_settings["timeout"] = setup.pool_timeout
    for_service = manager.master_for if setup.is_master else manager.slave_for
    return for_service(
        setup.service_name,
        redis_class=_AsyncSentinelMaster if to_async else _SentinelMaster,
        connection_pool_class=pool_class,
        ssl=ssl,
        **connection,
        **pool_settings,
    )


def sentinel_url_client(
    url: str, *, to_async: bool, max_connections: int, pool_timeout: float | None, **connection: Any
) -> Any:
    """A new client of the master ``url`` names, with a blocking pool and ``connection`` settings."""
    target = parse_sentinel_url(url)
    refused = sorted(name for name in connection if name in _NOT_FOR_URL or name.startswith("ssl"))
    if refused:
        raise ConfigError(
            f"{', '.join(refused)} do(es) not apply to a {SCHEME}:// URL (the sentinels name the master's "
            "address; TLS and client-side caching need a client of your own): give "
            "redis.sentinel.Sentinel(...).master_for(service_name, ...) instead"
        )
    master = dict(connection)
    for name, value in (("username", target.username), ("password", target.password), ("db", target.db)):
        if value is not None:  # the URL wins over keywords, as in redis-py's from_url
            master[name] = value
    sentinel_kwargs = {k: v for k, v in connection.items() if k.startswith("socket_")}
    if target.sentinel_username is not None:
        sentinel_kwargs["username"] = target.sentinel_username
    if target.sentinel_password is not None:
        sentinel_kwargs["password"] = target.sentinel_password
    setup = SentinelSetup(
        list(target.sentinels), target.service_name, master, sentinel_kwargs, max_connections, pool_timeout
    )
    return sentinel_client(setup, to_async=to_async, strict=True)
