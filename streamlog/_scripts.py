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
    "CKPT_DELETE",
    "CKPT_DUMP",
    "CKPT_GET",
    "CKPT_LIST",
    "CKPT_LOAD",
    "CKPT_PUT",
    "CKPT_RUN_THREADS",
    "CKPT_SWEEP",
    "CKPT_WRITES",
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


# -- LangGraph checkpoints (streamlog._checkpoint; see docs/langgraph.md) -------
#
# Every checkpoint script takes one thread's keys, in the order of Keyspace.thread:
# KEYS: checkpoints (stream), blobs (hash), writes (hash), write keys (sorted set),
# index (hash), threads (the partition's sorted set), runs (the partition's sorted set).
# A name that joins several strings writes each as enc(s) = "<byte length>:<s>", so
# no two tuples spell one name. A stream entry holds i (checkpoint id), n (namespace),
# p (parent id), c (checkpoint), m (metadata), v (channel versions: enc(channel)
# enc(version) ...) and r (run id) when the metadata has one. Index fields: enc(ns)
# .. id -> stream id, and "@" .. ns -> the namespace's newest stream id. A blob is
# named enc(ns) .. enc(channel) .. version, a pending write enc(ns) .. enc(id) ..
# enc(task id) .. idx. The run index holds "r" .. enc(run) .. thread and "t" ..
# enc(thread) .. run (all scores 0, read by lexical range). Names hold UTF-8, which
# never has the byte 255, so "(" .. prefix .. "\255" bounds a prefix's range.
_CK = """
local function enc(s) return #s .. ':' .. s end
local function split(s)
  local out, pos = {}, 1
  while pos <= #s do
    local c = string.find(s, ':', pos, true)
    local n = tonumber(string.sub(s, pos, c - 1))
    out[#out + 1] = string.sub(s, c + 1, c + n)
    pos = c + n + 1
  end
  return out
end
local function fields(flat)
  local f = {}
  for i = 1, #flat, 2 do f[flat[i]] = flat[i + 1] end
  return f
end
-- Members of a sorted set that start with p (ZRANGE BYLEX, Redis 6.2).
local function prefixed(key, p) return redis.call('ZRANGE', key, '[' .. p, '(' .. p .. '\\255', 'BYLEX') end
local function chunked(cmd, key, items)
  local out = {}
  for i = 1, #items, 500 do
    local r = redis.call(cmd, key, unpack(items, i, math.min(i + 499, #items)))
    if type(r) == 'table' then for j = 1, #r do out[#out + 1] = r[j] end end
  end
  return out
end
local function blob_names(f)
  local names, items, base = {}, split(f['v']), enc(f['n'])
  for i = 1, #items, 2 do names[#names + 1] = base .. enc(items[i]) .. items[i + 1] end
  return names
end
local function write_keys(ns, cid) return prefixed(KEYS[4], enc(ns) .. enc(cid)) end
-- An entry with its channel values and pending writes:
-- {stream id, fields, blob values (in the order of v), write keys, write values}.
local function loaded(entry)
  local f = fields(entry[2])
  local keys = write_keys(f['n'], f['i'])
  return {entry[1], entry[2], chunked('HMGET', KEYS[2], blob_names(f)), keys, chunked('HMGET', KEYS[3], keys)}
end
-- Drop a thread from the partition's thread and run indexes.
local function forget(t)
  local p = 't' .. enc(t)
  local members = prefixed(KEYS[7], p)
  for _, m in ipairs(members) do redis.call('ZREM', KEYS[7], 'r' .. enc(string.sub(m, #p + 1)) .. t) end
  chunked('ZREM', KEYS[7], members)
  redis.call('ZREM', KEYS[6], t)
end
-- With a TTL, the thread index scores each thread with the deadline its keys got, so
-- a thread whose deadline passed has expired: every write forgets up to four such.
local function expire_index(ttl)
  if ttl <= 0 then return 0 end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  for _, gone in ipairs(redis.call('ZRANGE', KEYS[6], '-inf', '(' .. now, 'BYSCORE', 'LIMIT', 0, 4)) do
    forget(gone)
  end
  return now
end
local function touch(tid, ttl, now)
  if ttl > 0 then
    for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ttl) end
    redis.call('ZADD', KEYS[6], now + ttl, tid)
  else
    redis.call('ZADD', KEYS[6], '+inf', tid)
  end
end
"""

