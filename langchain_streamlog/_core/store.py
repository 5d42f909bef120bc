"""The IO-free half of a store: the first-use check, and the writes.

Rule: every write is built here as a flow (see ``plans``); the reads come from
`Reads`; the settings were validated once, by `StoreSettings`.
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Generator, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from langchain_core.messages import RemoveMessage

from . import codec as _codec
from .cache import ProjectionCache
from .errors import (
    ConfigError,
    ConflictError,
    InvalidMessage,
    NotReplicated,
    PartitionMismatch,
    StoreError,
    UnsupportedServer,
)
from .events import AnyEvent, HistoryCleared, MessagesAppended, MessagesRemoved, SessionDeleted
from .keys import SessionKeys, session_id_bytes
from .plans import Flow, Plan, normal_offset, scored, text
from .reads import Reads
from .records import to_record
from .scripts import APPEND, CONFIGURE, DELETE, EXPIRED, SWEEP, TRIM_FEED
from .settings import StoreSettings

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

__all__ = ["EvictionRiskWarning", "StoreCore", "new_idempotency_key"]


class EvictionRiskWarning(UserWarning):
    """The server may evict streamlog's keys (a maxmemory-policy other than noeviction)."""


def new_idempotency_key() -> str:
    """A fresh key for one append: 72 random bits, 12 URL-safe characters."""
    return secrets.token_urlsafe(9)

T = TypeVar("T")
Y = TypeVar("Y")

# LangGraph's sentinel id: RemoveMessage(id=REMOVE_ALL_MESSAGES) clears the history.
REMOVE_ALL_MESSAGES = "__remove_all__"
_CLEARED = _codec.encode(HistoryCleared())
_EXPIRED = _codec.encode(SessionDeleted(expired=True))


