"""Moving histories: JSON Lines export and import, and migration from the peer libraries.

Rule: everything that moves a session into or out of a deployment in bulk lives here,
and every write goes through the store's own atomic append with an idempotency key
derived from the source, so any of it can be run again (after a failure, or twice by
mistake) without writing anything twice.

- **Export** enumerates sessions through each partition's session index (never ``KEYS``
  or ``SCAN``), reads each log a page at a time, and yields one JSON-ready line per event:
  memory does not grow with the deployment or with a session's log.
- **Import** appends a session's events in batches, one atomic append each. A batch's
  key is ``"import:" + the source offset of its first event``; before writing, the chain
  of batches an earlier run wrote is followed (each recorded key says how many events
  it covered), so a repeated or resumed import skips exactly what is already there.
- **Migration** reads the peers' own layouts with ``SCAN`` limited to their key prefix (a
  one-off migration may scan the source; streamlog itself never does), compares each
  peer session with what the target's log already holds, and appends only the rest.

Idempotency keys are remembered per session for the most recent ``idempotency_memory``
keyed appends (see the design page); an import's batches are sized so one session's
batches never exceed half of that. A repeated import is recognised while those keys are
still remembered; a repeated migration always is (it compares content).
"""

from __future__ import annotations

import hashlib
import io
import math
import re
import struct
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any, Literal, TypeVar

import msgspec
from langchain_core.messages import BaseMessage, messages_from_dict

from .._core import codec as _codec
from .._core.errors import (
    ConfigError,
    DecodeError,
    OffsetOutOfRange,
    StreamlogError,
    UnknownEventKind,
    UnsupportedSchema,
)
from .._core.events import SCHEMA_VERSION, AnyEvent, MessagesAppended, SessionDeleted
from .._core.fold import offset_key
from .._core.keys import SessionKeys, session_id_bytes
from .._core.plans import Plan, check_offset, scored, single, text
from .._core.records import to_record
from .._store import StreamStore

__all__ = [
    "ImportResult",
    "MigrateResult",
    "Peer",
    "dump_jsonl",
    "export_events",
    "import_events",
    "iter_sessions",
    "migrate",
    "read_community",
    "read_langchain_redis",
    "read_memorystore",
]

Peer = Literal["community", "memorystore", "langchain-redis"]
Progress = Callable[[int], None]
E = TypeVar("E", bound=StreamlogError)

_PAGE = 500  # session ids and events read per round trip
_BATCH_EVENTS = 500  # smallest batch an import or migration appends at once
_BATCH_BYTES = 8 << 20  # ... and the payload bytes at which a batch closes early
_SPOOL_MEMORY = 8 << 20  # a session's spooled import lines stay in memory up to this size
_PROGRESS_EVERY = 1000


@dataclass(frozen=True)
class ImportResult:
    """What `import_events` did.

    ``sessions``: runs of consecutive lines of one session (an export lists each session
    once, so: sessions). ``events``: events written. ``skipped``: events not written,
    because an earlier import had written them, or because they were delete tombstones.
    """

    sessions: int
    events: int
    skipped: int


@dataclass(frozen=True)
class MigrateResult:
    """What `migrate` did.

    ``sessions``: source sessions read. ``messages``: messages written (in a dry run:
    every message read). ``skipped_sessions``: sessions that needed no write (already
    migrated, or empty). ``diverged``: sessions not written because the target's log
    holds other messages than the source (for example, the application wrote to the
    session in streamlog before it was migrated).
    """

    sessions: int
    messages: int
    skipped_sessions: int
    diverged: tuple[str, ...] = ()


# -- export --------------------------------------------------------------------


class _Line(msgspec.Struct):
    """One line of an export: ``{"session": ..., "offset": ..., "event": {"kind": ..., ...}}``."""

    session: str
    offset: str
    event: AnyEvent


_line_encoder = msgspec.json.Encoder()
_line_decoder = msgspec.json.Decoder(_Line)


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


# -- import --------------------------------------------------------------------


def _at(lineno: int, error: E) -> E:
    """``error``, its message prefixed with the line number, which is also its ``line``."""
    error.args = (f"line {lineno}: {error}",)
    error.line = lineno  # type: ignore[attr-defined]
    return error


