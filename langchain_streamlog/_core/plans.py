"""Command plans and flows: what to send to Redis, and what its replies mean.

Rule: every command streamlog sends is a `Plan`, built in the IO-free core
(writes in ``_ops``, reads in ``_reads``) with the parsers of this module, so the
sync and async shells only move bytes. This follows redis-py's own split (one
command builder shared by both clients; only ``execute_command`` differs):

- a `Plan` is one command (or one script call) plus the function that
  parses its reply;
- a *flow* is a generator that yields plans and receives their parsed results
  (``result = yield plan``), for operations that need several round trips. The
  shells drive flows with `drive` / `adrive`, the one loop pair; nothing else is
  written twice.

Replies arrive undecoded (the shells send every command with redis-py's
``NEVER_DECODE``), so payloads stay bytes even on a client made with
``decode_responses=True``; parsers here still accept ``str`` for ids, because
RESP3 and fakeredis differ in small ways.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from . import codec as _codec
from .errors import OffsetOutOfRange
from .events import AnyEvent
from .fold import paused_gc
from .scripts import Script

__all__ = ["Flow", "Plan", "adrive", "check_offset", "drive", "entries", "normal_offset", "scored", "single", "text"]

T = TypeVar("T")

#: A generator that yields plans, receives their parsed results, and returns T.
Flow = Generator["Plan[Any]", Any, T]

_OFFSET = re.compile(r"\A\d{1,20}(-\d{1,20})?\Z")


@dataclass(frozen=True)
class Plan(Generic[T]):
    """One command: ``args`` (without ``EVALSHA sha`` for a script) and a reply parser.

    ``wait``: ``(replicas, timeout ms)``: send ``WAIT`` right after the command on the
    same connection (on a cluster: of the key's master); ``parse`` then receives
    ``(reply, replicas that confirmed)``.

    ``blocking``: the command may wait on the server (``XREAD BLOCK``), so a shell sends
    it on a connection of its own, never in a shared (auto-)pipeline.

    ``optional``: a write the operation can do without (a snapshot): if the server refuses
    it for lack of memory (maxmemory, noeviction), the flow receives None instead of an
    error. Any other refusal (an ACL, say) is still an error: it is a misconfiguration.
    """

    args: tuple[Any, ...]
    parse: Callable[[Any], T]
    script: Script | None = None
    wait: tuple[int, int] | None = None
    blocking: bool = False
    optional: bool = False


def single(plan: Plan[T]) -> Flow[T]:
    """A flow of a single plan."""
    result: T = yield plan
    return result


def drive(flow: Generator[Any, Any, T], send: Callable[[Any], Any]) -> T:
    """Run ``flow`` to its end: each item it yields goes to ``send``, whose result goes back.

    The one synchronous loop: the stores' ``run`` passes a ``send`` that executes plans;
    a worker's also runs its handler for a `Call`. Exceptions propagate unchanged.
    """
    try:
        item = next(flow)
        while True:
            item = flow.send(send(item))
    except StopIteration as stop:
        result: T = stop.value
        return result


async def adrive(flow: Generator[Any, Any, T], send: Callable[[Any], Awaitable[Any]]) -> T:
    """`drive` for asyncio: ``send`` is a coroutine function."""
    try:
        item = next(flow)
        while True:
            item = flow.send(await send(item))
    except StopIteration as stop:
        result: T = stop.value
        return result


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def check_offset(offset: str, *, allow_bounds: bool = True) -> str:
    """Validate a stream id (``"<ms>-<seq>"`` or ``"<ms>"``), ``"-"``/``"+"``, or ``"(<id>"``."""
    if not isinstance(offset, str):
        raise OffsetOutOfRange(f"an offset is a str like '1732300000000-0', not {offset!r}")
    if allow_bounds and offset in ("-", "+"):
        return offset
    bare = offset[1:] if allow_bounds and offset.startswith("(") else offset
    if not _OFFSET.match(bare):
        raise OffsetOutOfRange(f"not a stream offset: {offset!r} (expected like '1732300000000-0')")
    return offset


def normal_offset(offset: str) -> str:
    """A stream id in Redis's own spelling: ``"<ms>-<seq>"``, no leading zeros (``"T"`` is ``"T-0"``)."""
    check_offset(offset, allow_bounds=False)
    ms, _, seq = offset.partition("-")
    return f"{int(ms)}-{int(seq or 0)}"


def scored(reply: Any) -> list[tuple[bytes, int]]:
    """A ``... WITHSCORES`` reply as ``(member, score)`` pairs: RESP2 ``[m, s, m, s]``, RESP3 ``[[m, s], ...]``.

    Scores are whole numbers here (milliseconds), which a double holds exactly.
    """
    if reply and isinstance(reply[0], (list, tuple)):
        return [(m, int(float(text(s)))) for m, s in reply]
    return [(m, int(float(text(s)))) for m, s in zip(reply[::2], reply[1::2], strict=True)]


def entries(reply: Any) -> list[tuple[str, AnyEvent]]:
    """Decode an XRANGE/XREVRANGE reply: raw ``[id, [b"e", payload]]`` pairs or redis-py's ``(id, dict)``."""
    out = []
    decode = _codec.decode
    with paused_gc():
        for entry_id, fields in reply:
            if type(fields) is dict:
                payload = fields[b"e"]
            else:  # every entry streamlog writes has the one field "e"
                payload = fields[1] if fields[0] == b"e" else fields[fields.index(b"e") + 1]
            out.append((entry_id.decode() if type(entry_id) is bytes else str(entry_id), decode(payload)))
    return out
