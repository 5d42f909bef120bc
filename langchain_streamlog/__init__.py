"""langchain_streamlog: LLM chat history as an event-sourced log on Redis Streams.

Every session is an append-only stream of msgspec-encoded events; a pure
projection rebuilds its messages; offsets give replay and time travel; the
partition feeds let workers react to every event. ``RedisStreamChatMessageHistory``
serves it all through LangChain's ``BaseChatMessageHistory``.
"""

import typing

from ._core.errors import (
    ConfigError,
    ConflictError,
    DecodeError,
    InvalidMessage,
    InvalidSessionId,
    NotReplicated,
    OffsetOutOfRange,
    OutOfMemory,
    PartitionMismatch,
    PoolExhausted,
    StoreError,
    StoreUnavailable,
    StreamlogError,
    UnknownEventKind,
    UnsupportedSchema,
    UnsupportedServer,
)
from ._core.events import (
    SCHEMA_VERSION,
    AnyEvent,
    Event,
    HistoryCleared,
    MessagesAppended,
    MessagesRemoved,
    SessionDeleted,
)
from ._core.fold import Entry, Projection
from ._core.groups import Delivery
from ._core.keys import Keyspace
from ._core.retention import KeepLast, KeepNewerThan
from ._core.settings import StoreSettings
from ._core.trim import LastN, TokenBudget, TrimPolicy, WindowedPolicy
from ._history import RedisStreamChatMessageHistory, Streamlog
from ._store import AsyncStreamStore, StreamStore
from ._workers.archiver import Archiver
from ._workers.indexer import SearchHit, SearchIndex
from ._workers.runtime import AsyncWorker, Worker

__version__ = "0.2.0"

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
    "OutOfMemory",
    "PartitionMismatch",
    "PoolExhausted",
    "Projection",
    "RedisStreamChatMessageHistory",
    "SearchHit",
    "SearchIndex",
    "SessionDeleted",
    "StoreError",
    "StoreSettings",
    "StoreUnavailable",
    "StreamStore",
    "Streamlog",
    "StreamlogError",
    "TokenBudget",
    "TrimPolicy",
    "UnknownEventKind",
    "UnsupportedSchema",
    "UnsupportedServer",
    "WindowedPolicy",
    "Worker",
]


if typing.TYPE_CHECKING:  # the lazy names below, as the type checker should see them
    from .agents import StreamlogMemory as StreamlogMemory
    from .langgraph import AsyncStreamlogSaver as AsyncStreamlogSaver
    from .langgraph import StreamlogSaver as StreamlogSaver


# The LangGraph checkpointers and the agent middleware need optional extras
# (langchain-streamlog[langgraph], langchain-streamlog[agents]): imported on first use, so
# `import langchain_streamlog` never needs LangGraph. They are not in __all__, so
# `from langchain_streamlog import *` never does; `langchain_streamlog.langgraph` and
# `langchain_streamlog.agents` are their public homes.
def __getattr__(name: str) -> typing.Any:
    if name in ("StreamlogSaver", "AsyncStreamlogSaver"):
        from . import langgraph

        return getattr(langgraph, name)
    if name == "StreamlogMemory":
        from .agents import StreamlogMemory

        return StreamlogMemory
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
