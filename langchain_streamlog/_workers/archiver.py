"""The built-in archiver: a worker handler that writes every event to files.

Rule: the archive is a set of files whose names say what they hold, so writing
one twice changes nothing and the order of writes does not matter. Each event
becomes one compressed JSON Lines file ``<target>/<session>/<offset>.jsonl.gz``
(a line per message, or one line for a removal or clear). Erasure removes the
session's directory and leaves ``<target>/<session>.deleted-<offset>``, so an event
older than the erasure that arrives late is never written again, while a later
incarnation of the session is archived as usual.

Storage goes through fsspec, the filesystem layer of the PyData world: local paths
and ``memory://`` in tests, and object stores (``s3://``, ``gs://``, ``az://``) for
users who install the matching fsspec package.
"""

from __future__ import annotations

import gzip
import hashlib
from typing import TYPE_CHECKING, Any

import msgspec

from .._core.events import HistoryCleared, MessagesAppended, MessagesRemoved, SessionDeleted
from .._core.fold import offset_key

if TYPE_CHECKING:
    from .._core.groups import Delivery

__all__ = ["Archiver"]

_json = msgspec.json.Encoder()


def _folder(session_id: str) -> str:
    # Session ids are data: a hash names the folder (any bytes, fixed length), and
    # every line carries the real id.
    return hashlib.blake2b(session_id.encode("utf-8"), digest_size=16).hexdigest()


class Archiver:
    """Archives every event under ``target`` (an fsspec URL or a local path)."""

    def __init__(self, target: str, **storage_options: Any) -> None:
        try:
            import fsspec
        except ImportError as exc:  # an optional extra
            raise ImportError("the archiver needs fsspec: pip install 'langchain-streamlog[archive]'") from exc

        self.fs, self.root = fsspec.core.url_to_fs(target, **storage_options)
        self.root = self.root.rstrip("/")
        self.fs.makedirs(self.root, exist_ok=True)

    def _erased_at(self, folder: str) -> tuple[int, int] | None:
        marks = self.fs.glob(f"{self.root}/{folder}.deleted-*")
        return max((offset_key(m.rsplit(".deleted-", 1)[1]) for m in marks), default=None)

    def handle(self, delivery: Delivery) -> None:
        """Archive one delivery; safe to repeat and to receive out of order."""
        event, folder = delivery.event, _folder(delivery.session_id)
        erased = self._erased_at(folder)
        if isinstance(event, SessionDeleted):
            if erased is None or offset_key(delivery.offset) > erased:
                with self.fs.open(f"{self.root}/{folder}.deleted-{delivery.offset}", "wb") as f:
                    f.write(b"")  # a mark only: the session id is not kept after erasure
                for mark in self.fs.glob(f"{self.root}/{folder}.deleted-*"):  # only the newest stays
                    if offset_key(mark.rsplit(".deleted-", 1)[1]) < offset_key(delivery.offset):
                        self.fs.rm(mark)
            for path in self.fs.glob(f"{self.root}/{folder}/*.jsonl.gz"):
                if offset_key(path.rsplit("/", 1)[1].split(".")[0]) < offset_key(delivery.offset):
                    self.fs.rm(path)
            return
        if erased is not None and offset_key(delivery.offset) < erased:
            return  # erased after this event: never write it again
        base = {"session_id": delivery.session_id, "offset": delivery.offset}
        if isinstance(event, MessagesAppended):
            lines = [{**base, "kind": "append", "message": record} for record in event.messages]
        elif isinstance(event, MessagesRemoved):
            lines = [{**base, "kind": "remove", "ids": list(event.ids)}]
        elif isinstance(event, HistoryCleared):
            lines = [{**base, "kind": "clear"}]
        else:
            return
        data = gzip.compress(b"".join(_json.encode(line) + b"\n" for line in lines), mtime=0)
        self.fs.makedirs(f"{self.root}/{folder}", exist_ok=True)
        with self.fs.open(f"{self.root}/{folder}/{delivery.offset}.jsonl.gz", "wb") as f:
            f.write(data)

    def read(self, session_id: str) -> list[dict[str, Any]]:
        """Every archived line of a session, in offset order."""
        folder = _folder(session_id)
        paths = self.fs.glob(f"{self.root}/{folder}/*.jsonl.gz")
        out: list[dict[str, Any]] = []
        for path in sorted(paths, key=lambda p: offset_key(p.rsplit("/", 1)[1].split(".")[0])):
            with self.fs.open(path, "rb") as f:
                out += [msgspec.json.decode(line) for line in gzip.decompress(f.read()).splitlines()]
        return out
