"""The projection: events in, visible messages out.

Rule: everything that decides which messages a session shows lives here, and it
is a pure function of the events in offset order. A `Projection` is an
IO-free object driven by its caller (as h11's ``Connection`` is): the store feeds
it events it read, and a cache can keep feeding it the events that came later.

Folding is idempotent per offset: an event at or before `Projection.last_offset`
was already applied and is ignored, so folding a prefix and then everything again
gives the same state as folding everything once.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .events import AnyEvent, HistoryCleared, MessagesAppended, MessagesRemoved, SessionDeleted
from .records import from_record

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

__all__ = ["Entry", "Projection", "Window", "offset_key", "paused_gc"]


class _PausedGC:
    """Pause the cyclic garbage collector while a read builds many acyclic objects.

    Reading 10k messages allocates ~100k containers; the collector would run full
    passes over the whole heap several times meanwhile, which measured here as half
    of the read's time. Nothing built here forms cycles, so pausing loses nothing.
    Re-enabled only if it was enabled, so concurrent readers and callers that keep
    GC off themselves are respected. (A class, not ``@contextmanager``: it runs on
    every read, and a generator-based manager costs several times more.)
    """

    __slots__ = ("_was_enabled",)

    def __enter__(self) -> None:
        self._was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self._was_enabled:
            gc.enable()


def paused_gc() -> _PausedGC:
    """A context manager that pauses the cyclic GC (see `_PausedGC`)."""
    return _PausedGC()


def offset_key(offset: str) -> tuple[int, int]:
    """Order key of a stream id ``"<ms>-<seq>"`` (a bare ``"<ms>"`` means seq 0)."""
    ms, _, seq = offset.partition("-")
    return int(ms), int(seq or 0)


class Entry:
    """One visible message: its offset, its stored record, and the message built once."""

    __slots__ = ("_message", "offset", "record")

    def __init__(self, offset: str, record: dict[str, Any]) -> None:
        self.offset = offset
        self.record = record
        self._message: BaseMessage | None = None

    @property
    def message(self) -> BaseMessage:
        # Built lazily: a window of 20 over 10,000 records builds 20 messages.
        if self._message is None:
            self._message = from_record(self.record)
        return self._message

    @property
    def type(self) -> str:
        return str(self.record.get("type"))

    def __repr__(self) -> str:
        return f"Entry({self.offset!r}, {self.record!r})"


class Projection:
    """The state of one session after folding its events.

    ``entries`` are the visible messages in order, each with the offset of the
    event that appended it. ``last_offset`` is the offset of the last event
    applied (``"0-0"`` before any).
    """

    __slots__ = ("_entries", "_last_key", "last_offset")

    def __init__(self) -> None:
        self._entries: list[Entry] = []
        self.last_offset = "0-0"
        self._last_key = (0, 0)

    def apply(self, offset: str, event: AnyEvent) -> None:
        """Apply one event read at ``offset``; events at or before ``last_offset`` are ignored."""
        key = offset_key(offset)
        if key <= self._last_key:
            return
        if isinstance(event, MessagesAppended):
            self._entries.extend(Entry(offset, record) for record in event.messages)
        elif isinstance(event, MessagesRemoved):
            gone = set(event.ids)
            self._entries = [e for e in self._entries if e.record.get("id") not in gone]
        elif isinstance(event, (HistoryCleared, SessionDeleted)):
            self._entries = []
        self.last_offset = offset
        self._last_key = key

    def apply_all(self, events: Iterable[tuple[str, AnyEvent]]) -> Projection:
        """Apply ``(offset, event)`` pairs in offset order; returns ``self`` for chaining."""
        pending = iter(events)
        for offset, event in pending:
            if offset_key(offset) > self._last_key:
                self.apply(offset, event)
                break
        # The rest are newer than the first applied one: no per-event order check.
        entries = self._entries
        last = None
        for offset, event in pending:
            if type(event) is MessagesAppended:
                entries.extend(Entry(offset, record) for record in event.messages)
            elif isinstance(event, MessagesRemoved):
                gone = set(event.ids)
                entries[:] = [e for e in entries if e.record.get("id") not in gone]
            elif isinstance(event, (HistoryCleared, SessionDeleted)):
                entries.clear()
            last = offset
        if last is not None:
            self.last_offset = last
            self._last_key = offset_key(last)
        return self

    @property
    def entries(self) -> list[Entry]:
        """The visible messages with their offsets (a new list; entries are shared)."""
        return list(self._entries)

    @classmethod
    def restore(cls, offset: str, offsets: list[str], records: list[dict[str, Any]]) -> Projection:
        """The projection a snapshot at ``offset`` describes."""
        p = cls()
        p._entries = [Entry(o, r) for o, r in zip(offsets, records, strict=True)]
        p.last_offset, p._last_key = offset, offset_key(offset)
        return p

    def copy(self) -> Projection:
        """A projection in the same state that folds on independently (entries are shared)."""
        other = Projection()
        other._entries = list(self._entries)
        other.last_offset, other._last_key = self.last_offset, self._last_key
        return other

    @property
    def messages(self) -> list[BaseMessage]:
        """The visible messages, untrimmed."""
        return [e.message for e in self._entries]

    def __len__(self) -> int:
        return len(self._entries)


class Window:
    """Folds events newest first, for reads that need only the end of a session.

    Walking backwards, a message is visible unless a removal *after* it named its
    id, and a clear hides everything before it, so the walk stops there. After any
    prefix of the newest-first events, ``entries`` is the matching suffix of what a
    full fold shows (in order), and ``complete`` says whether nothing older can add
    to it.
    """

    __slots__ = ("_removed", "_visible", "complete")

    def __init__(self) -> None:
        self._removed: set[str] = set()
        self._visible: list[Entry] = []  # newest first
        self.complete = False

    def feed(self, events: Iterable[tuple[str, AnyEvent]]) -> None:
        """Take the next (older) events, newest first."""
        removed, visible = self._removed, self._visible
        for offset, event in events:
            if self.complete:
                return
            if type(event) is MessagesAppended:
                for record in reversed(event.messages):
                    if record.get("id") not in removed:
                        visible.append(Entry(offset, record))
            elif isinstance(event, MessagesRemoved):
                removed.update(event.ids)
            elif isinstance(event, (HistoryCleared, SessionDeleted)):
                self.complete = True

    @property
    def entries(self) -> list[Entry]:
        """The visible suffix read so far, oldest first."""
        return self._visible[::-1]
