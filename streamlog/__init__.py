"""streamlog: LLM chat history as an event-sourced log on Redis Streams.

Every session is an append-only stream of msgspec-encoded events; a pure
projection rebuilds its messages; offsets give replay and time travel; the
partition feeds let workers react to every event. ``RedisStreamChatMessageHistory``
serves it all through LangChain's ``BaseChatMessageHistory``.
"""

from ._archiver import Archiver
from ._errors import (
    ConfigError,
    ConflictError,
    DecodeError,
    InvalidMessage,
    InvalidSessionId,
    NotReplicated,
    OffsetOutOfRange,
    PartitionMismatch,
    StoreError,
    StoreUnavailable,
    StreamlogError,
    UnknownEventKind,
    UnsupportedSchema,
    UnsupportedServer,
)
from ._events import (
    SCHEMA_VERSION,
    AnyEvent,
    Event,
    HistoryCleared,
    MessagesAppended,
    MessagesRemoved,
    SessionDeleted,
)
from ._fold import Entry, Projection
from ._history import RedisStreamChatMessageHistory, Streamlog
from ._indexer import SearchHit, SearchIndex
from ._keys import Keyspace
from ._retention import KeepLast, KeepNewerThan
from ._store import AsyncStreamStore, StreamStore
from ._trim import LastN, TokenBudget, TrimPolicy
from ._work import Delivery
from ._worker import AsyncWorker, Worker

__version__ = "0.1.0"

__all__ = [
    "SCHEMA_VERSION",
    "AnyEvent",
    "Archiver",
    "AsyncStreamStore",
    "AsyncWorker",
    "ConfigError",
    "ConflictError",
    "DecodeError",
    "Delivery",
    "Entry",
    "Event",
    "HistoryCleared",
    "InvalidMessage",
    "InvalidSessionId",
    "KeepLast",
    "KeepNewerThan",
    "Keyspace",
    "LastN",
    "MessagesAppended",
    "MessagesRemoved",
    "NotReplicated",
    "OffsetOutOfRange",
    "PartitionMismatch",
    "Projection",
    "RedisStreamChatMessageHistory",
    "SearchHit",
    "SearchIndex",
    "SessionDeleted",
    "StoreError",
    "StoreUnavailable",
    "StreamStore",
    "Streamlog",
    "StreamlogError",
    "TokenBudget",
    "TrimPolicy",
    "UnknownEventKind",
    "UnsupportedSchema",
    "UnsupportedServer",
    "Worker",
]


# The LangGraph checkpointers and the agent middleware need optional extras
# (streamlog[langgraph], streamlog[agents]): imported on first use, so `import streamlog`
# never needs LangGraph. They are not in __all__, so `from streamlog import *` never does.
def __getattr__(name: str) -> object:
    if name in ("StreamlogSaver", "AsyncStreamlogSaver"):
        from . import _checkpoint

        return getattr(_checkpoint, name)
    if name == "StreamlogMemory":
        from ._agent import StreamlogMemory

        return StreamlogMemory
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
