"""Names and encodings of a thread's checkpoints (mirrored by the Lua in ``lua/lib.lua``), and reply parsers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple
from uuid import UUID

from langchain_core.runnables import RunnableConfig

from ..._core.errors import ConfigError, StoreError
from ..._core.plans import text


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
