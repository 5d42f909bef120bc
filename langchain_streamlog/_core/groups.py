"""Workers' logic: consumer groups on the partition feeds, IO-free.

Rule: every decision a worker makes (what to read, what a handler's outcome means,
when an event is dead) lives here as plain functions and flows; the runtimes in
``_worker`` only drive them and call handlers.

Delivery is at-least-once: an event is acknowledged (``XACK``) only after its
handler returned. A handler that raises leaves the event pending; after
``min_idle`` seconds any worker of the group claims it (``XAUTOCLAIM``) and runs it
again; once an event has been delivered ``max_deliveries`` times and failed every
time, it is moved to the partition's dead-letter stream (with the error text) and
acknowledged, in one atomic step, so a poison event cannot block its feed.
"""

from __future__ import annotations

import enum
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from . import codec as _codec
from .errors import ConfigError, DecodeError
from .events import AnyEvent
from .keys import Keyspace
from .plans import Flow, Plan, text
from .reads import unnest
from .scripts import DEAD_LETTER, ENSURE_GROUP, FORGET, MEMBERS, REQUEUE, TRIM_FEED

__all__ = [
    "Call", "Decision", "Delivery", "GroupCore", "WorkFlow", "dead_letters", "decide", "group_names", "requeue", "share",
    "trim_feeds",
]  # fmt: skip

T = TypeVar("T")


@dataclass(frozen=True)
class Delivery:
    """One event handed to a handler: where it is, whose it is, and which attempt this is."""

    partition: int
    offset: str
    session_id: str
    event: AnyEvent | None  # None: the payload could not be decoded (see ``error``)
    attempt: int = 1
    error: str | None = None
    feed_id: str = ""  # the feed entry's id: the offset, unless the event was requeued

    @property
    def entry(self) -> str:
        return self.feed_id or self.offset


class Decision(enum.Enum):
    ACK = "ack"  # the handler succeeded: acknowledge
    RETRY = "retry"  # leave it pending: it is claimed again after min_idle
    DEAD = "dead"  # move it to the dead letters and acknowledge


def decide(attempt: int, failed: bool, max_deliveries: int) -> Decision:
    """What to do with a delivery after its handler ran (``failed``: it raised)."""
    if not failed:
        return Decision.ACK
    return Decision.DEAD if attempt >= max_deliveries else Decision.RETRY


def share(partitions: int, members: Sequence[str], me: str) -> list[int]:
    """The partitions ``me`` reads when ``members`` (sorted names) split ``partitions`` between them.

    Member ``i`` of ``n`` takes partitions ``i, i + n, i + 2n, ...``: shares differ by at
    most one, and since partitions lie on the cluster's masters in order, each worker's
    share spreads over the masters too. A worker not (yet) among the members reads all.
    """
    if me not in members:
        return list(range(partitions))
    return list(range(members.index(me), partitions, len(members)))


@dataclass(frozen=True)
class Call:
    """A flow's request to its driver: run the handler once per item of ``args``.

    Each item is one `Delivery`, or a list of them for a batch handler. The
    driver sends back, in order, None for each call that returned or the text of
    what it raised; it may run the calls concurrently (the async runtime does, up
    to its ``concurrency``), since delivery order is not promised anyway.
    """

    args: tuple[Delivery | list[Delivery], ...]


def _deliveries(partition: int, entries: Any, attempts: dict[str, int] | None = None) -> list[Delivery]:
    out = []
    for entry_id, fields in entries or ():
        if fields is None:  # an entry deleted while pending (XAUTOCLAIM in Redis < 7)
            continue
        values = fields if isinstance(fields, dict) else dict(zip(fields[::2], fields[1::2], strict=True))
        feed_id = text(entry_id)
        # A requeued dead letter carries its log offset; a first delivery's offset is its id.
        offset = text(values[b"o"]) if b"o" in values else feed_id
        attempt = (attempts or {}).get(feed_id, 1)
        session = values.get(b"s", b"").decode("utf-8", "replace")
        try:
            event: AnyEvent | None = _codec.decode(values.get(b"e", b""))
            error = None
        except DecodeError as exc:
            event, error = None, str(exc)
        out.append(Delivery(partition, offset, session, event, attempt, error, feed_id))
    return out


#: A worker flow: yields plans to send and calls to make, returns T.
WorkFlow = Generator["Plan[Any] | Call", Any, T]