def _line_error(data: str | bytes, lineno: int, exc: msgspec.DecodeError) -> StreamlogError:
    """Explain why a line is not an export line (as ``_codec`` explains a payload)."""
    try:
        raw = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return _at(lineno, DecodeError(f"not a JSON line (truncated or garbled?): {exc}"))
    event = raw.get("event") if isinstance(raw, dict) else None
    if isinstance(event, dict):
        version, kind = event.get("v", 1), event.get("kind")
        if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
            return _at(lineno, UnsupportedSchema(version, SCHEMA_VERSION))
        if isinstance(kind, str) and "$.event.kind" in str(exc):
            return _at(lineno, UnknownEventKind(kind))
    return _at(lineno, DecodeError(f"not an export line ({{session, offset, event}}): {exc}"))


def _parse(raw: str | bytes, lineno: int) -> _Line | None:
    """One export line, checked; None for a blank line."""
    if not raw.strip():
        return None
    try:
        line = _line_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise _line_error(raw, lineno, exc) from exc
    if line.event.v > SCHEMA_VERSION:
        raise _at(lineno, UnsupportedSchema(line.event.v, SCHEMA_VERSION))
    try:
        session_id_bytes(line.session)
        check_offset(line.offset, allow_bounds=False)
    except StreamlogError as exc:
        raise _at(lineno, exc) from None
    return line


_RECORD = struct.Struct(">HI")  # offset length, payload length


