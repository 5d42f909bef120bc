"""The event types: what a session's log and a partition's feed hold.

Rule: the wire format of an event is decided here and nowhere else. Everything a
stored event can mean is a field of one of these Structs; renaming a class never
changes the wire format because every event has an explicit ``tag``.

Schema evolution follows msgspec's rules
(https://jcristharif.com/msgspec/structs.html#schema-evolution):

- a new field always gets a default, so older events still decode;
- ``forbid_unknown_fields`` is never set, so an older reader skips fields that a
  newer writer added (additive changes need no version bump);
- a change an older reader must not misread (a field whose meaning changes) bumps
  ``SCHEMA_VERSION``; the writer then stores ``v`` explicitly, and older readers
  raise `UnsupportedSchema` instead of guessing.

``v`` defaults to 1 *forever* and is omitted when it is 1 (``omit_defaults``), so a
version-1 event costs no bytes for it; changing that default would make old
events claim the new version.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "SCHEMA_VERSION",
    "AnyEvent",
    "Event",
    "HistoryCleared",
    "MessagesAppended",
    "MessagesRemoved",
    "SessionDeleted",
]

#: The newest event schema version this code reads and writes.
SCHEMA_VERSION = 1


class Event(msgspec.Struct, tag_field="kind", frozen=True, kw_only=True, omit_defaults=True):
    """Base of every event. ``v`` is the schema version the writer used."""

    v: int = 1


class MessagesAppended(Event, tag="append", frozen=True):
    """Messages were added to the session, in this order.

    Each message is a record made by `records.to_record`: the
    message's type plus its non-default fields. streamlog writes one message per
    event so every message has its own offset; a reader accepts any number.
    """

    messages: tuple[dict[str, Any], ...]


class MessagesRemoved(Event, tag="remove", frozen=True):
    """Messages with these ids stop being visible (LangGraph's ``RemoveMessage``).

    An id that matches no visible message removes nothing; the event stays in the
    log either way.
    """

    ids: tuple[str, ...]


class HistoryCleared(Event, tag="clear", frozen=True):
    """Everything appended before this event stops being visible.

    The log keeps it all: replay and time travel still see what was cleared.
    """


class SessionDeleted(Event, tag="delete", frozen=True):
    """Tombstone written to the partition feed when a session is erased.

    It never appears in a session log (the log is deleted); it tells workers to
    forget the session's events before it. ``expired``: the erasure was a sweep of a
    session whose TTL lapsed, not a `delete` (a field added in 0.2 with a default, so
    it costs no bytes when false and 0.1 readers read it as a plain tombstone).
    """

    expired: bool = False


AnyEvent = MessagesAppended | MessagesRemoved | HistoryCleared | SessionDeleted
