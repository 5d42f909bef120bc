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

__all__ = [
    "APPEND",
    "CONFIGURE",
    "DEAD_LETTER",
    "DELETE",
    "ENSURE_GROUP",
    "EVENTS",
    "MEMBERS",
    "READ",
    "READ_AT",
    "REQUEUE",
    "SNAPSHOT",
    "TAIL",
    "TRIM_FEED",
    "WINDOW",
    "Script",
]


@dataclass(frozen=True)
class Script:
    """A Lua source and its SHA1, computed locally (no ``SCRIPT LOAD`` round trip)."""

    name: str
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


# KEYS: log, feed, sessions, idem, idem_old, snap
# ARGV: session id, ttl ms ("0" = none), expected last offset ("" = any),
#       idempotency key ("" = none), idempotency memory size, payload...
# Reply: {"ok", id...} | {"dup", "id,id,..."} | {"conflict", actual last offset}
#        | {"error", text} (the feed is behind the log; nothing was written)
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
-- Offsets are drawn from the partition feed's id sequence, which never goes back
-- and never reuses an id (a trimmed stream keeps its last id): the feed entry and
-- the log entry share one id, and no later incarnation of a deleted session can
-- ever hold an offset an earlier one had, which is what lets a cache or snapshot
-- tell a session from its successor by offset alone.
local reply = {'ok'}
for i = 6, #ARGV do
  local id = redis.call('XADD', feed, '*', 's', sid, 'e', ARGV[i])
  local added = redis.pcall('XADD', log, id, 'e', ARGV[i])
  if type(added) == 'table' and added.err then
    -- Only possible if the feed key was deleted and recreated behind the log:
    -- undo this call's entries so nothing of it stays written.
    redis.call('XDEL', feed, id)
    for j = 2, #reply do
      redis.call('XDEL', feed, reply[j])
      redis.call('XDEL', log, reply[j])
    end
    return {'error', tostring(added.err)}
  end
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
  -- Every key of the session gets the same deadline, so none outlives another.
  redis.call('PEXPIRE', log, ttl)
  redis.call('PEXPIRE', idem, ttl)
  redis.call('PEXPIRE', idem_old, ttl)
  redis.call('PEXPIRE', KEYS[6], ttl)
end
return reply
""",
)

# KEYS: log, idem, idem_old, sessions, feed, snap
# ARGV: session id, tombstone payload
# Reply: {"ok", number of keys deleted, tombstone feed id}
DELETE = Script(
    "delete",
    """
local n = redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[6])
redis.call('ZREM', KEYS[4], ARGV[1])
local id = redis.call('XADD', KEYS[5], '*', 's', ARGV[1], 'e', ARGV[2])
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
local probe = redis.pcall('XAUTOCLAIM', KEYS[1], 'streamlog', 'probe', '0', '0-0', 'COUNT', '1')
if type(probe) == 'table' and probe.err and string.find(string.lower(tostring(probe.err)), 'unknown') then
  return {'old', tostring(probe.err)}
end
redis.call('HSETNX', KEYS[1], 'partitions', ARGV[1])
return {'ok', redis.call('HGET', KEYS[1], 'partitions')}
""",
)


# Stream id order (numeric, not lexical): older(a, b) is a < b. Lua numbers are
# doubles, exact for millisecond timestamps.
_OLDER = """
local function parts(id)
  local ms, seq = string.match(id, '^(%d+)-?(%d*)$')
  return tonumber(ms), tonumber(seq) or 0
end
local function older(a, b)
  local am, as = parts(a)
  local bm, bs = parts(b)
  return am < bm or (am == bm and as < bs)
end
"""

# Shared by the read scripts: KEYS are log, snap, idem, idem_old; a positive ttl
# restarts the session's TTL on read (the store's refresh_ttl_on_read).
_TOUCH = """
local function touch(ttl)
  if ttl > 0 and redis.call('EXISTS', KEYS[1]) == 1 then
    for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ttl) end
  end