class StoreCore(Reads):
    """The IO-free half of a store: its settings, key names, cache, and every flow.

    A shell (sync or async) owns one ``StoreCore`` and drives the flows it returns
    with its ``run``.
    """

    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings
        self.keyspace = settings.keyspace
        self.ttl = settings.ttl
        self.trim = settings.trim
        self.max_message_bytes = settings.max_message_bytes
        self.idempotency_memory = settings.idempotency_memory
        self._window_ms = int(settings.idempotency_window * 1000)
        self.cache = ProjectionCache(settings.cache_size)
        self.snapshot_every = settings.snapshot_every
        self.retention = settings.retention
        self.refresh_ttl_on_read = settings.refresh_ttl_on_read
        self.feed_max_len = settings.feed_max_len
        self.feed_max_age = settings.feed_max_age
        self.feed_trim_every = settings.feed_trim_every
        self.wait = settings.wait
        self._ttl_ms = str(settings.ttl_ms).encode()
        self._appends = 0
        self.ready = False

    # -- first use -------------------------------------------------------------

    def prepared(self, flow: Generator[Y, Any, T]) -> Generator[Y | Plan[Any], Any, T]:
        """``flow``, preceded on first use by the server check and the partition guard."""
        return flow if self.ready else self._first_use(flow)

    def _first_use(self, flow: Generator[Y, Any, T]) -> Generator[Y | Plan[Any], Any, T]:
        yield from self._handshake()
        self.ready = True
        return (yield from flow)

    def _handshake(self) -> Flow[None]:
        key = self.keyspace.config()
        status, value, policy = yield Plan(
            (1, key, self.keyspace.partitions),
            lambda r: (text(r[0]), text(r[1]), text(r[2]) if len(r) > 2 else ""),
            CONFIGURE,
        )
        if status == "old":
            raise UnsupportedServer(f"streamlog needs Redis >= 6.2 or Valkey (XAUTOCLAIM): {value}")
        if int(value) != self.keyspace.partitions:
            raise PartitionMismatch(self.keyspace.partitions, int(value), key.decode())
        # The eviction policy (of the node holding the config, on a cluster).
        evicting = policy if policy.startswith(("allkeys-", "volatile-")) else ""
        if evicting and not self.settings.allow_eviction:
            raise ConfigError(
                f"the server's maxmemory-policy is {evicting}: at maxmemory Redis would evict "
                "streamlog's keys (session logs, idempotency records, snapshots, the config), which "
                "loses or corrupts sessions silently. Set maxmemory-policy noeviction (managed "
                "services: in the parameter group / instance config), or pass allow_eviction=True "
                "to accept the risk (docs/servers.md)"
            )
        if evicting:
            warnings.warn(
                f"maxmemory-policy {evicting} can evict streamlog's keys and lose or corrupt "
                "sessions silently (allow_eviction=True was given)",
                EvictionRiskWarning,
                stacklevel=2,
            )

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
            expected_offset = normal_offset(expected_offset)  # "T" is "T-0", as Redis spells it
        if idempotency_key is not None and (
            not isinstance(idempotency_key, str) or not idempotency_key or idempotency_key[0] == "\0"
        ):
            raise ConfigError(f"an idempotency key is a non-empty str (not starting with NUL), not {idempotency_key!r}")
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
        # Every append carries an idempotency key (a fresh one unless the caller gave one), so
        # a resend of this very call (redis-py's retry after a lost reply) never writes twice
        # and a conditional append never reports its own write as a conflict.
        idempotency_key = idempotency_key or new_idempotency_key()

        def parse(reply: Any) -> list[str]:
            status = text(reply[0])
            if status == "ok":
                return [text(i) for i in reply[1:]]
            if status == "dup":
                return text(reply[1]).split(",")
            if status == "conflict":
                raise ConflictError(session_id, str(expected_offset), text(reply[1]))
            if status == "error":
                raise StoreError(
                    f"session {session_id!r}: the partition feed is behind the session log (was the "
                    f"feed key deleted by hand?); nothing was written: {text(reply[1])}"
                )
            raise StoreError(f"unexpected reply from the append script: {reply!r}")

        args = (
            7, keys.log, keys.feed, keys.sessions, keys.idem, keys.idem_old, keys.snap,
            self.keyspace.dead(keys.partition), session_id_bytes(session_id), self._ttl_ms,
            expected_offset or b"", idempotency_key, self.idempotency_memory, self._window_ms, _EXPIRED,
            *payloads,
        )  # fmt: skip
        if self.wait is None:
            offsets: list[str] = yield Plan(args, parse, APPEND)
        else:
            wanted, timeout_ms = self.wait

            def parse_replicated(reply: Any) -> list[str]:
                offsets = parse(reply[0])
                if int(reply[1]) < wanted:
                    raise NotReplicated(offsets, int(reply[1]), wanted, timeout_ms)
                return offsets

            offsets = yield Plan(args, parse_replicated, APPEND, self.wait)
        self._appends += 1
        if self.feed_trim_every and self._appends % self.feed_trim_every == 0:
            # Now and then, bound this partition's feed (see trim_feeds); one round trip.
            bounds = (self.feed_max_len, int(self.feed_max_age * 1000), self.settings.ttl_ms)
            yield Plan((1, keys.feed, *bounds), int, TRIM_FEED)
        return offsets

    def append_payloads(
        self, session_id: str, payloads: Sequence[bytes], idempotency_key: str | None = None
    ) -> Flow[list[str]]:
        """Append already-encoded events (an import's), one atomic step; offsets as `append`."""
        return self._append(session_id, self.keyspace.session(session_id), payloads, idempotency_key, None)

    def recorded(self, session_id: str, idempotency_key: str) -> Flow[list[str] | None]:
        """The offsets an append with this key wrote, while the session remembers the key; else None.

        Read-only. The current generation is asked first: a rename between the two reads
        can only move the key from it to the previous one, never the other way.
        """
        keys = self.keyspace.session(session_id)
        for idem in (keys.idem, keys.idem_old):
            seen: str | None = yield Plan(
                (b"HGET", idem, idempotency_key), lambda r: None if r is None else text(r)
            )
            if seen is not None:
                return seen.split(",")
        return None

    def delete(self, session_id: str) -> Flow[bool]:
        """Erase the session: its keys, its events' copies in the feed and dead letters, its
        index entry; then a tombstone on its feed. One atomic step in the partition's slot."""
        keys = self.keyspace.session(session_id)
        tombstone = _codec.encode(SessionDeleted())
        sid = session_id_bytes(session_id)
        dead = self.keyspace.dead(keys.partition)
        args = (
            7,
            keys.log,
            keys.idem,
            keys.idem_old,
            keys.sessions,
            keys.feed,
            keys.snap,
            dead,
            sid,
            tombstone,
        )
        self.cache.forget(session_id)
        existed: bool = yield Plan(args, lambda r: int(r[1]) > 0, DELETE)
        self.cache.forget(session_id)
        return existed

    def sweep(self, partitions: Iterable[int] | None = None, *, limit: int = 1000) -> Flow[int]:
        """Erase sessions whose TTL lapsed, in ``partitions`` (default: all); returns how many."""
        erased, _ = yield from self.sweep_round(partitions, limit=limit)
        return erased

    def sweep_round(
        self, partitions: Iterable[int] | None = None, *, limit: int = 1000
    ) -> Flow[tuple[int, int]]:
        """One round of `sweep`: ``(sessions erased, candidates examined)``.

        Per partition, one read of the session index (the ``limit`` least recently active
        sessions whose last activity is older than the TTL) and one script that erases those
        whose log is gone, as `delete` does, with an ``expired`` tombstone. A candidate that
        is still alive gets the score of its last TTL refresh, so work per call is bounded
        and repeated calls move on. With ``ttl=None`` nothing can have expired: 0.
        """
        if self.ttl is None:
            return 0, 0
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(f"limit is a positive number of sessions, not {limit!r}")
        ttl_ms = self.settings.ttl_ms
        tombstone = _codec.encode(SessionDeleted(expired=True))
        erased = examined = 0
        for p in range(self.keyspace.partitions) if partitions is None else partitions:
            index = self.keyspace.sessions(p)
            found = yield Plan((1, index, ttl_ms, limit), scored, EXPIRED)
            if not found:
                continue
            examined += len(found)
            keys: list[bytes] = [index, self.keyspace.feed(p), self.keyspace.dead(p)]
            argv: list[Any] = [tombstone, ttl_ms]
            for member, score in found:
                sid = text(member)
                session = self.keyspace.session(sid)
                self.cache.forget(sid)
                keys += [session.log, session.snap, session.idem, session.idem_old]
                argv += [member, score]
            erased += yield Plan((len(keys), *keys, *argv), lambda r: int(r[1]), SWEEP)
        return erased, examined
