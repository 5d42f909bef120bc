"""Migration: the peer libraries' layouts read, and copied into a deployment where it lacks them."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
from langchain_core.messages import BaseMessage, messages_from_dict

from .._core import codec as _codec
from .._core.errors import ConfigError, DecodeError
from .._core.events import MessagesAppended
from .._core.records import to_record
from .._store import StreamStore
from ._common import _BATCH_EVENTS, _PAGE, Progress
from ._export import _session_events

Peer = Literal["community", "memorystore", "langchain-redis"]


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