class GroupCore:
    """The flows of one consumer of one group over some partitions.

    With ``partitions=None`` the consumer shares the partitions with the other live
    consumers of its group: each `heartbeat` renews its lease in the group's
    membership and takes its `share`. Sharing only saves work: the consumer
    group already hands each event to one consumer, so two workers that briefly
    read the same feed (while the membership changes) still never both get an event.
    A worker that dies keeps its events pending until ``min_idle`` passes and the
    partition's new reader claims them.
    """

    def __init__(
        self,
        keyspace: Keyspace,
        group: str,
        consumer: str,
        partitions: Sequence[int] | None = None,
        *,
        lease: float = 10.0,
        batch: int = 100,
        min_idle: float = 30.0,
        max_deliveries: int = 5,
        start: str = "0",
        batch_handler: bool = False,
    ) -> None:
        if not group or not isinstance(group, str):
            raise ConfigError(f"a group name is a non-empty str, not {group!r}")
        if max_deliveries < 1 or batch < 1 or min_idle < 0 or lease <= 0:
            raise ConfigError("max_deliveries and batch must be >= 1, min_idle >= 0, lease > 0")
        self.keyspace, self.group, self.consumer = keyspace, group, consumer
        self.shared = partitions is None
        self.partitions = list(range(keyspace.partitions) if partitions is None else partitions)
        self.lease_ms = int(lease * 1000)
        self.members: list[str] = []
        self._next_beat = 0.0
        self.batch, self.max_deliveries, self.start = batch, max_deliveries, start
        self.batch_handler = batch_handler
        self.min_idle_ms = int(min_idle * 1000)
        self._claim_from: dict[int, str] = {}

    def ensure_groups(self) -> WorkFlow[None]:
        """Create the group on every feed that lacks it (from ``start``: "0" = the whole feed).

        A sharing consumer creates it on every feed, since any may become its own.
        """
        for p in range(self.keyspace.partitions) if self.shared else self.partitions:
            feed = self.keyspace.feed(p)
            # Read first: a group that exists costs no write, so a worker starts and drains
            # even on a server at maxmemory that refuses writes (noeviction).
            if (yield Plan((b"EXISTS", feed), int)):
                # "GROUPS" as str: the cluster client finds the key of a subcommand by its str name.
                names = yield Plan((b"XINFO", "GROUPS", feed), group_names)
                if self.group in names:
                    continue
            yield Plan((1, feed, self.group, self.start), int, ENSURE_GROUP)

    def heartbeat(self, now: float | None = None, *, leave: bool = False) -> WorkFlow[list[int]]:
        """Renew this consumer's lease (or leave) and take its share; returns its partitions.

        ``now`` (a monotonic clock, seconds): beat only if a third of the lease has
        passed since the last beat. A consumer with fixed partitions never beats.
        """
        if not self.shared or (now is not None and now < self._next_beat and not leave):
            return self.partitions
        names = yield Plan(
            (1, self.keyspace.members(self.group), self.consumer, self.lease_ms, "1" if leave else "0"),
            _names,
            MEMBERS,
        )
        self.members = names
        if now is not None:
            self._next_beat = now + self.lease_ms / 3000
        if not leave:
            self.partitions = share(self.keyspace.partitions, names, self.consumer)
        return self.partitions

    def forget_dead(self) -> WorkFlow[int]:
        """Remove consumers of no live worker (nothing pending, idle a lease) from this
        worker's feeds; returns how many. Only a sharing worker knows who is live."""
        if not self.shared or not self.members:
            return 0
        removed = 0
        for p in self.partitions:
            args = (1, self.keyspace.feed(p), self.group, self.lease_ms, *self.members)
            removed += yield Plan(args, int, FORGET)
        return removed

    def poll(self, block_ms: int | None = None) -> WorkFlow[int]:
        """Claim idle events of dead consumers, then read new ones; handle, settle. Returns how many."""
        handled = 0
        for p in self.partitions:
            claimed = yield from self._claim(p)
            handled += yield from self._handle(p, claimed)
        for p in self.partitions:
            args: tuple[Any, ...] = (b"XREADGROUP", b"GROUP", self.group, self.consumer, b"COUNT", self.batch)
            blocking = block_ms is not None and len(self.partitions) == 1
            if blocking:
                args += (b"BLOCK", block_ms)
            reply = yield Plan((*args, b"STREAMS", self.keyspace.feed(p), b">"), _stream_entries, blocking=blocking)
            handled += yield from self._handle(p, _deliveries(p, reply))
        return handled

    def _claim(self, p: int) -> WorkFlow[list[Delivery]]:
        feed = self.keyspace.feed(p)
        reply = yield Plan(
            (b"XAUTOCLAIM", feed, self.group, self.consumer, self.min_idle_ms, self._claim_from.get(p, "0-0"),
             b"COUNT", self.batch),
            list,
        )  # fmt: skip
        self._claim_from[p] = text(reply[0])
        if not reply[1]:
            return []
        ids = [text(e[0]) for e in reply[1] if e and e[1] is not None]
        if not ids:
            return []
        pending = yield Plan(
            (b"XPENDING", feed, self.group, ids[0], ids[-1], len(ids) + self.batch, self.consumer), list
        )
        attempts = {text(row[0]): int(row[3]) for row in pending}
        return _deliveries(p, reply[1], attempts)

    def _handle(self, p: int, deliveries: list[Delivery]) -> WorkFlow[int]:
        if not deliveries:
            return 0
        broken = {d.entry: d.error for d in deliveries if d.event is None}
        runnable = tuple(d for d in deliveries if d.event is not None)
        failures: dict[str, str | None] = dict(broken)
        units = [list(runnable)] if self.batch_handler and runnable else [[d] for d in runnable]
        if units:
            errors = yield Call(tuple(unit if self.batch_handler else unit[0] for unit in units))
            for unit, error in zip(units, errors, strict=True):
                if error is not None:  # a batch handler that raises fails its whole batch
                    failures.update((d.entry, error) for d in unit)
        acks = []
        for d in deliveries:
            error = failures.get(d.entry)
            decision = decide(d.attempt, d.entry in failures, self.max_deliveries)
            if decision is Decision.ACK:
                acks.append(d.entry)
            elif decision is Decision.DEAD:
                yield Plan(
                    (
                        2,
                        self.keyspace.feed(p),
                        self.keyspace.dead(p),
                        self.group,
                        d.entry,
                        str(error),
                        d.offset,
                    ),
                    int,
                    DEAD_LETTER,
                )
        if acks:
            yield Plan((b"XACK", self.keyspace.feed(p), self.group, *acks), int)
        return len(deliveries)