# Store a checkpoint: the entry, the blobs of the channels in new_versions, the
# index, the run index and the TTL, atomically. A checkpoint id stored again
# replaces its entry (the new one is appended; pending writes stay).
# ARGV: thread, ns, checkpoint id, parent id, checkpoint, metadata, versions, run id
#       ("" = none), ttl ms ("0" = none), then blob name, blob value, ...
# Reply: {"ok", stream id}
CKPT_PUT = Script(
    "ckpt_put",
    _CK
    + """
local tid, ns, cid, run, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[8], tonumber(ARGV[9])
local now = expire_index(ttl)
local ikey = enc(ns) .. cid
local old = redis.call('HGET', KEYS[5], ikey)
if old then redis.call('XDEL', KEYS[1], old) end
local entry = {'i', cid, 'n', ns, 'p', ARGV[4], 'c', ARGV[5], 'm', ARGV[6], 'v', ARGV[7]}
if run ~= '' then
  entry[13], entry[14] = 'r', run
  redis.call('ZADD', KEYS[7], 0, 'r' .. enc(run) .. tid, 0, 't' .. enc(tid) .. run)
end
local sid = redis.call('XADD', KEYS[1], '*', unpack(entry))
redis.call('HSET', KEYS[5], ikey, sid, '@' .. ns, sid)
for i = 10, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
touch(tid, ttl, now)
return {'ok', sid}
""",
)

# Store pending writes. A write whose key is stored already is kept, unless it is
# marked to replace (LangGraph's special channels: errors, interrupts, ...).
# ARGV: thread, ttl ms, then write key, value, "1" to replace | "0", ... | Reply: 1
CKPT_WRITES = Script(
    "ckpt_writes",
    _CK
    + """
local ttl = tonumber(ARGV[2])
local now = expire_index(ttl)
for i = 3, #ARGV, 3 do
  if ARGV[i + 2] == '1' then
    redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
    redis.call('ZADD', KEYS[4], 0, ARGV[i])
  elseif redis.call('HSETNX', KEYS[3], ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('ZADD', KEYS[4], 0, ARGV[i])
  end
end
touch(ARGV[1], ttl, now)
return 1
""",
)

# One checkpoint with its values and pending writes: by id, or the namespace's newest.
# ARGV: ns, checkpoint id ("" = newest) | Reply: {} (none) | a loaded entry (see loaded)
CKPT_GET = Script(
    "ckpt_get",
    _CK
    + """
local key = '@' .. ARGV[1]
if ARGV[2] ~= '' then key = enc(ARGV[1]) .. ARGV[2] end
local sid = redis.call('HGET', KEYS[5], key)
if not sid then return {} end
local found = redis.call('XRANGE', KEYS[1], sid, sid)
if not found[1] then return {} end
return loaded(found[1])
""",
)

# A page of checkpoints, newest first, from ``start`` down, of one namespace or all.
# Stops after ``want`` checkpoints or ``budget`` entries read. With ``before`` (a
# checkpoint id of the namespace) and start "+", it starts just below that checkpoint.
# ARGV: "1" one namespace | "0" all, ns, start ("+", an id, or "(" id), want, budget,
#       before ("" = none)
# Reply: {next start ("" = the end), {loaded entry, ...}}
CKPT_LIST = Script(
    "ckpt_list",
    _CK
    + """
local one, ns, cursor = ARGV[1] == '1', ARGV[2], ARGV[3]
local want, budget = tonumber(ARGV[4]), tonumber(ARGV[5])
if one and ARGV[6] ~= '' and cursor == '+' then
  local s = redis.call('HGET', KEYS[5], enc(ns) .. ARGV[6])
  if s then cursor = '(' .. s end
end
local out, read = {}, 0
while true do
  local batch = redis.call('XREVRANGE', KEYS[1], cursor, '-', 'COUNT', 50)
  for _, entry in ipairs(batch) do
    read = read + 1
    cursor = '(' .. entry[1]
    if not one or fields(entry[2])['n'] == ns then out[#out + 1] = loaded(entry) end
    if #out >= want or read >= budget then return {cursor, out} end
  end
  if #batch < 50 then return {'', out} end
end
""",
)

# Erase a thread: every key of it, and its entries in the partition's indexes.
# ARGV: thread | Reply: keys deleted
CKPT_DELETE = Script(
    "ckpt_delete",
    _CK
    + """
forget(ARGV[1])
return redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
""",
)

