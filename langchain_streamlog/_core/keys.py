"""Key naming and partitioning.

Rule: every Redis key streamlog touches is named here, as bytes, and nothing else
builds a key. A key is ``<prefix>:{<tag>}:<kind>[:<session>]``.

Why it is safe for session ids to be arbitrary text:

- Redis Cluster hashes only what lies between the *first* ``{`` and the first
  ``}`` after it (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags).
  The prefix may not contain braces and the tag never contains ``}``, so the first
  ``{...}`` is always ours, and a session id full of braces cannot move its keys to
  another slot.
- The session id is the *last* component, after a fixed kind token that ends in
  ``:``; the kind tokens are prefix-free, so two distinct (kind, session) pairs can
  never spell the same key, whatever bytes the id holds.

Partitioning: a session lives in partition ``hash(id) mod P``. The hash is BLAKE2b
(stable across processes and Python versions, unlike ``hash()``). Each partition's
tag is chosen so its cluster slot lies near the centre of the partition's share
of the 16384 slots; with masters that split the slots evenly, every master then
owns within one of the mean number of partitions (tested for P = 8..64 over 3 to
6 masters).
"""

from __future__ import annotations

import binascii
import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from .errors import ConfigError, InvalidSessionId

__all__ = ["MAX_SESSION_ID_BYTES", "Keyspace", "SessionKeys", "key_slot"]

#: Longest session id accepted, in UTF-8 bytes. Every key of a session repeats it.
MAX_SESSION_ID_BYTES = 512
_SLOTS = 16384
_MAX_PARTITIONS = 1024


def key_slot(key: bytes) -> int:
    """The Redis Cluster slot of ``key`` (CRC16-XMODEM of its hash tag, mod 16384)."""
    start = key.find(b"{")
    if start != -1:
        end = key.find(b"}", start + 1)
        if end > start + 1:  # an empty tag "{}" hashes the whole key
            key = key[start + 1 : end]
    # binascii.crc_hqx is CRC-CCITT (XMODEM), the CRC16 Redis Cluster uses.
    return binascii.crc_hqx(key, 0) % _SLOTS


