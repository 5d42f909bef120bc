"""Import: an export's lines checked a session run at a time, then appended in keyed batches."""

from __future__ import annotations

import math
import struct
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import msgspec

from .._core import codec as _codec
from .._core.errors import DecodeError, StreamlogError, UnknownEventKind, UnsupportedSchema
from .._core.events import SCHEMA_VERSION, SessionDeleted
from .._core.fold import offset_key
from .._core.keys import session_id_bytes
from .._core.plans import check_offset
from .._store import StreamStore
from ._common import _BATCH_EVENTS, _PROGRESS_EVERY, Progress
from ._export import _Line

E = TypeVar("E", bound=StreamlogError)

_BATCH_BYTES = 8 << 20  # a batch closes early at this many payload bytes
_SPOOL_MEMORY = 8 << 20  # a session's spooled import lines stay in memory up to this size

_line_decoder = msgspec.json.Decoder(_Line)


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

    def report(self, force: bool = False) -> None:
        """Call ``progress`` with the events done, every 1,000 of them (or now, if ``force``)."""
        done = self.events + self.skipped
        if self.progress is not None and (force or done - self._reported >= _PROGRESS_EVERY):
            self._reported = done
            self.progress(done)

    def session(self, spool: _Spool) -> None:
        """Append one session run, skipping the batches an earlier import recorded."""
        store, session_id = self.store, spool.session_id
        self.sessions += 1
        self.skipped += spool.tombstones
        max_events, max_bytes = _batch_limits(store, spool.events, spool.bytes)
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
                self._write(session_id, batch, key)
                batch, size = [], 0
        if batch:
            self._write(session_id, batch, key)
        self.report()

    def _write(self, session_id: str, batch: list[bytes], key: str) -> None:
        self.store.run(self.store.core.append_payloads(session_id, batch, key))
        self.events += len(batch)
        self.report()


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
    importer.report(force=True)
    return ImportResult(importer.sessions, importer.events, importer.skipped)
