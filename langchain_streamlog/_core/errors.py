"""Every exception streamlog raises on purpose.

Rule: an exception a user may want to catch is defined here and nowhere else, and it
carries the facts of the failure as attributes, not only in its message.

The tree::

    StreamlogError
    ├── ConfigError                 a setting is invalid or contradicts what Redis holds
    │   ├── PartitionMismatch       this client's partition count differs from the recorded one
    │   └── UnsupportedServer       the server lacks what streamlog needs (Redis < 6.2, no Lua)
    ├── ConflictError               an append's expected offset was not the last offset
    ├── DecodeError                 stored bytes are not a valid event
    │   ├── UnknownEventKind        an event kind this reader does not know (newer writer)
    │   └── UnsupportedSchema       an event schema version newer than this reader
    ├── InvalidSessionId            (also a ValueError) empty, too long, or not text
    ├── InvalidMessage              (also a ValueError) not a message, too big, or not encodable
    ├── OffsetOutOfRange            (also a ValueError) an offset that is malformed or not held
    └── StoreError                  Redis failed or answered unexpectedly
        ├── OutOfMemory             the server is at maxmemory and refused a write: nothing was written
        ├── StoreUnavailable        the connection failed or timed out
        │   └── PoolExhausted       no connection of the pool became free in time: nothing was sent
        └── NotReplicated           a durable append was written, but too few replicas confirmed it
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConflictError",
    "DecodeError",
    "InvalidMessage",
    "InvalidSessionId",
    "NotReplicated",
    "OffsetOutOfRange",
    "OutOfMemory",
    "PartitionMismatch",
    "PoolExhausted",
    "StoreError",
    "StoreUnavailable",
    "StreamlogError",
    "UnknownEventKind",
    "UnsupportedSchema",
    "UnsupportedServer",
]


class StreamlogError(Exception):
    """Root of every exception streamlog raises on purpose."""


class ConfigError(StreamlogError):
    """A setting is invalid, or contradicts what the Redis deployment records."""


class PartitionMismatch(ConfigError):
    """This client's partition count differs from the one recorded in Redis.

    Raised before anything is written, so a misconfigured client cannot put a
    session into the wrong partition.
    """

    def __init__(self, configured: int, recorded: int, key: str) -> None:
        self.configured = configured
        self.recorded = recorded
        self.key = key
        super().__init__(
            f"this client is configured with partitions={configured}, but {key!r} records "
            f"partitions={recorded}; use partitions={recorded} (the count is fixed per deployment)"
        )


class UnsupportedServer(ConfigError):
    """The server cannot run streamlog (needs Redis >= 6.2 or Valkey, with Lua scripting)."""


class ConflictError(StreamlogError):
    """An append stated the offset it expected to be last, and another offset was last.

    Nothing was written. ``expected`` is what the caller stated, ``actual`` what the
    log holds (``"0-0"`` for an empty or missing session).
    """

    def __init__(self, session_id: str, expected: str, actual: str) -> None:
        self.session_id = session_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"session {session_id!r}: expected last offset {expected}, but it is {actual}; "
            "nothing was written"
        )


class DecodeError(StreamlogError):
    """Stored bytes could not be decoded into an event."""


class UnknownEventKind(DecodeError):
    """An event kind this reader does not know, most likely written by a newer streamlog."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__(
            f"unknown event kind {kind!r}: written by a newer streamlog? "
            "upgrade this reader; the event was not skipped"
        )


class UnsupportedSchema(DecodeError):
    """An event declares a schema version newer than this reader understands."""

    def __init__(self, version: int, supported: int) -> None:
        self.version = version
        self.supported = supported
        super().__init__(
            f"event schema version {version} is newer than the {supported} this reader "
            "understands; upgrade streamlog"
        )


class InvalidSessionId(StreamlogError, ValueError):
    """A session id that cannot name a session (empty, too long, not text)."""


class InvalidMessage(StreamlogError, ValueError):
    """Something given as a message is not one, is too big, or cannot be encoded."""


class OffsetOutOfRange(StreamlogError, ValueError):
    """An offset that is not a stream id, or that points where the log holds nothing."""


class StoreError(StreamlogError):
    """Redis failed, or answered in a way streamlog did not expect."""


class OutOfMemory(StoreError):
    """The server is at ``maxmemory`` (policy ``noeviction``) and refused a write.

    Nothing of the refused operation was written (every script's first write is the one a
    full server refuses). Reads keep working, and so do workers draining their groups, which
    frees memory as they trim the feeds. Free memory, raise ``maxmemory``, or trim sooner.
    """


class StoreUnavailable(StoreError):
    """The connection to Redis failed or timed out; the operation's outcome is unknown."""


class PoolExhausted(StoreUnavailable):
    """Every connection of the client's pool stayed busy for as long as a call may wait.

    The command was never sent, so nothing was written: retrying is always safe.
    ``max_connections`` is the pool's size and ``timeout`` the wait in seconds (None:
    the pool does not wait, as redis-py's default ``ConnectionPool``).
    """

    def __init__(self, max_connections: int | None, timeout: float | None, detail: str) -> None:
        self.max_connections = max_connections
        self.timeout = timeout
        size = f"all {max_connections} connections" if max_connections else "every connection"
        waited = f"stayed busy for {timeout:g} s" if timeout else "were busy and the pool does not wait"
        super().__init__(
            f"the connection pool is exhausted: {size} {waited} ({detail}); nothing was sent. "
            "Raise max_connections or pool_timeout, or lower the number of calls in flight"
        )


class NotReplicated(StoreError):
    """A durable append was written on the master, but fewer replicas than asked confirmed it.

    The append happened (``offsets``); it is at risk only if the master fails before
    its replicas catch up. Retrying with the same idempotency key does not append twice.
    """

    def __init__(self, offsets: list[str], acknowledged: int, wanted: int, timeout_ms: int) -> None:
        self.offsets = offsets
        self.acknowledged = acknowledged
        self.wanted = wanted
        super().__init__(
            f"appended at {offsets[0]}..{offsets[-1]}, but {acknowledged} of the {wanted} replicas "
            f"asked for confirmed it within {timeout_ms} ms (WAIT)"
        )
