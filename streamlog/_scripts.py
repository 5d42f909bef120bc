"""The server-side Lua scripts.

Rule: every multi-command atomic step streamlog takes is one script here. A
script touches only the keys it is given in ``KEYS`` (all in one cluster slot) and
returns a status first, so a reply can never be mistaken for another outcome.

Scripts are sent with ``EVALSHA`` and, after a ``NOSCRIPT`` error (script cache
flushed, server restarted, failover), once more with ``EVAL``, which also reloads
the cache. Redis runs a script atomically: no other command runs between its
first and its last write (https://redis.io/docs/latest/develop/interact/programmability/eval-intro/).
Scripts never fail halfway through a write: every check that can reject an append
runs before its first write.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

__all__ = ["APPEND", "CONFIGURE", "DELETE", "Script"]


@dataclass(frozen=True)
class Script:
    """A Lua source and its SHA1, computed locally (no ``SCRIPT LOAD`` round trip)."""

    name: str
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


# KEYS: log, feed, sessions, idem, idem_old
# ARGV: session id, ttl ms ("0" = none), expected last offset ("" = any),
#       idempotency key ("" = none), idempotency memory size, payload...
# Reply: {"ok", id...} | {"dup", "id,id,..."} | {"conflict", actual last offset}
APPEND = Script(
    "append",
    """
local log, feed, sessions, idem, idem_old = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local sid, ttl, expected, ikey = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
if ikey ~= '' then
  local seen = redis.call('HGET', idem, ikey) or redis.call('HGET', idem_old, ikey)
  if seen then return {'dup', seen} end
end
if expected ~= '' then
  local top = redis.call('XREVRANGE', log, '+', '-', 'COUNT', 1)
  local actual = '0-0'
  if top[1] then actual = top[1][1] end
  if actual ~= expected then return {'conflict', actual} end
end
local reply = {'ok'}
for i = 6, #ARGV do
  local id = redis.call('XADD', log, '*', 'e', ARGV[i])
  redis.call('XADD', feed, '*', 's', sid, 'o', id, 'e', ARGV[i])
  reply[#reply + 1] = id
end
redis.call('ZADD', sessions, string.match(reply[#reply], '^%d+'), sid)
if ikey ~= '' then
  redis.call('HSET', idem, ikey, table.concat(reply, ',', 2))
  if redis.call('HLEN', idem) >= tonumber(ARGV[5]) then
    redis.call('RENAME', idem, idem_old)
  end
end
if ttl > 0 then
  redis.call('PEXPIRE', log, ttl)
  redis.call('PEXPIRE', idem, ttl)
  redis.call('PEXPIRE', idem_old, ttl)
end
return reply
""",
)

# KEYS: log, idem, idem_old, sessions, feed
# ARGV: session id, tombstone payload
# Reply: {"ok", number of keys deleted, tombstone feed id}
DELETE = Script(
    "delete",
    """
local n = redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('ZREM', KEYS[4], ARGV[1])
local id = redis.call('XADD', KEYS[5], '*', 's', ARGV[1], 'o', '0-0', 'e', ARGV[2])
return {'ok', n, id}
""",
)

# KEYS: config
# ARGV: partition count
# Reply: {"ok", recorded partition count} | {"old", error text}
# The probe: XAUTOCLAIM (Redis 6.2) on the config hash fails with WRONGTYPE on a
# server that has the command and with "unknown command" on one that does not; it
# needs no INFO (which some managed services restrict) and costs no round trip.
CONFIGURE = Script(
    "configure",
    """
redis.call('HSETNX', KEYS[1], 'partitions', ARGV[1])
local probe = redis.pcall('XAUTOCLAIM', KEYS[1], 'streamlog', 'probe', '0', '0-0', 'COUNT', '1')
if type(probe) == 'table' and probe.err and string.find(string.lower(tostring(probe.err)), 'unknown') then
  return {'old', tostring(probe.err)}
end
return {'ok', redis.call('HGET', KEYS[1], 'partitions')}
""",
)
