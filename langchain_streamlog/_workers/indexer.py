"""The built-in search indexer: a worker handler that keeps a full-text index.

Rule: the index is a set of *facts* (messages seen, removals seen, the latest clear
and deletion of each session), each keyed by its offset, and what a search shows
is computed from them. Adding a fact twice changes nothing and facts commute, so
duplicates and any delivery order converge to the same index (a property test
says so). Offsets are comparable within a session because every offset of a
partition, tombstones included, comes from the partition feed's id sequence.

Why SQLite FTS5: it ships with Python's standard library, is a real search engine
(tokenizer, BM25 ranking, prefix and phrase queries) and works next to any Redis
or Valkey without modules; a home-made inverted index would be worse at all of it.
The index lives in a file (or memory) local to the worker that feeds it.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from .._core.events import HistoryCleared, MessagesAppended, MessagesRemoved, SessionDeleted
from .._core.fold import offset_key
from .._core.records import from_record

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

    from .._core.groups import Delivery

__all__ = ["SearchHit", "SearchIndex"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY, session TEXT, ms INTEGER, seq INTEGER, pos INTEGER,
    offset TEXT, msg_id TEXT, record BLOB, UNIQUE (session, ms, seq, pos));
CREATE VIRTUAL TABLE IF NOT EXISTS texts USING fts5(text);
CREATE TABLE IF NOT EXISTS removals (session TEXT, msg_id TEXT, ms INTEGER, seq INTEGER,
    PRIMARY KEY (session, msg_id, ms, seq));
CREATE TABLE IF NOT EXISTS marks (kind TEXT, session TEXT, ms INTEGER, seq INTEGER,
    PRIMARY KEY (kind, session));
"""

# A message is visible unless a clear or a deletion of its session, or a removal of
# its id, came after it.
_VISIBLE = """
NOT EXISTS (SELECT 1 FROM marks k WHERE k.session = m.session AND (k.ms, k.seq) > (m.ms, m.seq))
AND NOT EXISTS (SELECT 1 FROM removals r WHERE r.session = m.session AND r.msg_id = m.msg_id
                AND (r.ms, r.seq) > (m.ms, m.seq))
"""

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(dict[str, Any]).decode


def _text(record: dict[str, Any]) -> str:
    content = record.get("content", "")
    if isinstance(content, str):
        return content
    parts = [
        b if isinstance(b, str) else str(b.get("text", "")) for b in content if isinstance(b, (str, dict))
    ]
    return " ".join(p for p in parts if p)


@dataclass(frozen=True)
class SearchHit:
    session_id: str
    offset: str
    message: BaseMessage


class SearchIndex:
    """A full-text index of every visible message; feed it with ``Worker(store, group, index.handle)``.

    Args:
        path: an SQLite database file, or ":memory:".
    """

    def __init__(self, path: str = ":memory:") -> None:
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._lock = threading.Lock()
        # Erasure means gone from the file too: deleted rows' pages are overwritten with zeros.
        self._db.execute("PRAGMA secure_delete = ON")
        with self._lock, self._db:
            self._db.executescript(_SCHEMA)

    def handle(self, delivery: Delivery) -> None:
        """Apply one delivery; safe to repeat and to receive out of order."""
        event, sid = delivery.event, delivery.session_id
        ms, seq = offset_key(delivery.offset)
        with self._lock, self._db as db:
            if isinstance(event, MessagesAppended):
                if db.execute(
                    "SELECT 1 FROM marks WHERE kind = 'delete' AND session = ? AND (ms, seq) > (?, ?)",
                    (sid, ms, seq),
                ).fetchone():
                    return  # the session was erased after this: never store it
                for pos, record in enumerate(event.messages):
                    cur = db.execute(
                        "INSERT OR IGNORE INTO messages (session, ms, seq, pos, offset, msg_id, record) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (sid, ms, seq, pos, delivery.offset, record.get("id"), _encode(record)),
                    )
                    if cur.rowcount:
                        db.execute(
                            "INSERT INTO texts (rowid, text) VALUES (?, ?)", (cur.lastrowid, _text(record))
                        )
            elif isinstance(event, MessagesRemoved):
                db.executemany(
                    "INSERT OR IGNORE INTO removals VALUES (?, ?, ?, ?)",
                    [(sid, i, ms, seq) for i in event.ids],
                )
            elif isinstance(event, (HistoryCleared, SessionDeleted)):
                kind = "delete" if isinstance(event, SessionDeleted) else "clear"
                db.execute(
                    "INSERT INTO marks VALUES (?, ?, ?, ?) ON CONFLICT (kind, session) DO UPDATE "
                    "SET ms = excluded.ms, seq = excluded.seq WHERE (excluded.ms, excluded.seq) > (ms, seq)",
                    (kind, sid, ms, seq),
                )
                if kind == "delete":  # erasure: the content goes, only the mark stays
                    rows = "SELECT id FROM messages WHERE session = ? AND (ms, seq) < (?, ?)"
                    db.execute(f"DELETE FROM texts WHERE rowid IN ({rows})", (sid, ms, seq))
                    db.execute(
                        "DELETE FROM messages WHERE session = ? AND (ms, seq) < (?, ?)", (sid, ms, seq)
                    )
                    db.execute(
                        "DELETE FROM removals WHERE session = ? AND (ms, seq) < (?, ?)", (sid, ms, seq)
                    )
                    # FTS5 keeps a deleted row's terms in its segments until they merge: merge
                    # them now, so the erased text leaves the index's pages (zeroed above).
                    db.execute("INSERT INTO texts (texts) VALUES ('optimize')")

    def search(self, query: str, session_id: str | None = None, limit: int = 10) -> list[SearchHit]:
        """Visible messages matching an FTS5 query, best first (BM25)."""
        sql = (
            "SELECT m.session, m.offset, m.record FROM texts JOIN messages m ON m.id = texts.rowid "
            f"WHERE texts MATCH ? AND {_VISIBLE}"
            + (" AND m.session = ?" if session_id is not None else "")
            + " ORDER BY bm25(texts) LIMIT ?"
        )
        params: tuple[Any, ...] = (query, session_id, limit) if session_id is not None else (query, limit)
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [SearchHit(s, o, from_record(_decode(r))) for s, o, r in rows]

    def visible(self, session_id: str) -> list[tuple[str, dict[str, Any]]]:
        """The indexed visible messages of a session, in order: (offset, record)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT m.offset, m.record FROM messages m WHERE m.session = ? AND {_VISIBLE} "
                "ORDER BY m.ms, m.seq, m.pos",
                (session_id,),
            ).fetchall()
        return [(o, _decode(r)) for o, r in rows]

    def close(self) -> None:
        with self._lock:
            if self._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()