def group_names(reply: Any) -> set[str]:
    """The group names of an ``XINFO GROUPS`` reply (RESP2 flat lists or RESP3 maps)."""
    out = set()
    for info in reply:
        values = info if isinstance(info, dict) else dict(zip(info[::2], info[1::2], strict=True))
        out.add(text({text(k): v for k, v in values.items()}["name"]))
    return out


def _names(reply: Any) -> list[str]:
    return [text(name) for name in reply]


def _stream_entries(reply: Any) -> Any:
    # XREADGROUP: RESP2 [[key, entries]], RESP3 {key: entries}, None on timeout.
    if not reply:
        return []
    streams = list(reply.values()) if isinstance(reply, dict) else [item[1] for item in reply]
    return [entry for stream in streams for entry in unnest(stream)]


def trim_feeds(keyspace: Keyspace, max_len: int = 0, max_age: float = 0, ttl: float | None = None) -> Flow[int]:
    """Trim every partition feed below what all its consumer groups are done with.

    A feed with no group keeps its newest ``max_len`` events and those younger than
    ``max_age`` seconds (0: no bound). With a deployment ``ttl`` (seconds), no feed keeps
    an event older than it, read or not. Returns how many events were removed.
    """
    trimmed = 0
    ttl_ms = 0 if ttl is None else max(1, int(ttl * 1000))
    for p in range(keyspace.partitions):
        args = (1, keyspace.feed(p), int(max_len), int(max_age * 1000), ttl_ms)
        trimmed += yield Plan(args, int, TRIM_FEED)
    return trimmed


def requeue(keyspace: Keyspace, group: str | None = None) -> Flow[int]:
    """Put dead letters (of ``group``, or all) back on their feeds; returns how many."""
    moved = 0
    for p in range(keyspace.partitions):
        moved += yield Plan((2, keyspace.dead(p), keyspace.feed(p), group or ""), int, REQUEUE)
    return moved


def dead_letters(keyspace: Keyspace, limit: int = 100) -> Flow[list[dict[str, str]]]:
    """The dead letters of every partition (at most ``limit`` each): group, offset, session, error."""
    out = []
    for p in range(keyspace.partitions):
        reply = yield Plan((b"XRANGE", keyspace.dead(p), b"-", b"+", b"COUNT", limit), list)
        for entry_id, fields in reply:
            values = fields if isinstance(fields, dict) else dict(zip(fields[::2], fields[1::2], strict=True))
            row = {k.decode(): text(v) for k, v in values.items() if k != b"e"}
            out.append({"partition": str(p), "id": text(entry_id), **row})
    return out


def group_stats(keyspace: Keyspace) -> Flow[list[dict[str, Any]]]:
    """Per partition feed: its length and each group's pending count and last delivered id."""
    out: list[dict[str, Any]] = []
    for p in range(keyspace.partitions):
        feed = keyspace.feed(p)
        exists = yield Plan((b"EXISTS", feed), int)
        if not exists:
            continue
        length = yield Plan((b"XLEN", feed), int)
        # "GROUPS" as str: the cluster client finds the key of a subcommand by its str name.
        groups = yield Plan((b"XINFO", "GROUPS", feed), list)
        for info in groups:
            values = info if isinstance(info, dict) else dict(zip(info[::2], info[1::2], strict=True))
            get = {text(k): v for k, v in values.items()}
            out.append({
                "partition": p, "feed_length": length, "group": text(get["name"]),
                "consumers": int(get["consumers"]), "pending": int(get["pending"]),
                "last_delivered": text(get["last-delivered-id"]),
                # Redis >= 7: entries the group has not been given yet (None when unknown).
                "lag": int(get["lag"]) if get.get("lag") is not None else None,
            })  # fmt: skip
    return out
