"""Command plans and flows: what to send to Redis, and what its replies mean.

Rule: every command streamlog sends is built here and every reply is parsed here,
so the sync and async shells only move bytes. This follows redis-py's own split
(one command builder shared by both clients; only ``execute_command`` differs):

- a :class:`Plan` is one command (or one script call) plus the function that
  parses its reply;
- a *flow* is a generator that yields plans and receives their parsed results
  (``result = yield plan``), for operations that need several round trips. The
  shells drive flows with a ten-line loop each; nothing else is written twice.

Replies arrive undecoded (the shells send every command with redis-py's
``NEVER_DECODE``), so payloads stay bytes even on a client made with
``decode_responses=True``; parsers here still accept ``str`` for ids, because
RESP3 and fakeredis differ in small ways.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from langchain_core.messages import RemoveMessage

from . import _codec
from ._errors import (
    ConfigError,
    ConflictError,
    InvalidMessage,
    OffsetOutOfRange,
    PartitionMismatch,
    StoreError,
    UnsupportedServer,
)
from ._events import AnyEvent, HistoryCleared, MessagesAppended, MessagesRemoved, SessionDeleted
from ._fold import Projection, paused_gc
from ._keys import Keyspace, SessionKeys, session_id_bytes
from ._records import to_record
from ._scripts import APPEND, CONFIGURE, DELETE, Script

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

__all__ = ["Flow", "Ops", "Plan", "run"]

T = TypeVar("T")

#: A generator that yields plans, receives their parsed results, and returns T.
Flow = Generator["Plan[Any]", Any, T]

# LangGraph's sentinel id: RemoveMessage(id=REMOVE_ALL_MESSAGES) clears the history.
REMOVE_ALL_MESSAGES = "__remove_all__"
_CLEARED = _codec.encode(HistoryCleared())
_OFFSET = re.compile(r"\A\d{1,20}(-\d{1,20})?\Z")


@dataclass(frozen=True)
class Plan(Generic[T]):
    """One command: ``args`` (without ``EVALSHA sha`` for a script) and a reply parser."""

    args: tuple[Any, ...]
    parse: Callable[[Any], T]
    script: Script | None = None


def run(plan: Plan[T]) -> Flow[T]:
    """A flow of a single plan."""
    result: T = yield plan
    return result


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def check_offset(offset: str, *, allow_bounds: bool = True) -> str:
    """Validate a stream id (``"<ms>-<seq>"`` or ``"<ms>"``), ``"-"``/``"+"``, or ``"(<id>"``."""
    if not isinstance(offset, str):
        raise OffsetOutOfRange(f"an offset is a str like '1732300000000-0', not {offset!r}")
    if allow_bounds and offset in ("-", "+"):
        return offset
    bare = offset[1:] if allow_bounds and offset.startswith("(") else offset
    if not _OFFSET.match(bare):
        raise OffsetOutOfRange(f"not a stream offset: {offset!r} (expected like '1732300000000-0')")
    return offset


def _entries(reply: Any) -> list[tuple[str, AnyEvent]]:
    """Decode an XRANGE/XREVRANGE reply: redis-py's ``[(id, {field: value})]`` or raw pairs."""
    out = []
    decode = _codec.decode
    with paused_gc():
        for entry_id, fields in reply:
            payload = fields[b"e"] if isinstance(fields, dict) else fields[fields.index(b"e") + 1]
            out.append((entry_id.decode() if type(entry_id) is bytes else str(entry_id), decode(payload)))
    return out


def _pair(reply: Any) -> tuple[str, str]:
    return _text(reply[0]), _text(reply[1])


