-- Write a snapshot of the state at an offset, then apply retention below it.
-- Written only if the log still holds that offset (so it never describes a state
-- the log does not hold) and no newer snapshot exists. Retention never trims at or
-- above the snapshot, so a full read stays exact.
-- KEYS: log, snap | ARGV: offset, payload, retention kind ("", "events", "ms"), value
-- Reply: {written 0|1, entries trimmed}
--! include lib/older.lua
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