# Delete some checkpoints of a thread, with their pending writes, and the blobs they
# referred to that no remaining checkpoint refers to: mode "latest" keeps each namespace's newest
# checkpoint, mode "runs" deletes the checkpoints of the given runs. Namespace heads
# and the run index follow; a thread left with no checkpoint is erased.
# ARGV: thread, mode, run id... | Reply: checkpoints deleted
CKPT_SWEEP = Script(
    "ckpt_sweep",
    _CK
    + """
local tid, mode, doomed = ARGV[1], ARGV[2], {}
for i = 3, #ARGV do doomed[ARGV[i]] = true end
local seen, heads, keep, live, dropped, unused = {}, {}, {}, {}, {}, {}
local deleted, kept, cursor = 0, 0, '+'
while true do
  local batch = redis.call('XREVRANGE', KEYS[1], cursor, '-', 'COUNT', 200)
  for _, entry in ipairs(batch) do
    cursor = '(' .. entry[1]
    local f = fields(entry[2])
    local ns, run, drop = f['n'], f['r'], false
    if mode == 'latest' then drop = seen[ns] == true else drop = run ~= nil and doomed[run] == true end
    seen[ns] = true
    if drop then
      redis.call('XDEL', KEYS[1], entry[1])
      redis.call('HDEL', KEYS[5], enc(ns) .. f['i'])
      local keys = write_keys(ns, f['i'])
      chunked('HDEL', KEYS[3], keys)
      chunked('ZREM', KEYS[4], keys)
      for _, name in ipairs(blob_names(f)) do unused[name] = true end
      if run then dropped[run] = true end
      deleted = deleted + 1
    else
      if not heads[ns] then heads[ns] = entry[1] end
      for _, name in ipairs(blob_names(f)) do keep[name] = true end
      if run then live[run] = true end
      kept = kept + 1
    end
  end
  if #batch < 200 then break end
end
if deleted == 0 then return 0 end
if kept == 0 then
  forget(tid)
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
  return deleted
end
for ns in pairs(seen) do
  if heads[ns] then redis.call('HSET', KEYS[5], '@' .. ns, heads[ns]) else redis.call('HDEL', KEYS[5], '@' .. ns) end
end
-- Blobs only deleted checkpoints referred to (names hold the namespace: none is shared).
local free = {}
for name in pairs(unused) do
  if not keep[name] then free[#free + 1] = name end
end
chunked('HDEL', KEYS[2], free)
for run in pairs(dropped) do
  if not live[run] then redis.call('ZREM', KEYS[7], 'r' .. enc(run) .. tid, 't' .. enc(tid) .. run) end
end
return deleted
""",
)

# The threads of a partition that hold checkpoints of the given runs.
# KEYS: runs | ARGV: run id... | Reply: thread ids
CKPT_RUN_THREADS = Script(
    "ckpt_run_threads",
    _CK
    + """
local found, out = {}, {}
for i = 1, #ARGV do
  local p = 'r' .. enc(ARGV[i])
  for _, m in ipairs(prefixed(KEYS[1], p)) do
    local t = string.sub(m, #p + 1)
    if not found[t] then found[t], out[#out + 1] = true, t end
  end
end
return out
""",
)

# Everything of a thread, as one consistent copy: {entries, {blob name, value, ...},
# {write key, value, ...}}: the blobs its checkpoints refer to, and every pending write.
CKPT_DUMP = Script(
    "ckpt_dump",
    _CK
    + """
local entries, names, seen = redis.call('XRANGE', KEYS[1], '-', '+'), {}, {}
for _, entry in ipairs(entries) do
  for _, name in ipairs(blob_names(fields(entry[2]))) do
    if not seen[name] then seen[name], names[#names + 1] = true, name end
  end
end
local function pairs_of(key, fields_)
  local out, values = {}, chunked('HMGET', key, fields_)
  for i = 1, #fields_ do
    if values[i] then
      out[#out + 1] = fields_[i]
      out[#out + 1] = values[i]
    end
  end
  return out
end
return {entries, pairs_of(KEYS[2], names), pairs_of(KEYS[3], redis.call('ZRANGE', KEYS[4], 0, -1))}
""",
)

# Write a dumped thread into an empty thread, keeping its stream ids (so offsets and
# order carry over). Refused, writing nothing, if the target holds a checkpoint.
# ARGV: thread, ttl ms, entry count, then per entry: id, field count, fields...;
#       blob pair count, blob name, value, ...; then write key, value, ...
# Reply: {"ok", entries written} | {"exists", the target's last stream id}
CKPT_LOAD = Script(
    "ckpt_load",
    _CK
    + """
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if top[1] then return {'exists', top[1][1]} end
local tid, ttl = ARGV[1], tonumber(ARGV[2])
local now = expire_index(ttl)
redis.call('DEL', KEYS[1])
local i = 4
for _ = 1, tonumber(ARGV[3]) do
  local sid, n = ARGV[i], tonumber(ARGV[i + 1])
  local flat = {unpack(ARGV, i + 2, i + 1 + n)}
  redis.call('XADD', KEYS[1], sid, unpack(flat))
  local f = fields(flat)
  redis.call('HSET', KEYS[5], enc(f['n']) .. f['i'], sid, '@' .. f['n'], sid)
  if f['r'] then redis.call('ZADD', KEYS[7], 0, 'r' .. enc(f['r']) .. tid, 0, 't' .. enc(tid) .. f['r']) end
  i = i + 2 + n
end
local last = i + 2 * tonumber(ARGV[i])
i = i + 1
while i < last do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i < #ARGV do
  redis.call('ZADD', KEYS[4], 0, ARGV[i])
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
  i = i + 2
end
touch(tid, ttl, now)
return {'ok', tonumber(ARGV[3])}
""",
)
