"""`CheckpointCore`: the IO-free half of both savers, every checkpointer operation as a flow."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    PendingWrite,
    get_checkpoint_metadata,
    writes_sort_key,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from ..._core.errors import ConfigError, ConflictError
from ..._core.fold import paused_gc
from ..._core.keys import Keyspace
from ..._core.plans import Flow, Plan, check_offset, text
from .names import (
    ThreadKeys,
    _config,
    _enc,
    _Listing,
    _matches,
    _maybe_text,
    _page,
    _Row,
    _row,
    _split,
    _status,
    _take,
    _texts,
    _thread_id,
    _typed,
    _untyped,
    _version,
    _version_token,
)
from .scripts import (
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

T = TypeVar("T")

_PAGE = 25  # checkpoints per list page
_BUDGET = 2000  # stream entries one list page may read (other namespaces are skipped)
_THREADS_PAGE = 500


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