class Ops:
    """The IO-free half of a store: settings, key names, and every flow.

    A shell (sync or async) owns one ``Ops`` and drives the flows it returns.
    """

    def __init__(
        self,
        keyspace: Keyspace,
        *,
        ttl: float | None = None,
        trim: Any = None,
        max_message_bytes: int | None = 1 << 20,
        idempotency_memory: int = 1000,
    ) -> None:
        if ttl is not None and (isinstance(ttl, bool) or not ttl > 0):
            raise ConfigError(f"ttl is a positive number of seconds or None, not {ttl!r}")
        self.keyspace = keyspace
        self.ttl = ttl
        self.trim = trim
        self.max_message_bytes = max_message_bytes
        self.idempotency_memory = idempotency_memory
        self._ttl_ms = b"0" if ttl is None else str(max(1, int(ttl * 1000))).encode()
        self.ready = False

    # -- first use -------------------------------------------------------------

    def prepared(self, flow: Flow[T]) -> Flow[T]:
        """``flow``, preceded on first use by the server check and the partition guard."""
        return flow if self.ready else self._first_use(flow)

    def _first_use(self, flow: Flow[T]) -> Flow[T]:
        yield from self._handshake()
        self.ready = True
        return (yield from flow)

    def _handshake(self) -> Flow[None]:
        key = self.keyspace.config()
        status, value = yield Plan((1, key, self.keyspace.partitions), _pair, CONFIGURE)
        if status == "old":
            raise UnsupportedServer(f"streamlog needs Redis >= 6.2 or Valkey (XAUTOCLAIM): {value}")
        if int(value) != self.keyspace.partitions:
            raise PartitionMismatch(self.keyspace.partitions, int(value), key.decode())

    # -- writes ----------------------------------------------------------------

    def payloads(self, messages: Iterable[BaseMessage]) -> list[bytes]:
        """One encoded event per message, checked before anything is sent."""
        if not isinstance(messages, (list, tuple)):
            if isinstance(messages, (str, bytes, dict)) or not isinstance(messages, Iterable):
                raise InvalidMessage(f"expected a sequence of messages, not {type(messages).__name__}")
            messages = list(messages)
        out = []
        for message in messages:
            event: AnyEvent
            if isinstance(message, RemoveMessage):
                if message.id is None:
                    raise InvalidMessage("a RemoveMessage needs the id of the message to remove")
                if message.id == REMOVE_ALL_MESSAGES:
                    event = HistoryCleared()
                else:
                    event = MessagesRemoved(ids=(message.id,))
            else:
                event = MessagesAppended(messages=(to_record(message),))
            payload = _codec.encode(event)
            if self.max_message_bytes is not None and len(payload) > self.max_message_bytes:
                raise InvalidMessage(
                    f"a message encodes to {len(payload)} bytes; the limit is "
                    f"{self.max_message_bytes} (max_message_bytes); nothing was written"
                )
            out.append(payload)
        return out

    def append(
        self,
        session_id: str,
        messages: Iterable[BaseMessage],
        *,
        idempotency_key: str | None = None,
        expected_offset: str | None = None,
    ) -> Flow[list[str]]:
        """Append messages in one atomic step; the flow returns one offset per message.

        Everything is validated and encoded here, before the flow sends anything.
        """
        keys = self.keyspace.session(session_id)
        payloads = self.payloads(messages)
        if expected_offset is not None:
            check_offset(expected_offset, allow_bounds=False)
        if idempotency_key is not None and (not isinstance(idempotency_key, str) or not idempotency_key):
            raise ConfigError(f"an idempotency key is a non-empty str, not {idempotency_key!r}")
        return self._append(session_id, keys, payloads, idempotency_key, expected_offset)

    def clear(self, session_id: str) -> Flow[str]:
        """Append a ``HistoryCleared`` event; the flow returns its offset."""
        keys = self.keyspace.session(session_id)
        offsets = yield from self._append(session_id, keys, [_CLEARED], None, None)
        return offsets[0]

    def _append(
        self,
        session_id: str,
        keys: SessionKeys,
        payloads: Sequence[bytes],
        idempotency_key: str | None,
        expected_offset: str | None,
    ) -> Flow[list[str]]:
        if not payloads:
            return []

        def parse(reply: Any) -> list[str]:
            status = _text(reply[0])
            if status == "ok":
                return [_text(i) for i in reply[1:]]
            if status == "dup":
                return _text(reply[1]).split(",")
            if status == "conflict":
                raise ConflictError(session_id, str(expected_offset), _text(reply[1]))
            raise StoreError(f"unexpected reply from the append script: {reply!r}")

        args = (
            5, keys.log, keys.feed, keys.sessions, keys.idem, keys.idem_old,
            session_id_bytes(session_id), self._ttl_ms,
            expected_offset or b"", idempotency_key or b"", self.idempotency_memory,
            *payloads,
        )  # fmt: skip
        offsets: list[str] = yield Plan(args, parse, APPEND)
        return offsets

    def delete(self, session_id: str) -> Flow[bool]:
        """Erase every key of the session and put a tombstone on its feed."""
        keys = self.keyspace.session(session_id)
        tombstone = _codec.encode(SessionDeleted())
        sid = session_id_bytes(session_id)
        args = (5, keys.log, keys.idem, keys.idem_old, keys.sessions, keys.feed, sid, tombstone)
        existed: bool = yield Plan(args, lambda r: int(r[1]) > 0, DELETE)
        return existed

    # -- reads -----------------------------------------------------------------

    def events(
        self, session_id: str, start: str = "-", end: str = "+", count: int | None = None
    ) -> Flow[list[tuple[str, AnyEvent]]]:
        """Events with offsets in ``[start, end]``; ``"(" + offset`` excludes that end."""
        keys = self.keyspace.session(session_id)
        # The command name is sent as bytes on purpose: redis-py looks response
        # callbacks up by name, and its XRANGE callback (a tuple and a dict per entry)
        # would double the time of a 10k-entry read; a bytes name gets the raw reply.
        args: tuple[Any, ...] = (b"XRANGE", keys.log, check_offset(start), check_offset(end))
        if count is not None:
            args += ("COUNT", int(count))
        events: list[tuple[str, AnyEvent]] = yield Plan(args, _entries)
        return events

    def read(self, session_id: str, until: str = "+") -> Flow[Projection]:
        """The session's full projection, as of ``until`` (inclusive)."""
        events = yield from self.events(session_id, "-", until)
        with paused_gc():
            return Projection().apply_all(events)

    def messages(self, session_id: str, trim: Any = None, until: str = "+") -> Flow[list[BaseMessage]]:
        """The visible messages, trimmed by ``trim`` (or the store's policy)."""
        projection = yield from self.read(session_id, until)
        policy = trim if trim is not None else self.trim
        entries = projection.entries if policy is None else policy.select(projection.entries)
        with paused_gc():
            return [e.message for e in entries]

    def last_offset(self, session_id: str) -> Flow[str | None]:
        """The offset of the session's last event, or None if it has none."""
        keys = self.keyspace.session(session_id)
        reply = yield Plan((b"XREVRANGE", keys.log, b"+", b"-", b"COUNT", 1), list)
        return _text(reply[0][0]) if reply else None

    def session_keys(self, session_id: str) -> SessionKeys:
        return self.keyspace.session(session_id)