@lru_cache(maxsize=32)
def _partition_tags(partitions: int) -> tuple[bytes, ...]:
    # Partition i aims at the centre of its 1/P share of the slots. With every
    # point on a centre, any master that owns a contiguous 1/M of the slots holds
    # within one of P/M points; a point close to its centre keeps that unless a
    # master boundary falls within the tolerance of a centre.
    tags = []
    for i in range(partitions):
        width = _SLOTS / partitions
        centre = int((i + 0.5) * width)
        tolerance = int(width // 32)
        best, best_distance = b"", _SLOTS
        for k in range(4096):
            tag = f"p{i}".encode() if k == 0 else f"p{i}.{k}".encode()
            distance = abs(key_slot(tag) - centre)
            if distance < best_distance:
                best, best_distance = tag, distance
                if distance <= tolerance:
                    break
        tags.append(best)
    return tuple(tags)


class SessionKeys(NamedTuple):
    """Every key one session's atomic steps touch; all share one slot."""

    partition: int
    log: bytes
    idem: bytes
    idem_old: bytes
    snap: bytes
    feed: bytes
    sessions: bytes


def session_id_bytes(session_id: object) -> bytes:
    """Validate a session id and return its UTF-8 bytes.

    Raises:
        InvalidSessionId: not a str (or UTF-8 bytes), empty, or longer than
            ``MAX_SESSION_ID_BYTES`` in UTF-8.
    """
    if isinstance(session_id, bytes):
        try:
            session_id = session_id.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidSessionId(f"session id bytes are not valid UTF-8: {exc}") from exc
    if not isinstance(session_id, str):
        raise InvalidSessionId(f"session id must be a str, not {type(session_id).__name__}")
    if not session_id:
        raise InvalidSessionId("session id must not be empty")
    try:
        data = session_id.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates
        raise InvalidSessionId(f"session id is not encodable as UTF-8: {exc}") from exc
    if len(data) > MAX_SESSION_ID_BYTES:
        raise InvalidSessionId(
            f"session id is {len(data)} bytes in UTF-8; the limit is {MAX_SESSION_ID_BYTES}"
        )
    return data


@dataclass(frozen=True)
class Keyspace:
    """Names every key of one deployment: a prefix and a fixed partition count.

    Args:
        prefix: the first component of every key; no braces. One trailing ``:`` is
            dropped, so langchain-style prefixes like ``"chat:"`` read naturally.
        partitions: the partition count P, fixed per deployment and recorded in
            Redis (`config`); 1 to 1024.
    """

    prefix: str = "streamlog"
    partitions: int = 16
    _prefix: bytes = field(init=False, repr=False, compare=False)
    _tags: tuple[bytes, ...] = field(init=False, repr=False, compare=False)
    _recent: dict[str, SessionKeys] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        prefix = self.prefix.removesuffix(":")
        if not prefix or "{" in prefix or "}" in prefix:
            raise ConfigError(f"key prefix must be non-empty and contain no braces: {self.prefix!r}")
        if (
            isinstance(self.partitions, bool)
            or not isinstance(self.partitions, int)
            or not (1 <= self.partitions <= _MAX_PARTITIONS)
        ):
            raise ConfigError(f"partitions must be an int from 1 to {_MAX_PARTITIONS}: {self.partitions!r}")
        object.__setattr__(self, "_prefix", prefix.encode("utf-8"))
        object.__setattr__(self, "_tags", _partition_tags(self.partitions))
        object.__setattr__(self, "_recent", {})

    def partition_of(self, session_id: str) -> int:
        """The partition of a session: BLAKE2b of its UTF-8 id, mod P."""
        digest = hashlib.blake2b(session_id_bytes(session_id), digest_size=8).digest()
        return int.from_bytes(digest, "big") % self.partitions

    def _base(self, partition: int) -> bytes:
        return self._prefix + b":{" + self._tags[partition] + b"}:"

    def session(self, session_id: str) -> SessionKeys:
        """All keys of one session (validates the id)."""
        if type(session_id) is not str:
            return self._session(session_id)
        keys = self._recent.get(session_id)
        if keys is None:
            keys = self._session(session_id)
            if len(self._recent) >= 4096:  # a bounded memo of recently used sessions
                self._recent.clear()
            self._recent[session_id] = keys
        return keys

    def _session(self, session_id: str) -> SessionKeys:
        sid = session_id_bytes(session_id)
        p = int.from_bytes(hashlib.blake2b(sid, digest_size=8).digest(), "big") % self.partitions
        base = self._base(p)
        return SessionKeys(
            partition=p,
            log=base + b"log:" + sid,
            idem=base + b"idem:" + sid,
            idem_old=base + b"idemold:" + sid,
            snap=base + b"snap:" + sid,
            feed=base + b"feed",
            sessions=base + b"sessions",
        )

    def feed(self, partition: int) -> bytes:
        """The partition's feed: every event of its sessions, with the session id."""
        return self._base(partition) + b"feed"

    def dead(self, partition: int) -> bytes:
        """The partition's dead letters: events every delivery of which failed, with the error."""
        return self._base(partition) + b"dead"

    def sessions(self, partition: int) -> bytes:
        """The partition's session index: a sorted set of session id → last activity (ms)."""
        return self._base(partition) + b"sessions"

    def members(self, group: str) -> bytes:
        """A consumer group's live workers: a sorted set of name -> lease end (ms).

        Outside every partition's slot, like `config`; the group name is last.
        """
        return self._prefix + b":members:" + group.encode("utf-8")

    def config(self) -> bytes:
        """The deployment's config hash (records P). Outside every partition's slot."""
        return self._prefix + b":config"

    def tag(self, partition: int) -> str:
        """The hash tag of a partition (without braces)."""
        return self._tags[partition].decode()

    # -- LangGraph checkpoints (langchain_streamlog.langgraph) --------------------------

    def thread(self, thread_id: str) -> tuple[int, bytes, bytes, bytes, bytes, bytes, bytes, bytes]:
        """Every key of one LangGraph thread's checkpoints; all share the thread's slot.

        ``(partition, checkpoints, blobs, writes, write_keys, ids, threads, runs)``: the
        thread's checkpoint stream, its channel values by version, its pending writes and
        their sorted keys, its index of checkpoint ids, then the partition's thread index and run
        index (:meth:`checkpoint_threads`, :meth:`checkpoint_runs`). A thread id is
        validated like a session id and lives in the partition a session of that id has.
        """
        tid = session_id_bytes(thread_id)
        p = int.from_bytes(hashlib.blake2b(tid, digest_size=8).digest(), "big") % self.partitions
        base = self._base(p)
        return (
            p,
            base + b"ckpt:" + tid,
            base + b"ckblob:" + tid,
            base + b"ckwrite:" + tid,
            base + b"ckwkey:" + tid,
            base + b"ckidx:" + tid,
            base + b"ckthreads",
            base + b"ckruns",
        )

    def checkpoint_threads(self, partition: int) -> bytes:
        """The partition's LangGraph threads: a sorted set of thread id → expiry deadline (ms)."""
        return self._base(partition) + b"ckthreads"

    def checkpoint_runs(self, partition: int) -> bytes:
        """The partition's run index: which of its threads hold checkpoints of which run."""
        return self._base(partition) + b"ckruns"