class _Spool:
    """One session's run of lines, encoded and kept aside (in memory up to a bound, then on disk)."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.file = tempfile.SpooledTemporaryFile(max_size=_SPOOL_MEMORY)
        self.events = 0
        self.bytes = 0
        self.tombstones = 0
        self.last = (0, 0)  # the order key of the run's last offset

    def add(self, offset: str, payload: bytes) -> None:
        raw = offset.encode()
        self.file.write(_RECORD.pack(len(raw), len(payload)) + raw + payload)
        self.events += 1
        self.bytes += len(payload)

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        self.file.seek(0)
        read = self.file.read
        for _ in range(self.events):
            size, length = _RECORD.unpack(read(_RECORD.size))
            yield read(size).decode(), read(length)

    def close(self) -> None:
        self.file.close()


def _batch_limits(store: StreamStore, events: int, size: int) -> tuple[int, int]:
    """Events and bytes per batch, so that one session's batches number at most half its key memory.

    A batch closes at whichever limit it reaches first, so a session of ``events`` events and
    ``size`` payload bytes makes at most ``2 * per + 1`` batches (``per`` = memory // 4).
    """
    per = max(1, store.core.idempotency_memory // 4)
    return max(_BATCH_EVENTS, math.ceil(events / per)), max(_BATCH_BYTES, math.ceil(size / per))


class _Importer:
    """Counts, and the writing of one session's spool."""

    def __init__(self, store: StreamStore, progress: Progress | None) -> None:
        self.store = store
        self.progress = progress
        self.sessions = self.events = self.skipped = 0
        self._reported = 0

    def _report(self, force: bool = False) -> None:
        done = self.events + self.skipped
        if self.progress is not None and (force or done - self._reported >= _PROGRESS_EVERY):
            self._reported = done
            self.progress(done)

    def session(self, spool: _Spool) -> None:
        store, session_id = self.store, spool.session_id
        self.sessions += 1
        self.skipped += spool.tombstones
        max_events, max_bytes = _batch_limits(store, spool.events, spool.bytes)
        keys = store.keyspace.session(session_id)
        skip, following, key = 0, True, ""
        batch: list[bytes] = []
        size = 0
        for offset, payload in spool:
            if skip:
                skip -= 1
                self.skipped += 1
                continue
            if not batch:
                key = "import:" + offset
                if following:
                    # Follow the chain an earlier run wrote: each key it recorded says how
                    # many events its batch covered. At the first key not recorded, the
                    # earlier run wrote nothing further (it wrote batches in this order).
                    seen = store.run(store.core.recorded(session_id, key))
                    if seen is not None:
                        skip = len(seen) - 1
                        self.skipped += 1
                        continue
                    following = False
            batch.append(payload)
            size += len(payload)
            if len(batch) >= max_events or size >= max_bytes:
                self._write(session_id, keys, batch, key)
                batch, size = [], 0
        if batch:
            self._write(session_id, keys, batch, key)
        self._report()

    def _write(self, session_id: str, keys: SessionKeys, batch: list[bytes], key: str) -> None:
        del keys  # the core names them again
        self.store.run(self.store.core.append_payloads(session_id, batch, key))
        self.events += len(batch)
        self._report()


def import_events(
    store: StreamStore, lines: Iterable[str | bytes], progress: Progress | None = None
) -> ImportResult:
    """Append the events of an export (JSON Lines) to this deployment.

    Lines are grouped into runs as they come: consecutive lines of one session with
    rising offsets (an export lists a session's lines together, in offset order; a
    session listed again starts a new run). Each run is checked whole, then appended in
    batches, each one atomic append. Offsets are new (the target assigns them); order and
    content are kept. ``delete`` tombstones are ignored. Running the same import again
    writes nothing, and an import that stopped part way resumes where it stopped.

    Raises:
        DecodeError: a line is not an export line (its ``line`` attribute and message
            give its number); nothing of that line's session run has been written.
        UnknownEventKind, UnsupportedSchema: an event from a newer streamlog (with ``line``).
        InvalidSessionId, OffsetOutOfRange: a line's session id or offset (with ``line``).
    """
    importer = _Importer(store, progress)
    spool: _Spool | None = None
    try:
        for lineno, raw in enumerate(lines, 1):
            line = _parse(raw, lineno)
            if line is None:
                continue
            at = offset_key(line.offset)
            # A new run: another session, or the same one listed again (offsets restart).
            if spool is None or line.session != spool.session_id or at <= spool.last:
                if spool is not None:
                    importer.session(spool)
                    spool.close()
                spool = _Spool(line.session)
            spool.last = at
            if isinstance(line.event, SessionDeleted):
                spool.tombstones += 1
            else:
                spool.add(line.offset, _codec.encode(line.event))
        if spool is not None:
            importer.session(spool)
    finally:
        if spool is not None:
            spool.close()
    importer._report(force=True)
    return ImportResult(importer.sessions, importer.events, importer.skipped)


# -- migration from the peers ----------------------------------------------------


def _glob(prefix: str) -> str:
    """``prefix`` as a literal SCAN MATCH pattern, matching every key that starts with it."""
    return re.sub(r"([\\*?\[\]])", r"\\\1", prefix) + "*"


def _key_text(key: str | bytes) -> str:
    return key.decode("utf-8", "surrogateescape") if isinstance(key, bytes) else key


def _messages(items: Iterable[Any], where: str) -> list[BaseMessage]:
    """LangChain message dicts (``message_to_dict``'s shape, as JSON or already parsed) to messages."""
    try:
        dicts = [msgspec.json.decode(item) if isinstance(item, (str, bytes)) else item for item in items]
        return messages_from_dict(dicts)
    except (ValueError, KeyError, TypeError) as exc:  # msgspec.DecodeError is a ValueError
        raise DecodeError(f"{where}: not a list of LangChain message dicts: {exc}") from exc


def read_community(
    client: Any, key_prefix: str = "message_store:", sessions: Iterable[str] | None = None
) -> Iterator[tuple[str, list[BaseMessage]]]:
    """Sessions of langchain-community's ``RedisChatMessageHistory``, messages in original order.

    Its layout: one list per session at ``key_prefix + session_id``, each item
    ``json.dumps(message_to_dict(message))``, pushed with ``LPUSH`` (newest first).
    Without ``sessions``, the keys are found with ``SCAN MATCH <key_prefix>* TYPE list``.
    """
    if sessions is None:
        found = (
            (key, _key_text(key)[len(key_prefix) :])
            for key in client.scan_iter(match=_glob(key_prefix), count=1000, _type="list")
        )
    else:
        found = ((key_prefix + sid, sid) for sid in sessions)
    for key, session_id in found:
        items = client.lrange(key, 0, -1)
        yield session_id, _messages(reversed(items), f"list {_key_text(key)!r}")


def read_memorystore(
    client: Any, key_prefix: str | None = None, sessions: Iterable[str] | None = None
) -> Iterator[tuple[str, list[BaseMessage]]]:
    """Sessions of langchain-google-memorystore-redis's ``MemorystoreChatMessageHistory``.

    Its layout: one list per session whose key *is* the session id (no prefix), items
    ``json.dumps(message_to_dict(message))`` pushed with ``RPUSH`` (oldest first). Since
    its keys have no prefix of their own, give ``sessions``, or ``key_prefix``: the start
    the session ids share (``""`` scans every list key, and fails on the first list that
    does not hold messages). The session ids are the keys, prefix included.
    """
    if sessions is None:
        if key_prefix is None:
            raise ConfigError(
                "Memorystore keys are the bare session ids: give the sessions, or the prefix "
                "the session ids share (key_prefix, --source-prefix)"
            )
        keys: Iterable[Any] = client.scan_iter(match=_glob(key_prefix), count=1000, _type="list")
    else:
        keys = sessions
    for key in keys:
        yield _key_text(key), _messages(client.lrange(key, 0, -1), f"list {_key_text(key)!r}")


# langchain-redis names a message key <key_prefix><session_id>:<ULID>; a ULID is 26
# characters of Crockford's base32.
_ULID_TAIL = re.compile(r":[0-9A-HJKMNP-TV-Z]{26}\Z")


def _langchain_redis_docs(client: Any, keys: Sequence[Any], session_id: str) -> list[BaseMessage]:
    """Read one session's JSON documents and order them by timestamp, as langchain-redis does."""
    rows: list[tuple[float, str, dict[str, Any]]] = []
    for start in range(0, len(keys), _PAGE):
        chunk = keys[start : start + _PAGE]
        with client.pipeline(transaction=False) as pipe:
            for key in chunk:
                pipe.execute_command("JSON.GET", key, "$")
            replies = pipe.execute()
        for key, reply in zip(chunk, replies, strict=True):
            if reply is None:  # expired since the scan
                continue
            where = f"JSON document {_key_text(key)!r}"
            try:
                doc = msgspec.json.decode(reply)[0]
                if doc["session_id"] != session_id:
                    raise ValueError(f"its session_id is {doc['session_id']!r}")
                rows.append(
                    (float(doc["timestamp"]), _key_text(key), {"type": doc["type"], "data": doc["data"]})
                )
            except (ValueError, KeyError, TypeError, IndexError) as exc:
                raise DecodeError(f"{where}: not a langchain-redis message: {exc}") from exc
    rows.sort(key=lambda row: (row[0], row[1]))  # ties (same timestamp): by key, whose ULID is time-ordered
    return _messages((row[2] for row in rows), f"session {session_id!r}")


def _langchain_redis_keys(client: Any, key_prefix: str, start: str) -> Iterator[tuple[Any, str]]:
    """Message keys that begin with ``start``, with the session id each names."""
    for key in client.scan_iter(match=_glob(start), count=1000):
        name = _key_text(key)
        if name.startswith(key_prefix) and _ULID_TAIL.search(name):
            yield key, name[len(key_prefix) : -27]


def read_langchain_redis(
    client: Any, key_prefix: str = "chat:", sessions: Iterable[str] | None = None
) -> Iterator[tuple[str, list[BaseMessage]]]:
    """Sessions of langchain-redis's ``RedisChatMessageHistory`` (JSON documents, one per message).

    Its layout: ``<key_prefix><session_id>:<ULID>`` holds ``{"type", "message_id", "data":
    {"content", "additional_kwargs", "type"[, "tool_call_id", "status"]}, "session_id",
    "timestamp"}``; it reads a session sorted by ``timestamp``. The keys are found with
    ``SCAN MATCH <key_prefix>*`` and grouped by session in memory (key names only), since a
    session's documents are spread over the whole scan; then each session's documents are
    read with ``JSON.GET``. No search module is needed.
    """
    groups: dict[str, list[Any]] = {}
    if sessions is None:
        for key, owner in _langchain_redis_keys(client, key_prefix, key_prefix):
            groups.setdefault(owner, []).append(key)
    else:
        for session_id in sessions:
            found = _langchain_redis_keys(client, key_prefix, key_prefix + session_id + ":")
            # "<sid>:*" also matches the keys of a session "<sid>:more"
            groups[session_id] = [key for key, owner in found if owner == session_id]
    for session_id, keys in groups.items():
        yield session_id, _langchain_redis_docs(client, keys, session_id)


_READERS: dict[str, Callable[..., Iterator[tuple[str, list[BaseMessage]]]]] = {
    "community": read_community,
    "memorystore": read_memorystore,
    "langchain-redis": read_langchain_redis,
}


def _payload(record: dict[str, Any]) -> bytes:
    return _codec.encode(MessagesAppended(messages=(record,)))


def _already_there(store: StreamStore, session_id: str, source: Sequence[bytes]) -> tuple[int, bool]:
    """How many of the source's messages the target's log begins with; and whether it then diverges.

    Compares the messages the log appended (clears and removals do not matter: a migrated
    session the application cleared since is still migrated), one page at a time. A log
    that holds all of the source and then more (written since) does not diverge.
    """
    done = 0
    for _, event in _session_events(store, session_id, _PAGE):
        if isinstance(event, MessagesAppended):
            for record in event.messages:
                if done == len(source):
                    return done, False
                if _payload(record) != source[done]:
                    return done, True
                done += 1
    return done, False


def _migrate_session(store: StreamStore, session_id: str, messages: Sequence[BaseMessage]) -> int | None:
    """Append what the target does not hold yet; the number written, or None if it diverged."""
    source = [_payload(to_record(message)) for message in messages]
    done, diverged = _already_there(store, session_id, source)
    if diverged:
        return None
    running = hashlib.sha256()
    for payload in source[:done]:
        running.update(payload)
    for start in range(done, len(source), _BATCH_EVENTS):
        batch = messages[start : start + _BATCH_EVENTS]
        for payload in source[start : start + _BATCH_EVENTS]:
            running.update(payload)
        # Named after the source history through this batch: a retried append is a no-op.
        store.append(session_id, batch, idempotency_key="migrate:" + running.hexdigest()[:32])
    return len(source) - done


def migrate(
    store: StreamStore,
    source_client: Any,
    peer: Peer,
    key_prefix: str | None = None,
    sessions: Iterable[str] | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> MigrateResult:
    """Copy every session of a peer library's store into this deployment.

    Args:
        source_client: a redis-py client of the source (``decode_responses`` either way).
        peer: ``"community"`` (langchain-community ``RedisChatMessageHistory``),
            ``"memorystore"`` (langchain-google-memorystore-redis) or ``"langchain-redis"``.
        key_prefix: the source's key prefix; None: the peer's default (``"message_store:"``,
            none for Memorystore, ``"chat:"``).
        sessions: only these session ids (no scan).
        dry_run: read and count; write nothing, and do not touch the target at all.
        progress: called with the number of sessions done, every 100 sessions and at the end.

    Each session's messages are compared with what the target's log already appended: the
    messages it does not hold yet are appended (one atomic append per 500 messages, keyed
    by a hash of the source history through the batch, so a retry cannot write twice).
    So a second run writes nothing, and a run after the source grew writes only what is
    new. A target session that holds other messages (its log and the source differ) is
    left alone and listed in ``diverged``.
    """
    reader = _READERS.get(peer)
    if reader is None:
        raise ConfigError(f"peer is one of {sorted(_READERS)}, not {peer!r}")
    kwargs: dict[str, Any] = {"sessions": sessions}
    if key_prefix is not None:
        kwargs["key_prefix"] = key_prefix
    count = written = skipped = 0
    diverged: list[str] = []
    for session_id, messages in reader(source_client, **kwargs):
        count += 1
        done = len(messages) if dry_run else _migrate_session(store, session_id, messages)
        if done is None:
            diverged.append(session_id)
        else:
            written += done
            skipped += done == 0
        if progress is not None and count % 100 == 0:
            progress(count)
    if progress is not None:
        progress(count)
    return MigrateResult(count, written, skipped, tuple(diverged))
