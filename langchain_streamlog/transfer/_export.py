"""Export: the walk over a deployment's sessions, and their events as JSON Lines (`_Line`)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import IO, Any

import msgspec

from .._core import codec as _codec
from .._core.errors import OffsetOutOfRange
from .._core.events import AnyEvent, MessagesAppended
from .._core.plans import Plan, scored, single, text
from .._store import StreamStore
from ._common import _PAGE, _PROGRESS_EVERY, Progress


class _Line(msgspec.Struct):
    """One line of an export: ``{"session": ..., "offset": ..., "event": {"kind": ..., ...}}``."""

    session: str
    offset: str
    event: AnyEvent


_line_encoder = msgspec.json.Encoder()


def _pairs(reply: Any) -> list[tuple[bytes, bytes]]:
    """``ZRANGEBYSCORE ... WITHSCORES`` pairs, the score as bytes for the next page's cursor."""
    return [(member, str(score).encode()) for member, score in scored(reply)]


def iter_sessions(store: StreamStore, *, page: int = _PAGE) -> Iterator[str]:
    """Every session in the deployment's session index, partition by partition, a page at a time.

    Each partition is walked in order of last activity with a (score, member) cursor, so
    a session present for the whole walk is listed even if it is written meanwhile; one
    written after it was listed may be listed again, later (its score moved past the
    cursor). `import_events` treats such a repeat as a continuation.
    """
    space = store.keyspace
    for p in range(space.partitions):
        key = space.sessions(p)
        low, last, score = b"-inf", b"", b""
        while True:
            if last:
                # The rest of the members sharing the last page's final score (Redis orders
                # ties by their bytes); then continue strictly above that score.
                ties = store.run(single(Plan((b"ZRANGEBYSCORE", key, score, score), list)))
                for member in ties:
                    if member > last:
                        yield member.decode()
                low = b"(" + score
            rows = store.run(
                single(Plan((b"ZRANGEBYSCORE", key, low, b"+inf", b"WITHSCORES", b"LIMIT", 0, page), _pairs))
            )
            for member, _ in rows:
                yield member.decode()
            if len(rows) < page:
                break
            last, score = rows[-1]


def _snapshot_events(snapshot: bytes) -> list[tuple[str, AnyEvent]]:
    """A snapshot's visible messages as append events, one per original offset."""
    offsets, records = _codec.decode_snapshot(snapshot)
    grouped: list[tuple[str, list[dict[str, Any]]]] = []
    for offset, record in zip(offsets, records, strict=True):
        if grouped and grouped[-1][0] == offset:
            grouped[-1][1].append(record)
        else:
            grouped.append((offset, [record]))
    return [(offset, MessagesAppended(messages=tuple(recs))) for offset, recs in grouped]


def _session_events(store: StreamStore, session_id: str, page: int) -> Iterator[tuple[str, AnyEvent]]:
    """A session's events in offset order, a page at a time.

    When retention trimmed the log, the events below the snapshot are gone but the
    snapshot holds what they left visible: that comes first, then the log after it.
    """
    keys = store.keyspace.session(session_id)
    for attempt in range(3):
        mark_plan = Plan((b"HMGET", keys.snap, b"o", b"s", b"t"), list)
        snap_offset, snapshot, trimmed = store.run(single(mark_plan))
        head: list[tuple[str, AnyEvent]] = []
        # "0-1" (the lowest id) rather than "-": a replay from below the retention mark
        # raises, so a trim between the two reads cannot silently drop the log's start.
        start = "0-1"
        if trimmed is not None and snap_offset is not None and snapshot is not None:
            head = _snapshot_events(snapshot)
            start = "(" + text(snap_offset)
        try:
            batch = store.events(session_id, start, count=page)
        except OffsetOutOfRange:
            if attempt == 2:
                raise
            continue  # retention trimmed in between: read the newer snapshot
        yield from head
        while batch:
            yield from batch
            if len(batch) < page:
                return
            batch = store.events(session_id, "(" + batch[-1][0], count=page)
        return


def _export(
    store: StreamStore, sessions: Iterable[str] | None, page: int
) -> Iterator[tuple[str, str, AnyEvent]]:
    for session_id in iter_sessions(store, page=page) if sessions is None else sessions:
        for offset, event in _session_events(store, session_id, page):
            yield session_id, offset, event


def export_events(
    store: StreamStore, sessions: Iterable[str] | None = None, *, page: int = _PAGE
) -> Iterator[dict[str, Any]]:
    """One JSON-ready dict per event, each session's events in offset order.

    ``{"session": id, "offset": "1732300000000-0", "event": {"kind": "append", ...}}``;
    ``event`` is ``msgspec.to_builtins`` of the event, its ``kind`` tag included.

    Args:
        sessions: the sessions to export; None: every session of the deployment, found
            through the per-partition session index (`iter_sessions`).
        page: events (and session ids) read per round trip; memory is bounded by it (a
            session that retention trimmed also holds its snapshot's visible messages).
    """
    for session_id, offset, event in _export(store, sessions, page):
        fields = msgspec.to_builtins(event)  # keeps the Structs' tuples: JSON has lists
        event_dict = {k: list(v) if type(v) is tuple else v for k, v in fields.items()}
        yield {"session": session_id, "offset": offset, "event": event_dict}


def dump_jsonl(
    store: StreamStore,
    out_file: IO[Any],
    sessions: Iterable[str] | None = None,
    progress: Progress | None = None,
) -> int:
    """Write `export_events` to ``out_file`` as JSON Lines; returns the number of lines.

    ``out_file`` may be binary or text. ``progress(n)`` is called every 1,000 lines and at
    the end, with the number written so far.
    """
    binary = not isinstance(out_file, io.TextIOBase)
    count = 0
    for session_id, offset, event in _export(store, sessions, _PAGE):
        data = _line_encoder.encode(_Line(session_id, offset, event)) + b"\n"
        out_file.write(data if binary else data.decode())
        count += 1
        if progress is not None and count % _PROGRESS_EVERY == 0:
            progress(count)
    if progress is not None:
        progress(count)
    return count
