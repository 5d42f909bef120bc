-- KEYS: log, feed, sessions, idem, idem_old, snap, dead
-- ARGV: session id, ttl ms ("0" = none), expected last offset ("" = any),
-- idempotency key ("" = none), idempotency memory size, idempotency window ms, expiry
-- tombstone, payload...
-- Reply: {"ok", id...} | {"dup", "id,id,..."} | {"conflict", actual last offset}
-- | {"error", text} (the feed is behind the log; nothing was written)
--! include lib/erase.lua
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
-- A session whose log is gone while the index still lists it has expired (or was
-- evicted) and no sweep has erased it yet: this append starts a new incarnation, so the
-- old one is erased first, exactly as a sweep would (its copies are at most its score).
-- A snapshot without its log never describes the new incarnation (it can only be left
-- over from an old one, e.g. after an eviction), so it goes too.
-- (Only existing keys are written here: at maxmemory a new session's first write, the XADD
-- below, is the one the server refuses, so nothing is written; Redis checks memory only at a
-- script's first write.)
if redis.call('EXISTS', log) == 0 then
  if redis.call('EXISTS', KEYS[6]) == 1 then redis.call('DEL', KEYS[6]) end
  local old = redis.call('ZSCORE', sessions, sid)
  if old then
    local gone = {[sid] = true}
    erase_by_session(feed, '-', string.format('%d', tonumber(old)), nil, gone)
    erase_by_session(KEYS[7], '-', '+', nil, gone)
    redis.call('XADD', feed, '*', 's', sid, 'e', ARGV[7])
  end
end
local reply = {'ok'}
for i = 8, #ARGV do
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
  -- Two generations of keys: the current one is renamed over the previous one once it
  -- holds idempotency memory keys AND was born at least the window ago, so every key is
  -- remembered for at least the window (and the most recent memory keys always are).
  -- The generation's birth is its field "\0" (keys never start with NUL).
  -- The clock is read only when a generation is born or may be retired (rarely).
  local size = redis.call('HLEN', idem)
  if size == 0 or size > tonumber(ARGV[5]) then
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    if size == 0 then
      redis.call('HSET', idem, '\0', now)
    elseif now - tonumber(redis.call('HGET', idem, '\0') or 0) >= tonumber(ARGV[6]) then
      redis.call('RENAME', idem, idem_old)
      redis.call('HSET', idem, '\0', now)
    end
  end
  redis.call('HSET', idem, ikey, table.concat(reply, ',', 2))
end
if ttl > 0 then
  -- Every key of the session gets the same deadline, so none outlives another.
  redis.call('PEXPIRE', log, ttl)
  redis.call('PEXPIRE', idem, ttl)
  redis.call('PEXPIRE', idem_old, ttl)
  redis.call('PEXPIRE', KEYS[6], ttl)
end
return reply
