"""LangGraph checkpointers on streamlog's engine: ``StreamlogSaver`` and ``AsyncStreamlogSaver``.

Rule: everything a checkpointer does is built once, IO-free, in :class:`CheckpointCore`
as flows of :class:`~streamlog._plans.Plan` (the same machinery as the chat history);
the two savers only drive those flows through a :class:`~streamlog.StreamStore` or an
:class:`~streamlog.AsyncStreamStore` (their ``_drive``), so no logic exists twice for
sync and async, and the first-use checks (server, partition count) are the store's.

Storage, per thread, in the thread's partition slot (see docs/langgraph.md and the
scripts in ``_scripts``): an append-only stream of checkpoints (a checkpoint's stream
id is its *offset*), a hash of channel values stored once per (namespace, channel,
version), a hash and a sorted set of pending writes, and an index hash (checkpoint id
-> stream id; namespace -> newest stream id). Each write is one script, so one round
trip; each read of one checkpoint is one script that also returns its channel values
and pending writes.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar
from uuid import UUID

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    PendingWrite,
    get_checkpoint_metadata,
    writes_sort_key,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from ._errors import ConfigError, ConflictError, StoreError
from ._fold import paused_gc
from ._history import Streamlog
from ._keys import Keyspace
from ._plans import Flow, Plan, check_offset, text
from ._scripts import (
    CKPT_DELETE,
    CKPT_DUMP,
    CKPT_GET,
    CKPT_LIST,
    CKPT_LOAD,
    CKPT_PUT,
    CKPT_RUN_THREADS,
    CKPT_SWEEP,
    CKPT_WRITES,
)
from ._store import AsyncStreamStore, StreamStore

__all__ = ["AsyncStreamlogSaver", "CheckpointCore", "StreamlogSaver", "ThreadKeys"]

T = TypeVar("T")

_PAGE = 25  # checkpoints per list page
_BUDGET = 2000  # stream entries one list page may read (other namespaces are skipped)
_THREADS_PAGE = 500


class ThreadKeys(NamedTuple):
    """Every key of one thread's checkpoints (:meth:`Keyspace.thread`); all share one slot."""

    partition: int
    checkpoints: bytes
    blobs: bytes
    writes: bytes
    write_keys: bytes
    ids: bytes
    threads: bytes
    runs: bytes

    def script_keys(self) -> tuple[Any, ...]:
        """``numkeys`` and the keys, as every per-thread checkpoint script takes them."""
        return (7, *self[1:])


# -- encodings (mirrored by the Lua in _scripts) --------------------------------


def _enc(data: bytes) -> bytes:
    """A self-delimiting string: ``<byte length>:<bytes>``."""
    return b"%d:%s" % (len(data), data)


def _take(data: bytes, pos: int) -> tuple[bytes, int]:
    colon = data.index(b":", pos)
    start = colon + 1
    end = start + int(data[pos:colon])
    return data[start:end], end


