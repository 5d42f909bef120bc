"""Read flows: reads that do not grow with the session where they need not.

Rule: every way of reading a session is chosen and carried out here, and each
returns exactly what a full fold of the whole log (then the trimming policy)
would give. Four paths, cheapest first:

- **cached**: this process read the session before; one ``tail`` script returns only
  the events after the cached offset, or a miss if the log no longer holds that
  offset (deleted, expired or trimmed by another process since).
- **windowed**: a policy that only needs the end (``LastN``, ``TokenBudget`` without
  ``include_system``) reads the log backwards a page at a time (``XREVRANGE``) until
  the window is complete, honouring removals and clears it passes.
- **snapshot + tail**: one ``read`` script returns the latest snapshot and the log
  after it, atomically. A read that had to fold ``snapshot_every`` events or more
  writes a new snapshot (one more round trip, only then).
- **time travel**: the snapshot when it is at or before the offset, else the log.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeGuard

from . import codec as _codec
from .cache import ProjectionCache
from .errors import OffsetOutOfRange
from .events import AnyEvent
from .fold import Entry, Projection, Window, offset_key, paused_gc
from .keys import Keyspace, SessionKeys
from .plans import Flow, Plan, check_offset, entries, text
from .retention import Retention
from .scripts import EVENTS, READ, READ_AT, SNAPSHOT, TAIL, WINDOW
from .trim import TrimPolicy, WindowedPolicy

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

__all__ = ["Reads"]


def _session_keys(keys: SessionKeys) -> tuple[Any, ...]:
    return (4, keys.log, keys.snap, keys.idem, keys.idem_old)


def _status_entries(reply: Any) -> tuple[str, list[tuple[str, AnyEvent]]]:
    status = text(reply[0])
    return status, entries(reply[1]) if status == "ok" else []


def _read_reply(reply: Any) -> tuple[str, bytes, list[tuple[str, AnyEvent]]] | None:
    if text(reply[0]) == "empty":
        return None
    return text(reply[1]), reply[2], entries(reply[3])


_WINDOWED: dict[type, bool] = {}


def _windowed(policy: TrimPolicy) -> TypeGuard[WindowedPolicy]:
    """``policy`` is a `WindowedPolicy` whose ``windowed`` is true.

    The protocol check is cached per type: a runtime-checkable ``isinstance`` walks the
    protocol's members each time (about 10 us), which a read cannot afford.
    """
    kind = type(policy)
    known = _WINDOWED.get(kind)
    if known is None:
        known = _WINDOWED[kind] = isinstance(policy, WindowedPolicy)
    return known and bool(policy.windowed)  # type: ignore[attr-defined]


def _materialize(chosen: Sequence[Entry]) -> list[BaseMessage]:
    with paused_gc():
        return [e.message for e in chosen]


class Reads:
    """The read half of `StoreCore` (its settings live there)."""

    keyspace: Keyspace
    trim: TrimPolicy | None
    cache: ProjectionCache
    snapshot_every: int
    retention: Retention | None
    refresh_ttl_on_read: bool
    _ttl_ms: bytes

    @property
    def _touch(self) -> bytes:
        return self._ttl_ms if self.refresh_ttl_on_read else b"0"

    def messages(
        self, session_id: str, trim: TrimPolicy | None = None, until: str | None = None
    ) -> Flow[list[BaseMessage]]:
        """The visible messages (as of ``until``), trimmed by ``trim`` or the store's policy."""
        policy = trim if trim is not None else self.trim
        if until is not None:
            projection = yield from self.read_at(session_id, until)
        elif policy is not None and _windowed(policy) and self.cache.get(session_id) is None:
            suffix = yield from self.window(session_id, policy)
            return _materialize(policy.select(suffix))
        else:
            projection = yield from self.read(session_id)
        visible = projection.entries
        return _materialize(visible if policy is None else policy.select(visible))

    def window(self, session_id: str, policy: WindowedPolicy) -> Flow[list[Entry]]:
        """A suffix of the visible messages that holds ``policy``'s whole window."""
        keys = self.keyspace.session(session_id)
        window, end, count, touch = Window(), b"+", policy.page_size(), self._touch
        while True:
            if touch == b"0":
                # A plain XREVRANGE: a script would copy every entry into Lua strings and
                # back, which measured 5x the command's own server time for 28 entries.
                page = yield Plan((b"XREVRANGE", keys.log, end, b"-", b"COUNT", count), entries)
            else:
                page = yield Plan((*_session_keys(keys), end, count, touch), entries, WINDOW)
            with paused_gc():
                window.feed(page)
                suffix = window.entries
            if window.complete or len(page) < count or policy.enough(suffix):
                return suffix
            end, count, touch = ("(" + page[-1][0]).encode(), count * 2, b"0"

    def read(self, session_id: str) -> Flow[Projection]:
        """The full projection: cached + tail, or snapshot + tail."""
        keys = self.keyspace.session(session_id)
        base = self.cache.get(session_id)
        if base is not None:
            args = (*_session_keys(keys), base.last_offset, self._touch)
            status, tail = yield Plan(args, _status_entries, TAIL)
            if status == "ok":
                projection = base.copy() if tail else base
                with paused_gc():
                    projection.apply_all(tail)
                self.cache.put(session_id, projection, based_on=base)
                return projection
        reply = yield Plan((*_session_keys(keys), self._touch), _read_reply, READ)
        if reply is None:
            self.cache.forget(session_id)
            return Projection()
        snap_offset, snap, tail = reply
        with paused_gc():
            projection = self._restore(snap_offset, snap).apply_all(tail)
        if len(tail) >= self.snapshot_every:
            yield from self._snapshot(keys, projection)
        self.cache.put(session_id, projection, based_on=None)
        return projection

    def _restore(self, offset: str, snap: bytes) -> Projection:
        return Projection.restore(offset, *_codec.decode_snapshot(snap)) if offset else Projection()

    def _snapshot(self, keys: SessionKeys, projection: Projection) -> Flow[None]:
        visible = projection.entries
        payload = _codec.encode_snapshot([e.offset for e in visible], [e.record for e in visible])
        retention = self.retention.script_args() if self.retention is not None else (b"", b"0")
        args = (2, keys.log, keys.snap, projection.last_offset, payload, *retention)
        yield Plan(args, list, SNAPSHOT, optional=True)  # refused at maxmemory: the read goes on

    def read_at(self, session_id: str, until: str) -> Flow[Projection]:
        """The projection right after the event at ``until`` (time travel)."""
        keys = self.keyspace.session(session_id)
        until = check_offset(until, allow_bounds=False)
        reply = yield Plan((2, keys.log, keys.snap, until), list, READ_AT)
        status = text(reply[0])
        if status == "trimmed":
            raise OffsetOutOfRange(
                f"session {session_id!r}: offset {until} is before {text(reply[1])}, the oldest "
                "event retention kept, and older than the snapshot; its state cannot be rebuilt"
            )
        with paused_gc():
            projection = self._restore(text(reply[1]), reply[2]) if status == "snap" else Projection()
            return projection.apply_all(entries(reply[3]))

    def events(
        self, session_id: str, start: str = "-", end: str = "+", count: int | None = None
    ) -> Flow[list[tuple[str, AnyEvent]]]:
        """Events with offsets in ``[start, end]``; ``"(" + offset`` excludes that end.

        Raises OffsetOutOfRange if ``start`` names an offset below what retention kept.
        """
        keys = self.keyspace.session(session_id)
        args: tuple[Any, ...] = (2, keys.log, keys.snap, check_offset(start), check_offset(end))
        if count is not None:
            args += (int(count),)
        reply: tuple[str, list[tuple[str, AnyEvent]]] = yield Plan(
            args, lambda r: (text(r[0]), entries(r[1])), EVENTS
        )
        mark, page = reply
        if mark and start != "-" and offset_key(start.lstrip("(")) < offset_key(mark):
            raise OffsetOutOfRange(
                f"session {session_id!r}: events before {mark} were removed by retention; "
                f"replay from {mark} or '-' (the oldest event kept)"
            )
        return page

    def tail_plan(
        self, session_id: str, after: str, block_ms: int, count: int
    ) -> Plan[list[tuple[str, AnyEvent]]]:
        """One blocking read of the events after ``after`` (``"$"``: only new ones)."""
        keys = self.keyspace.session(session_id)
        if after != "$":
            check_offset(after, allow_bounds=False)
        args = (b"XREAD", b"COUNT", count, b"BLOCK", block_ms, b"STREAMS", keys.log, after)
        return Plan(args, _xread_entries, blocking=True)

    def last_offset(self, session_id: str) -> Flow[str | None]:
        """The offset of the session's last event, or None if it has none."""
        keys = self.keyspace.session(session_id)
        reply = yield Plan((b"XREVRANGE", keys.log, b"+", b"-", b"COUNT", 1), list)
        return text(reply[0][0]) if reply else None


def _xread_entries(reply: Any) -> list[tuple[str, AnyEvent]]:
    # RESP2: [[key, entries]]; RESP3: {key: entries}; None when the block timed out.
    if not reply:
        return []
    streams = reply.values() if isinstance(reply, dict) else [item[1] for item in reply]
    return [pair for stream in streams for pair in entries(unnest(stream))]


def unnest(stream: Any) -> Any:
    """Entries of one stream; redis-py's RESP3 XREAD callback (cluster clients) wraps them once more."""
    if stream and stream[0] and not isinstance(stream[0][0], (bytes, str)):
        return stream[0]
    return stream
