"""What both store shells share: the exception boundary, and how a plan becomes a command.

Rule: a shell builds no command and interprets no reply. It sends what a `Plan` says,
hands the reply to the plan's parser, and drives flows with the core's `drive` /
`adrive`; redis-py's exceptions become streamlog's at this boundary and nowhere else.
"""

from __future__ import annotations

import inspect
from typing import Any

import redis
from redis.exceptions import NoScriptError

from .._core.errors import (
    ConfigError,
    OutOfMemory,
    PoolExhausted,
    StoreError,
    StoreUnavailable,
    UnsupportedServer,
)
from .._core.keys import Keyspace
from .._core.plans import Plan
from .._core.settings import StoreSettings
from .._core.store import StoreCore

__all__ = ["Shell", "accepted_kwargs", "is_cluster_client", "is_out_of_memory", "map_exceptions"]


class map_exceptions:
    """Raise redis-py's exceptions as streamlog's, ``from`` the original.

    A class rather than ``@contextmanager``: it wraps every command, and a
    generator-based manager costs several times more per use.
    """

    __slots__ = ("client",)

    def __init__(self, client: Any = None) -> None:
        self.client = client  # whose pool a "no connection" error describes

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None or not isinstance(exc, redis.RedisError):
            return
        if isinstance(exc, redis.ConnectionError) and _pool_refused(exc):
            pool = getattr(self.client, "connection_pool", None)
            size, wait = getattr(pool, "max_connections", None), getattr(pool, "timeout", None)
            raise PoolExhausted(size if isinstance(size, int) else None, wait, str(exc)) from exc
        if isinstance(exc, redis.exceptions.MovedError):  # a plain client reached a cluster node
            raise ConfigError(
                f"the server is a Redis Cluster node (MOVED {exc}): use a cluster client, e.g. "
                "StreamStore.from_url(url, cluster=True) or the CLI's --cluster"
            ) from exc
        if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
            raise StoreUnavailable(f"Redis is unreachable or timed out: {exc}") from exc
        text = str(exc).lower()
        if isinstance(exc, redis.ResponseError) and is_out_of_memory(exc):
            raise OutOfMemory(
                f"the server is at maxmemory and refused a write; nothing of this call was written "
                f"(free memory, raise maxmemory, or let workers trim the feeds): {exc}"
            ) from exc
        if (
            isinstance(exc, redis.ResponseError)
            and "unknown command" in text
            and ("eval" in text or "xautoclaim" in text)
        ):
            raise UnsupportedServer(
                f"the server cannot run streamlog (needs Lua, Redis >= 6.2): {exc}"
            ) from exc
        raise StoreError(f"Redis error: {exc}") from exc


def is_out_of_memory(exc: BaseException) -> bool:
    """A write refused at maxmemory (``OOM command not allowed when used memory > 'maxmemory'``)."""
    return "used memory > 'maxmemory'" in str(exc)


def _pool_refused(exc: BaseException) -> bool:
    """A pool that gave no connection: redis-py's blocking pool timed out, or a plain pool is full."""
    return type(exc).__name__ == "MaxConnectionsError" or str(exc) in (
        "No connection available.",
        "Too many connections",
    )


class _RawName(str):
    """A command name the cluster client routes like any str, but finds no reply callback for.

    Plans name read commands in bytes so that redis-py hands the raw reply to the
    plan's parser: it looks callbacks up with ``name.upper()`` in a case-insensitive
    dict, and bytes match no key. The cluster client routes (and picks its policies)
    by str names, so on a cluster the name is this str, whose ``upper()`` matches no
    callback either. ``lower()`` and the bytes sent are those of the plain name.
    """

    __slots__ = ()

    def upper(self) -> str:
        return "\x00" + str.upper(self)


_RAW_NAMES: dict[bytes, _RawName] = {}


def _raw_name(name: bytes) -> _RawName:
    raw = _RAW_NAMES.get(name)
    if raw is None:
        raw = _RAW_NAMES[name] = _RawName(name.decode())
    return raw


def _command(plan: Plan[Any], fallback: bool = False, str_names: bool = False) -> tuple[Any, ...]:
    if plan.script is None:
        if str_names and type(plan.args[0]) is bytes:
            return (_raw_name(plan.args[0]), *plan.args[1:])
        return plan.args
    if fallback:
        return ("EVAL", plan.script.source, *plan.args)
    return ("EVALSHA", plan.script.sha, *plan.args)


def _settle_waiting(results: list[Any], fallback: bool) -> tuple[str, Any]:
    """What a ``command + WAIT`` pipeline's results mean: done, resend as EVAL, or topology moved."""
    reply, acked = results
    if isinstance(reply, NoScriptError) and not fallback:
        return "eval", None
    if isinstance(reply, redis.exceptions.MovedError):
        return "moved", reply
    if isinstance(reply, Exception):
        raise reply
    if isinstance(acked, Exception):
        raise acked
    return "done", (reply, acked)


def is_cluster_client(client: Any) -> bool:
    """A redis-py cluster client, sync or asyncio (or a wrapper of one): it routes by str names."""
    return callable(getattr(client, "get_nodes", None))


def accepted_kwargs(target: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The items of ``kwargs`` that ``target``'s constructor takes (to copy a client's settings)."""
    accepted = inspect.signature(target).parameters
    return {k: v for k, v in kwargs.items() if k in accepted}


class Shell:
    """What both shells share: the client, the settings, and the IO-free `StoreCore`."""

    def __init__(self, client: Any, settings: StoreSettings | None = None, **kwargs: Any) -> None:
        if settings is None:
            settings = StoreSettings.of(kwargs)
        elif kwargs:
            settings = settings.replace(**kwargs)
        self.client = client
        self.settings = settings
        self.core = StoreCore(settings)
        self._owns_client = False
        self._str_names = is_cluster_client(client)

    @property
    def keyspace(self) -> Keyspace:
        return self.core.keyspace

    def owns_client(self) -> None:
        """Close the client with the store (for a client the caller made for it)."""
        self._owns_client = True