def _split(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(data):
        item, pos = _take(data, pos)
        out.append(item)
    return out


def _typed(pair: tuple[str, bytes]) -> bytes:
    """A serde ``(type, bytes)`` pair as one value."""
    return _enc(pair[0].encode()) + pair[1]


def _untyped(value: bytes) -> tuple[str, bytes]:
    kind, pos = _take(value, 0)
    return kind.decode(), value[pos:]


def _version_token(version: Any) -> bytes:
    """A channel version as bytes that keep its type: ``i<int>``, ``f<float>``, ``s<str>``."""
    if isinstance(version, str):
        return b"s" + version.encode()
    if isinstance(version, int) and not isinstance(version, bool):
        return b"i%d" % version
    if isinstance(version, float):
        return b"f" + repr(version).encode()
    raise ConfigError(f"a channel version is a str, int or float, not {version!r}")


def _version(token: bytes) -> str | int | float:
    kind, rest = token[:1], token[1:]
    if kind == b"i":
        return int(rest)
    if kind == b"f":
        return float(rest)
    return rest.decode()


def _thread_id(value: object) -> str:
    """A thread id as the str its keys use (LangGraph accepts ints and UUIDs too)."""
    if isinstance(value, (int, UUID)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ConfigError(f"a thread id (configurable.thread_id) is a str, not {value!r}")
    return value


def _config(thread_id: str, ns: str, checkpoint_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id}}


def _matches(metadata: Any, wanted: dict[str, Any] | None) -> bool:
    return not wanted or all(metadata.get(k) == v for k, v in wanted.items())


class _Row:
    """One loaded entry of a checkpoint script: ``[id, fields, blob values, write keys, write values]``."""

    __slots__ = ("blobs", "cid", "fields", "ns", "offset", "write_keys", "write_values")

    def __init__(self, reply: Any) -> None:
        self.offset = text(reply[0])
        flat = reply[1]
        self.fields: dict[bytes, bytes] = dict(zip(flat[::2], flat[1::2], strict=True))
        self.blobs: list[bytes | None] = reply[2]
        self.write_keys: list[bytes] = reply[3]
        self.write_values: list[bytes | None] = reply[4]
        self.ns = self.fields[b"n"].decode()
        self.cid = self.fields[b"i"].decode()


@dataclass
class _Listing:
    """The state of one ``list`` call, shared by the page flows it yields."""

    filter: dict[str, Any] | None
    before: str | None
    left: int | None

    @property
    def done(self) -> bool:
        return self.left is not None and self.left <= 0


class CheckpointCore:
    """The IO-free half of both savers: key names, encodings, and every flow.

    Args:
        keyspace: the deployment's key names and partitions.
        ttl: seconds; every write sets it on all of the thread's keys (sliding). None: no expiry.
        serde: LangGraph's serializer (``dumps_typed`` / ``loads_typed``).
    """

    def __init__(self, keyspace: Keyspace, ttl: float | None, serde: SerializerProtocol) -> None:
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0):
            raise ConfigError(f"ttl is a positive number of seconds or None, not {ttl!r}")
        self.keyspace = keyspace
        self.ttl = ttl
        self.serde = serde
        self._ttl_ms = b"0" if ttl is None else str(max(1, int(ttl * 1000))).encode()

    def with_serde(self, serde: SerializerProtocol) -> CheckpointCore:
        return CheckpointCore(self.keyspace, self.ttl, serde)

    def keys(self, thread_id: str) -> ThreadKeys:
        """The keys of a thread (validates the id like a session id)."""
        return ThreadKeys(*self.keyspace.thread(thread_id))

    # -- writes ------------------------------------------------------------------

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> Flow[RunnableConfig]:
        """Store a checkpoint and the values of the channels in ``new_versions``: one script."""
        conf = config["configurable"]
        tid = _thread_id(conf.get("thread_id"))
        ns = conf.get("checkpoint_ns") or ""
        parent = conf.get("checkpoint_id") or ""
        cid = checkpoint["id"]
        if not isinstance(cid, str) or not cid:
            raise ConfigError(f"a checkpoint id is a non-empty str, not {cid!r}")
        keys = self.keys(tid)
        stored: dict[str, Any] = dict(checkpoint)
        values: dict[str, Any] = stored.pop("channel_values", None) or {}
        versions: dict[str, Any] = stored.pop("channel_versions", None) or {}
        full = get_checkpoint_metadata(config, metadata)
        run = full.get("run_id")
        dumps = self.serde.dumps_typed
        base = _enc(ns.encode())
        blobs: list[bytes] = []
        for channel, version in new_versions.items():
            if channel in values:
                blobs += (
                    base + _enc(channel.encode()) + _version_token(version),
                    _typed(dumps(values[channel])),
                )
        args = (
            *keys.script_keys(),
            tid, ns, cid, parent, _typed(dumps(stored)), _typed(dumps(full)),
            b"".join(_enc(ch.encode()) + _enc(_version_token(v)) for ch, v in versions.items()),
            "" if run is None else str(run), self._ttl_ms, *blobs,
        )  # fmt: skip
        yield Plan(args, _status, CKPT_PUT)
        return _config(tid, ns, cid)

    def put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> Flow[None]:
        """Store a task's pending writes for a checkpoint: one script. A write already
        stored under the same (task, index) is kept, except LangGraph's special channels."""
        conf = config["configurable"]
        tid = _thread_id(conf.get("thread_id"))
        ns = conf.get("checkpoint_ns") or ""
        cid = conf.get("checkpoint_id")
        if not isinstance(cid, str) or not cid:
            raise ConfigError(f"put_writes needs configurable.checkpoint_id, not {cid!r}")
        keys = self.keys(tid)
        prefix = _enc(ns.encode()) + _enc(cid.encode()) + _enc(str(task_id).encode())
        path = _enc(task_path.encode())
        args: list[Any] = []
        for i, (channel, value) in enumerate(writes):
            idx = WRITES_IDX_MAP.get(channel, i)
            args += (
                prefix + b"%d" % idx,
                _enc(channel.encode()) + path + _typed(self.serde.dumps_typed(value)),
                b"1" if idx < 0 else b"0",
            )
        if args:
            yield Plan((*keys.script_keys(), tid, self._ttl_ms, *args), int, CKPT_WRITES)

    def delete_thread(self, thread_id: str) -> Flow[None]:
        """Erase every key of the thread, all namespaces: one script."""
        tid = _thread_id(thread_id)
        yield Plan((*self.keys(tid).script_keys(), tid), int, CKPT_DELETE)

    def prune(self, thread_ids: Sequence[str], strategy: str = "keep_latest") -> Flow[None]:
        """``keep_latest``: keep each namespace's newest checkpoint; ``delete``: erase. One script per thread."""
        if strategy not in ("keep_latest", "delete"):
            raise ConfigError(f"prune strategy is 'keep_latest' or 'delete', not {strategy!r}")
        for thread_id in thread_ids:
            if strategy == "delete":
                yield from self.delete_thread(thread_id)
            else:
                tid = _thread_id(thread_id)
                yield Plan((*self.keys(tid).script_keys(), tid, b"latest"), int, CKPT_SWEEP)

    def delete_for_runs(self, run_ids: Sequence[str]) -> Flow[None]:
        """Delete every checkpoint (and its writes) of the runs: one lookup per partition,
        then one script per thread found."""
        runs = [str(r) for r in run_ids]
        if not runs:
            return
        for p in range(self.keyspace.partitions):
            threads = yield Plan((1, self.keyspace.checkpoint_runs(p), *runs), _texts, CKPT_RUN_THREADS)
            for tid in threads:
                yield Plan((*self.keys(tid).script_keys(), tid, b"runs", *runs), int, CKPT_SWEEP)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> Flow[None]:
        """Copy every checkpoint, value and pending write of a thread to an empty thread.

        Two scripts: a consistent read of the source, then one write of the target that
        keeps the source's stream ids (offsets and order carry over).

        Raises:
            ConflictError: the target thread already holds checkpoints (nothing is written).
        """
        src = self.keys(_thread_id(source_thread_id))
        tid = _thread_id(target_thread_id)
        dst = self.keys(tid)
        entries, blobs, writes = yield Plan(src.script_keys(), list, CKPT_DUMP)
        if not entries:
            return
        args: list[Any] = [tid, self._ttl_ms, len(entries)]
        for offset, flat in entries:
            args += (offset, len(flat), *flat)
        args += (len(blobs) // 2, *blobs, *writes)
        reply = yield Plan((*dst.script_keys(), *args), list, CKPT_LOAD)
        if text(reply[0]) == "exists":
            raise ConflictError(tid, "0-0", text(reply[1]))

    # -- reads -------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> Flow[CheckpointTuple | None]:
        """The checkpoint ``config`` names, or its namespace's newest; one script."""
        conf = config["configurable"]
        tid = _thread_id(conf.get("thread_id"))
        ns = conf.get("checkpoint_ns") or ""
        cid = conf.get("checkpoint_id") or ""
        reply = yield Plan((*self.keys(tid).script_keys(), ns, cid), _row, CKPT_GET)
        if reply is None:
            return None
        with paused_gc():
            return self._tuple(tid, reply)

    def offset_of(self, config: RunnableConfig) -> Flow[str | None]:
        """The stream id (offset) of the checkpoint ``config`` names (or its namespace's newest)."""
        conf = config["configurable"]
        tid = _thread_id(conf.get("thread_id"))
        ns = (conf.get("checkpoint_ns") or "").encode()
        cid = conf.get("checkpoint_id")
        field = _enc(ns) + cid.encode() if cid else b"@" + ns
        found: str | None = yield Plan((b"HGET", self.keys(tid).ids, field), _maybe_text)
        return found

    def get_tuple_at(self, config: RunnableConfig, offset: str) -> Flow[CheckpointTuple | None]:
        """The newest checkpoint of ``config``'s thread and namespace at or before ``offset``."""
        conf = config["configurable"]
        tid = _thread_id(conf.get("thread_id"))
        ns = conf.get("checkpoint_ns") or ""
        cursor = check_offset(offset, allow_bounds=False)
        keys = self.keys(tid)
        while cursor:
            cursor, rows = yield Plan(
                (*keys.script_keys(), b"1", ns, cursor, 1, _BUDGET, b""), _page, CKPT_LIST
            )
            if rows:
                with paused_gc():
                    return self._tuple(tid, rows[0])
        return None

    def list_pages(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[Flow[list[CheckpointTuple]]]:
        """``list`` as a sequence of flows, each returning the next checkpoints, newest first.

        Drive each flow before asking for the next one (the shells do): a flow moves the
        listing's cursor. Without ``config``, every thread of every partition is listed,
        thread by thread.
        """
        before_id = (before or {}).get("configurable", {}).get("checkpoint_id")
        state = _Listing(filter, before_id, limit)
        if state.done:
            return
        if config is None:
            for p in range(self.keyspace.partitions):
                start = 0
                while True:
                    found: list[str] = []
                    yield self._threads(p, start, found)
                    for tid in found:
                        yield from self._thread_pages(tid, None, None, state)
                        if state.done:
                            return
                    if len(found) < _THREADS_PAGE:
                        break
                    start += _THREADS_PAGE
        else:
            conf = config["configurable"]
            yield from self._thread_pages(
                _thread_id(conf.get("thread_id")), conf.get("checkpoint_ns"), conf.get("checkpoint_id"), state
            )

    def _threads(self, partition: int, start: int, found: list[str]) -> Flow[list[CheckpointTuple]]:
        key = self.keyspace.checkpoint_threads(partition)
        found += yield Plan((b"ZRANGE", key, start, start + _THREADS_PAGE - 1), _texts)
        return []

    def _thread_pages(
        self, tid: str, ns: str | None, cid: str | None, state: _Listing
    ) -> Iterator[Flow[list[CheckpointTuple]]]:
        if cid and ns is not None:
            yield self._one(tid, ns, cid, state)
            return
        cursor = ["+"]
        while cursor[0] and not state.done:
            yield self._page(tid, ns, cid, state, cursor)

    def _one(self, tid: str, ns: str, cid: str, state: _Listing) -> Flow[list[CheckpointTuple]]:
        found = yield from self.get_tuple(_config(tid, ns, cid))
        if (
            found is None
            or (state.before and cid >= state.before)
            or not _matches(found.metadata, state.filter)
        ):
            return []
        if state.left is not None:
            state.left -= 1
        return [found]

    def _page(
        self, tid: str, ns: str | None, cid: str | None, state: _Listing, cursor: list[str]
    ) -> Flow[list[CheckpointTuple]]:
        want = _PAGE if state.left is None or state.filter or state.before or cid else min(_PAGE, state.left)
        args = (b"0" if ns is None else b"1", ns or "", cursor[0], want, _BUDGET, state.before or "")
        cursor[0], rows = yield Plan((*self.keys(tid).script_keys(), *args), _page, CKPT_LIST)
        out = []
        with paused_gc():  # channel values build many acyclic objects (messages)
            for row in rows:
                if (cid and row.cid != cid) or (state.before and row.cid >= state.before):
                    continue
                metadata = self.serde.loads_typed(_untyped(row.fields[b"m"]))
                if not _matches(metadata, state.filter):
                    continue
                out.append(self._tuple(tid, row, metadata))
                if state.left is not None:
                    state.left -= 1
                    if state.done:
                        break
        return out

    def _tuple(self, tid: str, row: _Row, metadata: Any = None) -> CheckpointTuple:
        loads = self.serde.loads_typed
        f = row.fields
        checkpoint = loads(_untyped(f[b"c"]))
        versions: dict[str, str | int | float] = {}
        values: dict[str, Any] = {}
        items = _split(f[b"v"])
        for k in range(0, len(items), 2):
            channel = items[k].decode()
            versions[channel] = _version(items[k + 1])
            blob = row.blobs[k // 2]
            if blob is not None:
                values[channel] = loads(_untyped(blob))
        checkpoint["channel_versions"] = versions
        checkpoint["channel_values"] = values
        writes: list[tuple[tuple[str, str, int], PendingWrite]] = []
        for key, value in zip(row.write_keys, row.write_values, strict=True):
            if value is None:
                continue
            _, pos = _take(key, 0)  # namespace
            _, pos = _take(key, pos)  # checkpoint id
            task_id, pos = _take(key, pos)
            write_channel, vpos = _take(value, 0)
            task_path, vpos = _take(value, vpos)
            task = task_id.decode()
            order = writes_sort_key(task_path.decode(), task, int(key[pos:]))
            writes.append((order, (task, write_channel.decode(), loads(_untyped(value[vpos:])))))
        writes.sort(key=lambda w: w[0])
        parent = f.get(b"p", b"").decode()
        return CheckpointTuple(
            config=_config(tid, row.ns, row.cid),
            checkpoint=checkpoint,
            metadata=loads(_untyped(f[b"m"])) if metadata is None else metadata,
            parent_config=_config(tid, row.ns, parent) if parent else None,
            pending_writes=[w for _, w in writes],
        )


# -- reply parsers ----------------------------------------------------------------


def _status(reply: Any) -> str:
    if not reply or text(reply[0]) != "ok":
        raise StoreError(f"unexpected reply from a checkpoint script: {reply!r}")
    return text(reply[1])


def _texts(reply: Any) -> list[str]:
    return [text(item) for item in reply]


def _maybe_text(reply: Any) -> str | None:
    return None if reply is None else text(reply)


def _row(reply: Any) -> _Row | None:
    return _Row(reply) if reply else None


def _page(reply: Any) -> tuple[str, list[_Row]]:
    return text(reply[0]), [_Row(r) for r in reply[1]]


# -- the savers -------------------------------------------------------------------


def _next_version(current: str | int | float | None) -> str:
    # The format of LangGraph's own savers: the step, then a random part, so two
    # branches forked from one checkpoint never give a channel the same version.
    if current is None:
        step = 0
    elif isinstance(current, (int, float)):
        step = int(current)
    else:
        step = int(current.split(".")[0])
    return f"{step + 1:032}.{random.random():016}"


def _keyspace_settings(
    store: StreamStore | AsyncStreamStore, key_prefix: str | None, partitions: int | None
) -> None:
    keyspace = store.keyspace
    if key_prefix is not None and Keyspace(key_prefix, keyspace.partitions).config() != keyspace.config():
        raise ConfigError(f"key_prefix {key_prefix!r} differs from the store's {keyspace.prefix!r}")
    if partitions is not None and partitions != keyspace.partitions:
        raise ConfigError(f"partitions={partitions} differs from the store's {keyspace.partitions}")


class _Saver(BaseCheckpointSaver[str]):
    """What both savers share: settings, the core, the serializer and versions."""

    _core: CheckpointCore

    def __init__(self, keyspace: Keyspace, ttl: float | None, serde: SerializerProtocol | None) -> None:
        self._core = CheckpointCore(keyspace, ttl, JsonPlusSerializer())
        super().__init__(serde=serde)  # sets self.serde (below), wrapped by LangGraph

    @property
    def serde(self) -> SerializerProtocol:
        return self._core.serde

    @serde.setter
    def serde(self, value: SerializerProtocol) -> None:
        # with_allowlist() copies the saver and sets a derived serializer on the copy.
        self._core = self._core.with_serde(value)

    @property
    def keyspace(self) -> Keyspace:
        return self._core.keyspace

    @property
    def ttl(self) -> float | None:
        return self._core.ttl

    def get_next_version(self, current: str | None, channel: None) -> str:
        return _next_version(current)

    # -- the sync interface: one implementation, each saver runs flows its own way -----

    def _run(self, flow: Flow[T]) -> T:
        raise NotImplementedError

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._run(self._core.get_tuple(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        for flow in self._core.list_pages(config, filter=filter, before=before, limit=limit):
            yield from self._run(flow)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self._run(self._core.put(config, checkpoint, metadata, new_versions))

    def put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        self._run(self._core.put_writes(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        self._run(self._core.delete_thread(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        self._run(self._core.delete_for_runs(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self._run(self._core.copy_thread(source_thread_id, target_thread_id))

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self._run(self._core.prune(thread_ids, strategy))

    # -- offsets (time travel by streamlog offset) --------------------------------------

    def offset_of(self, config: RunnableConfig) -> str | None:
        """The checkpoint's offset: its stream id, like ``"1732300000000-0"`` (None: no such checkpoint).

        Without ``checkpoint_id``: the offset of the namespace's newest checkpoint.
        """
        return self._run(self._core.offset_of(config))

    def get_tuple_at(self, config: RunnableConfig, offset: str) -> CheckpointTuple | None:
        """The thread's state as of ``offset``: the newest checkpoint of ``config``'s
        namespace at or before it (any stream id works, e.g. a chat session's offset)."""
        return self._run(self._core.get_tuple_at(config, offset))

    # -- the async interface: one implementation, each saver runs flows its own way ----

    async def _arun(self, flow: Flow[T]) -> T:
        raise NotImplementedError

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._arun(self._core.get_tuple(config))

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        for flow in self._core.list_pages(config, filter=filter, before=before, limit=limit):
            for item in await self._arun(flow):
                yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._arun(self._core.put(config, checkpoint, metadata, new_versions))

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        await self._arun(self._core.put_writes(config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        await self._arun(self._core.delete_thread(thread_id))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await self._arun(self._core.delete_for_runs(run_ids))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self._arun(self._core.copy_thread(source_thread_id, target_thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await self._arun(self._core.prune(thread_ids, strategy))

    async def aoffset_of(self, config: RunnableConfig) -> str | None:
        return await self._arun(self._core.offset_of(config))

    async def aget_tuple_at(self, config: RunnableConfig, offset: str) -> CheckpointTuple | None:
        return await self._arun(self._core.get_tuple_at(config, offset))


class StreamlogSaver(_Saver):
    """A LangGraph checkpointer on a synchronous redis-py client (or cluster client).

    Args:
        client_or_store: a ``redis.Redis`` / ``RedisCluster``, a :class:`~streamlog.StreamStore`,
            or a :class:`~streamlog.Streamlog` (its store is used).
        key_prefix: first component of every key (default ``"streamlog"``, or the store's).
        partitions: the deployment's partition count (default 16, or the store's).
        ttl: seconds after a thread's last write when all its keys expire (every
            ``put``/``put_writes`` restarts it); None: no expiry (or the store's ttl).
        serde: LangGraph serializer; default ``JsonPlusSerializer()`` (no pickle fallback).

    The async methods (``aput``, ...) run the sync ones in a worker thread; for an
    asyncio application use :class:`AsyncStreamlogSaver`.
    """

    def __init__(
        self,
        client_or_store: Any,
        *,
        key_prefix: str | None = None,
        partitions: int | None = None,
        ttl: float | None = None,
        serde: SerializerProtocol | None = None,
    ) -> None:
        if isinstance(client_or_store, Streamlog):
            client_or_store = client_or_store.store
        if isinstance(client_or_store, StreamStore):
            store = client_or_store
            _keyspace_settings(store, key_prefix, partitions)
        else:
            store = StreamStore(
                client_or_store, key_prefix=key_prefix or "streamlog", partitions=partitions or 16
            )
        self.store = store
        super().__init__(store.keyspace, store.ops.ttl if ttl is None else ttl, serde)

    @classmethod
    def from_url(cls, url: str, *, cluster: bool = False, **settings: Any) -> StreamlogSaver:
        """A saver over a new client for ``url``; :meth:`close` (or ``with``) closes it."""
        store = StreamStore.from_url(
            url,
            cluster=cluster,
            key_prefix=settings.pop("key_prefix", None) or "streamlog",
            partitions=settings.pop("partitions", None) or 16,
        )
        return cls(store, **settings)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> StreamlogSaver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, flow: Flow[T]) -> T:
        return self.store._drive(flow)

    async def _arun(self, flow: Flow[T]) -> T:
        return await asyncio.to_thread(self.store._drive, flow)


class AsyncStreamlogSaver(_Saver):
    """A LangGraph checkpointer on an asyncio redis-py client (or asyncio cluster client).

    Same arguments as :class:`StreamlogSaver`; ``client_or_store`` is a
    ``redis.asyncio.Redis`` / asyncio ``RedisCluster``, an :class:`~streamlog.AsyncStreamStore`,
    or a :class:`~streamlog.Streamlog` (its asyncio store for the running loop is used).

    The sync methods work only from another thread while the saver's event loop runs
    (LangGraph's sync ``graph.get_state`` in a worker thread, say); on the loop's own
    thread they raise ``asyncio.InvalidStateError``, like LangGraph's async savers.
    """

    def __init__(
        self,
        client_or_store: Any,
        *,
        key_prefix: str | None = None,
        partitions: int | None = None,
        ttl: float | None = None,
        serde: SerializerProtocol | None = None,
    ) -> None:
        self._stores: Callable[[], AsyncStreamStore]
        if isinstance(client_or_store, Streamlog):
            log = client_or_store
            if key_prefix is not None or partitions is not None:
                raise ConfigError("a Streamlog brings its own key_prefix and partitions")
            self._stores = lambda: log.astore  # one store per running event loop
            keyspace, store_ttl = log.keyspace, log._settings.get("ttl")
        else:
            if isinstance(client_or_store, AsyncStreamStore):
                store = client_or_store
                _keyspace_settings(store, key_prefix, partitions)
            else:
                store = AsyncStreamStore(
                    client_or_store, key_prefix=key_prefix or "streamlog", partitions=partitions or 16
                )
            self._stores = lambda: store
            keyspace, store_ttl = store.keyspace, store.ops.ttl
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        super().__init__(keyspace, store_ttl if ttl is None else ttl, serde)

    @classmethod
    def from_url(cls, url: str, *, cluster: bool = False, **settings: Any) -> AsyncStreamlogSaver:
        """A saver over a new asyncio client for ``url``; :meth:`aclose` (or ``async with``) closes it."""
        store = AsyncStreamStore.from_url(
            url,
            cluster=cluster,
            key_prefix=settings.pop("key_prefix", None) or "streamlog",
            partitions=settings.pop("partitions", None) or 16,
        )
        return cls(store, **settings)

    @property
    def store(self) -> AsyncStreamStore:
        return self._stores()

    async def aclose(self) -> None:
        await self.store.aclose()

    async def __aenter__(self) -> AsyncStreamlogSaver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _arun(self, flow: Flow[T]) -> T:
        self._loop = asyncio.get_running_loop()  # the loop sync calls from other threads use
        return await self._stores()._drive(flow)

    def _blocking(self, work: Callable[[], Awaitable[T]]) -> T:
        loop = self._loop
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop or not loop.is_running():
            raise asyncio.InvalidStateError(
                "synchronous calls to AsyncStreamlogSaver work only from another thread while its "
                "event loop runs; use the async interface (await saver.aget_tuple(...), "
                "await graph.ainvoke(...)) or StreamlogSaver"
            )

        async def call() -> T:
            return await work()

        coro: Coroutine[Any, Any, T] = call()
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def _run(self, flow: Flow[T]) -> T:
        """A sync call, bridged to the saver's event loop (from another thread only)."""
        return self._blocking(functools.partial(self._arun, flow))
