-- Time travel: the state right after ``until``, from the snapshot when it is at or
-- before ``until``, else from the log's start, which is impossible once retention
-- has trimmed it.
-- KEYS: log, snap | ARGV: until
-- Reply: {"snap", offset, snapshot, entries} | {"log", "", "", entries} | {"trimmed", mark}
--! include lib/older.lua
local snap = redis.call('HMGET', KEYS[2], 'o', 's', 't')
if snap[1] and not older(ARGV[1], snap[1]) then
  return {'snap', snap[1], snap[2], redis.call('XRANGE', KEYS[1], '(' .. snap[1], ARGV[1])}
end
if snap[3] then return {'trimmed', snap[3]} end
return {'log', '', '', redis.call('XRANGE', KEYS[1], '-', ARGV[1])}
