"""The server-side Lua scripts, loaded from the ``.lua`` files beside the code that sends them.

Rule: every multi-command atomic step streamlog takes is one script. A script touches
only the keys it is given in ``KEYS`` (all in one cluster slot) and returns a status
first, so a reply can never be mistaken for another outcome. Each file opens with its
contract (``KEYS``, ``ARGV``, the reply); a line ``--! include lib/x.lua`` is replaced by
that file (shared Lua functions), so what the server runs is one self-contained source.

Scripts are sent with ``EVALSHA`` (the SHA1 is computed here, so no ``SCRIPT LOAD``
round trip) and, after a ``NOSCRIPT`` error (script cache flushed, server restarted,
failover), once more with ``EVAL``, which also reloads the cache. Redis runs a script
atomically: no other command runs between its first and its last write
(https://redis.io/docs/latest/develop/interact/programmability/eval-intro/). Scripts
never fail halfway through a write: every check that can reject an append runs before
its first write.

Files: ``lua/session/`` (appends, reads, erasure, the first-use check), ``lua/groups/``
(consumer groups and feed trimming), ``lua/lib/`` (shared functions). The checkpointer's
scripts live beside its core, in ``langgraph/_core/lua/``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from importlib import resources

__all__ = [
    "APPEND",
    "CONFIGURE",
    "DEAD_LETTER",
    "DELETE",
    "ENSURE_GROUP",
    "EVENTS",
    "EXPIRED",
    "FORGET",
    "LOADED",
    "MEMBERS",
    "READ",
    "READ_AT",
    "REQUEUE",
    "SNAPSHOT",
    "SWEEP",
    "TAIL",
    "TRIM_FEED",
    "WINDOW",
    "Script",
    "load",
]

#: Every script loaded so far, in load order (the checkpointer's join when it is imported).
LOADED: list[Script] = []

_INCLUDE = re.compile(r"^--! include (\S+)\n", re.MULTILINE)


@dataclass(frozen=True)
class Script:
    """A Lua source and its SHA1, computed locally (no ``SCRIPT LOAD`` round trip)."""

    name: str
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


def load(package: str, path: str) -> Script:
    """The script ``lua/<path>`` of ``package`` (its includes resolved), named by its file."""
    folder = resources.files(package) / "lua"

    def read(relative: str, seen: tuple[str, ...]) -> str:
        if relative in seen:
            raise ValueError(f"Lua include cycle: {' -> '.join((*seen, relative))}")
        source = folder.joinpath(*relative.split("/")).read_text(encoding="utf-8")
        return _INCLUDE.sub(lambda m: read(m.group(1), (*seen, relative)), source)

    script = Script(path.rsplit("/", 1)[-1].removesuffix(".lua"), read(path, ()))
    LOADED.append(script)
    return script


APPEND = load(__package__, "session/append.lua")
DELETE = load(__package__, "session/delete.lua")
CONFIGURE = load(__package__, "session/configure.lua")
READ = load(__package__, "session/read.lua")
TAIL = load(__package__, "session/tail.lua")
WINDOW = load(__package__, "session/window.lua")
SNAPSHOT = load(__package__, "session/snapshot.lua")
SWEEP = load(__package__, "session/sweep.lua")
EXPIRED = load(__package__, "session/expired.lua")
EVENTS = load(__package__, "session/events.lua")
READ_AT = load(__package__, "session/read_at.lua")
ENSURE_GROUP = load(__package__, "groups/ensure_group.lua")
DEAD_LETTER = load(__package__, "groups/dead_letter.lua")
TRIM_FEED = load(__package__, "groups/trim_feed.lua")
REQUEUE = load(__package__, "groups/requeue.lua")
MEMBERS = load(__package__, "groups/members.lua")
FORGET = load(__package__, "groups/forget.lua")
