"""Events to bytes and back.

Rule: every byte of an event payload is produced and parsed here, with one
module-level encoder and decoder (msgspec's performance advice: build them once,
never ``decode(..., type=...)`` in a loop). No pickle, no eval: a payload is
msgpack and can only ever become one of the event Structs.

Any bytes given to `decode` either decode to an event or raise
`DecodeError` (or one of its subclasses); nothing else escapes.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .errors import DecodeError, InvalidMessage, UnknownEventKind, UnsupportedSchema
from .events import SCHEMA_VERSION, AnyEvent, Event

__all__ = ["decode", "decode_snapshot", "encode", "encode_snapshot"]

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(AnyEvent)


class _Header(msgspec.Struct):
    """The two fields every event has; decoded only to explain a failure."""

    kind: Any = None
    v: Any = 1


_header_decoder = msgspec.msgpack.Decoder(_Header)


def encode(event: Event) -> bytes:
    """Encode one event. Raises `InvalidMessage` for content msgpack can't carry."""
    try:
        return _encoder.encode(event)
    except (TypeError, ValueError, OverflowError) as exc:  # msgspec.EncodeError is a ValueError
        raise InvalidMessage(f"message content cannot be encoded: {exc}") from exc


def decode(data: bytes) -> AnyEvent:
    """Decode one event payload.

    Raises:
        UnknownEventKind: the payload names a kind this reader does not know.
        UnsupportedSchema: the payload declares a newer schema version.
        DecodeError: anything else that is not a valid event.
    """
    try:
        event: AnyEvent = _decoder.decode(data)
    except msgspec.DecodeError as exc:  # ValidationError is a subclass
        raise _explain(data, exc) from exc
    if event.v > SCHEMA_VERSION:
        raise UnsupportedSchema(event.v, SCHEMA_VERSION)
    return event


def _explain(data: bytes, exc: msgspec.DecodeError) -> DecodeError:
    # A failure is explained from the header alone: a newer version wins over
    # any field it fails on (a newer writer may have changed that field), then an
    # unknown kind; everything else is corrupt or truncated bytes.
    try:
        header = _header_decoder.decode(data)
    except (msgspec.DecodeError, TypeError):
        return DecodeError(f"corrupt event payload ({len(data)} bytes): {exc}")
    if isinstance(header.v, int) and not isinstance(header.v, bool) and header.v > SCHEMA_VERSION:
        return UnsupportedSchema(header.v, SCHEMA_VERSION)
    if isinstance(header.kind, str) and "$.kind" in str(exc):
        return UnknownEventKind(header.kind)
    return DecodeError(f"invalid event payload ({len(data)} bytes): {exc}")


class _Snapshot(msgspec.Struct, array_like=True):
    """A projection's visible records and their offsets (the snapshot's offset is kept beside it).

    Appending a field (with a default) keeps older snapshots readable; anything else
    bumps ``v``, and older readers then refuse the snapshot instead of misreading it.
    """

    offsets: list[str]
    records: list[dict[str, Any]]
    v: int = 1


_snapshot_encoder = msgspec.msgpack.Encoder()
_snapshot_decoder = msgspec.msgpack.Decoder(_Snapshot)


def encode_snapshot(offsets: list[str], records: list[dict[str, Any]]) -> bytes:
    """Encode the visible state of a session (see `Projection`)."""
    return _snapshot_encoder.encode(_Snapshot(offsets, records))


def decode_snapshot(data: bytes) -> tuple[list[str], list[dict[str, Any]]]:
    """Offsets and records of a snapshot.

    Raises:
        UnsupportedSchema: written by a newer streamlog.
        DecodeError: not a snapshot.
    """
    try:
        snap = _snapshot_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"corrupt snapshot ({len(data)} bytes): {exc}") from exc
    if snap.v > 1:
        raise UnsupportedSchema(snap.v, 1)
    if len(snap.offsets) != len(snap.records):
        raise DecodeError("corrupt snapshot: offsets and records differ in number")
    return snap.offsets, snap.records