end
"""

# A full read: the latest snapshot and the log after it, in one atomic step, so the
# two always describe one state. A snapshot without its log (a half-expired
# session) is never returned.
# ARGV: ttl ms | Reply: {"empty"} | {"ok", snapshot offset or "", snapshot or "", entries}
READ = Script(
    "read",
    _TOUCH
    + """
touch(tonumber(ARGV[1]))
if redis.call('EXISTS', KEYS[1]) == 0 then return {'empty'} end
local snap = redis.call('HMGET', KEYS[2], 'o', 's')
local from = '-'
if snap[1] then from = '(' .. snap[1] end
return {'ok', snap[1] or '', snap[2] or '', redis.call('XRANGE', KEYS[1], from, '+')}
""",
)

# A cached read: what came after the cached offset, if the log still holds that
# offset. If it does not, the session was deleted, expired or trimmed since: a miss.
# ARGV: cached offset, ttl ms | Reply: {"miss"} | {"ok", entries}
TAIL = Script(
    "tail",
    _TOUCH
    + """
touch(tonumber(ARGV[2]))
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then return {'miss'} end
return {'ok', redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+')}
""",
)

# A page of a windowed read, newest first.
# ARGV: end ("+" or "(<offset>"), count, ttl ms | Reply: entries
WINDOW = Script(
    "window",
    _TOUCH
    + """
touch(tonumber(ARGV[3]))
return redis.call('XREVRANGE', KEYS[1], ARGV[1], '-', 'COUNT', ARGV[2])
""",
)

# Write a snapshot of the state at an offset, then apply retention below it.
# Written only if the log still holds that offset (so it never describes a state
# the log does not hold) and no newer snapshot exists. Retention never trims at or
# above the snapshot, so a full read stays exact.
# KEYS: log, snap | ARGV: offset, payload, retention kind ("", "events", "ms"), value
# Reply: {written 0|1, entries trimmed}
SNAPSHOT = Script(
    "snapshot",
    _OLDER
    + """
local log, snap, offset = KEYS[1], KEYS[2], ARGV[1]
if #redis.call('XRANGE', log, offset, offset) == 0 then return {0, 0} end
local current = redis.call('HGET', snap, 'o')
if current and not older(current, offset) then return {0, 0} end
redis.call('HSET', snap, 'o', offset, 's', ARGV[2])
local ttl = redis.call('PTTL', log)
if ttl > 0 then redis.call('PEXPIRE', snap, ttl) else redis.call('PERSIST', snap) end
local minid = nil
if ARGV[3] == 'events' then
  local newest = redis.call('XREVRANGE', log, '+', '-', 'COUNT', ARGV[4])
  if #newest == tonumber(ARGV[4]) then minid = newest[#newest][1] end
elseif ARGV[3] == 'ms' then
  local now = redis.call('TIME')
  minid = tostring(tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[4])) .. '-0'
end
if minid == nil then return {1, 0} end
if older(offset, minid) then minid = offset end
local trimmed = redis.call('XTRIM', log, 'MINID', minid)
if trimmed > 0 then redis.call('HSET', snap, 't', minid) end
return {1, trimmed}
""",
)

# A page of replay, with the retention mark (the lowest offset retention kept), so a
# replay that starts below it fails loudly instead of silently skipping events.
# KEYS: log, snap | ARGV: start, end[, count] | Reply: {mark or "", entries}
EVENTS = Script(
    "events",
    """
local entries
if ARGV[3] then
  entries = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', ARGV[3])
else
  entries = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2])
end
return {redis.call('HGET', KEYS[2], 't') or '', entries}
""",
)


# Time travel: the state right after ``until``, from the snapshot when it is at or
# before ``until``, else from the log's start, which is impossible once retention
# has trimmed it.
# KEYS: log, snap | ARGV: until
# Reply: {"snap", offset, snapshot, entries} | {"log", "", "", entries} | {"trimmed", mark}
READ_AT = Script(
    "read_at",
    _OLDER
    + """
local snap = redis.call('HMGET', KEYS[2], 'o', 's', 't')
if snap[1] and not older(ARGV[1], snap[1]) then
  return {'snap', snap[1], snap[2], redis.call('XRANGE', KEYS[1], '(' .. snap[1], ARGV[1])}
