"""The operator's side, IO-free: which sessions are active, what a deployment holds, and
erasing a whole deployment.

Rule: sessions are found through each partition's session index (a sorted set of
session id -> last activity in ms, kept by every append), never by ``KEYS`` or a
scan of the keyspace; everything is flows of plans, as in ``_reads``.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from .groups import group_names, group_stats
from .keys import Keyspace
from .plans import Flow, Plan, scored, text

__all__ = ["SessionRow", "Stats", "drop_deployment", "recent_sessions", "stats"]

_PAGE = 500


@dataclass(frozen=True)
class SessionRow:
    """One session in the index: its id, last activity (ms), events in its log, last offset."""

    session_id: str
    last_active_ms: int
    events: int
    last_offset: str | None


def recent_sessions(keyspace: Keyspace, limit: int = 20, since_ms: int = 0) -> Flow[list[SessionRow]]:
    """The ``limit`` most recently active sessions (active at or after ``since_ms``), newest first."""
    found: list[tuple[str, int]] = []
    for p in range(keyspace.partitions):
        reply = yield Plan(
            (b"ZREVRANGEBYSCORE", keyspace.sessions(p), b"+inf", since_ms, b"WITHSCORES", b"LIMIT", 0, limit),
            scored,
        )
        found += [(text(member), ms) for member, ms in reply]
    rows = []
    for sid, ms in heapq.nlargest(limit, found, key=lambda pair: pair[1]):
        log = keyspace.session(sid).log
        events = yield Plan((b"XLEN", log), int)
        last = yield Plan((b"XREVRANGE", log, b"+", b"-", b"COUNT", 1), list)
        rows.append(SessionRow(sid, ms, events, text(last[0][0]) if last else None))
    return rows


@dataclass
class Stats:
    """What a deployment holds (see `stats`)."""

    sessions: int = 0
    events: int = 0
    log_bytes: int = 0
    feed_events: int = 0
    feed_bytes: int = 0
    dead_letters: int = 0
    groups: list[dict[str, Any]] = field(default_factory=list)


def stats(keyspace: Keyspace) -> Flow[Stats]:
    """Sessions, events and bytes of every log, the feeds, dead letters and each group's backlog.

    Costs two round trips per session (``XLEN`` and ``MEMORY USAGE`` of its log) plus a few
    per partition: an operator's command, not something to run per request.
    """
    out = Stats()  # "USAGE" as str: the cluster client finds a subcommand's key by its str name
    for p in range(keyspace.partitions):
        out.sessions += yield Plan((b"ZCARD", keyspace.sessions(p)), int)
        out.feed_events += yield Plan((b"XLEN", keyspace.feed(p)), int)
        out.feed_bytes += yield Plan((b"MEMORY", "USAGE", keyspace.feed(p)), _int_or_zero)
        out.dead_letters += yield Plan((b"XLEN", keyspace.dead(p)), int)
        start = 0
        while True:
            ids = yield Plan((b"ZRANGE", keyspace.sessions(p), start, start + _PAGE - 1), list)
            for sid in ids:
                log = keyspace.session(text(sid)).log
                out.events += yield Plan((b"XLEN", log), int)
                out.log_bytes += yield Plan((b"MEMORY", "USAGE", log), _int_or_zero)
            if len(ids) < _PAGE:
                break
            start += _PAGE
    out.groups = yield from group_stats(keyspace)
    return out


def _int_or_zero(reply: Any) -> int:
    return int(reply) if reply is not None else 0


def drop_deployment(keyspace: Keyspace, *, page: int = _PAGE) -> Flow[int]:
    """Erase every key of the deployment (irreversible); returns how many keys were deleted.

    Per partition, in its slot: every session the index lists (log, snapshot, idempotency
    hashes) and every LangGraph thread the thread index lists, a page at a time; then the
    feed (its consumer groups go with it), the dead letters and the indexes. Then each
    group's membership key and the config. No tombstones are written: nothing is left to
    read them. Keys are found through the indexes, never by a scan.
    """
    deleted = 0
    groups: set[str] = set()
    for p in range(keyspace.partitions):
        index = keyspace.sessions(p)
        while members := (yield Plan((b"ZRANGE", index, 0, page - 1), list)):
            keys = [k for m in members for k in keyspace.session(text(m))[1:5]]
            deleted += yield Plan((b"DEL", *keys), int)
            yield Plan((b"ZREM", index, *members), int)
        threads = keyspace.checkpoint_threads(p)
        while members := (yield Plan((b"ZRANGE", threads, 0, page - 1), list)):
            keys = [k for m in members for k in keyspace.thread(text(m))[1:6]]
            deleted += yield Plan((b"DEL", *keys), int)
            yield Plan((b"ZREM", threads, *members), int)
        feed = keyspace.feed(p)
        if (yield Plan((b"EXISTS", feed), int)):
            groups |= yield Plan((b"XINFO", "GROUPS", feed), group_names)
        deleted += yield Plan((b"DEL", feed, keyspace.dead(p), keyspace.checkpoint_runs(p)), int)
    for group in sorted(groups):
        deleted += yield Plan((b"DEL", keyspace.members(group)), int)
    deleted += yield Plan((b"DEL", keyspace.config()), int)
    return int(deleted)