end
if snap[3] then return {'trimmed', snap[3]} end
return {'log', '', '', redis.call('XRANGE', KEYS[1], '-', ARGV[1])}
""",
)


# Create a consumer group on a feed unless it exists (the feed is created if missing).
# KEYS: feed | ARGV: group, start id | Reply: 1 created, 0 existed
ENSURE_GROUP = Script(
    "ensure_group",
    """
local made = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], ARGV[2], 'MKSTREAM')
if type(made) == 'table' and made.err then
  if string.find(tostring(made.err), 'BUSYGROUP') then return 0 end
  return redis.error_reply(tostring(made.err))
end
return 1
""",
)

# Move a poison event to the partition's dead letters and acknowledge it, atomically.
# Feed entries are written as s <session> e <payload>.
# KEYS: feed, dead | ARGV: group, feed id, error text, log offset | Reply: 1
DEAD_LETTER = Script(
    "dead_letter",
    """
local found = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
if found[1] then
  local f = found[1][2]
  redis.call('XADD', KEYS[2], '*', 'g', ARGV[1], 'o', ARGV[4], 's', f[2], 'e', f[4], 'err', ARGV[3])
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return 1
""",
)

# Trim a partition feed below what every consumer group is done with: for each group,
# its oldest pending event, or (nothing pending) the event after the last one it was
# given. With no group at all, keep the newest max_len events and/or those younger
# than max_age ms ("0": no bound), so a store without workers does not grow forever.
# KEYS: feed | ARGV: max_len, max_age ms | Reply: events trimmed
TRIM_FEED = Script(
    "trim_feed",
    _OLDER
    + """
local feed = KEYS[1]
if redis.call('EXISTS', feed) == 0 then return 0 end
local groups = redis.call('XINFO', 'GROUPS', feed)
if #groups == 0 then
  local trimmed = 0
  if tonumber(ARGV[1]) > 0 then trimmed = redis.call('XTRIM', feed, 'MAXLEN', ARGV[1]) end
  if tonumber(ARGV[2]) > 0 then
    local now = redis.call('TIME')
    local cut = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[2])
    trimmed = trimmed + redis.call('XTRIM', feed, 'MINID', tostring(cut) .. '-0')
  end
  return trimmed
end
local lowest = nil
for _, info in ipairs(groups) do
  local g = {}
  for i = 1, #info, 2 do g[info[i]] = info[i + 1] end
  local keep
  if tonumber(g['pending']) > 0 then
    keep = redis.call('XPENDING', feed, g['name'])[2]
  else
    local ms, seq = parts(g['last-delivered-id'])
    keep = tostring(ms) .. '-' .. tostring(seq + 1)
  end
  if lowest == nil or older(keep, lowest) then lowest = keep end
end
return redis.call('XTRIM', feed, 'MINID', lowest)
""",
)


# Put dead letters back on their feed (with their log offset, as field o) and drop
# them from the dead letters, atomically. Every group of the feed sees them again.
# KEYS: dead, feed | ARGV: group ("" = all) | Reply: how many were requeued
REQUEUE = Script(
    "requeue",
    """
local moved = 0
for _, entry in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
  local f = {}
  for i = 1, #entry[2], 2 do f[entry[2][i]] = entry[2][i + 1] end
  if ARGV[1] == '' or f['g'] == ARGV[1] then
    redis.call('XADD', KEYS[2], '*', 's', f['s'], 'e', f['e'], 'o', f['o'])
    redis.call('XDEL', KEYS[1], entry[1])
    moved = moved + 1
  end
end
return moved
""",
)


# A worker's heartbeat in its group's membership: drop members whose lease ran out,
# renew (or, leaving, remove) this one, and list who is left, by name. Server time,
# so workers' clocks do not matter.
# KEYS: members | ARGV: consumer, lease ms, "1" to leave | Reply: member names, sorted
MEMBERS = Script(
    "members",
    """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[3] == '1' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], lease * 2)
end
local names = redis.call('ZRANGE', KEYS[1], 0, -1)
table.sort(names)
return names
""",
)
