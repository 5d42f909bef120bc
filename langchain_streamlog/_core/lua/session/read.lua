-- A full read: the latest snapshot and the log after it, in one atomic step, so the
-- two always describe one state. A snapshot without its log (a half-expired
-- session) is never returned.
-- KEYS: log, snap, idem, idem_old (the session's; see lib/touch.lua)
-- ARGV: ttl ms | Reply: {"empty"} | {"ok", snapshot offset or "", snapshot or "", entries}
--! include lib/touch.lua
touch(tonumber(ARGV[1]))
if redis.call('EXISTS', KEYS[1]) == 0 then return {'empty'} end
local snap = redis.call('HMGET', KEYS[2], 'o', 's')
local from = '-'
if snap[1] then from = '(' .. snap[1] end
return {'ok', snap[1] or '', snap[2] or '', redis.call('XRANGE', KEYS[1], from, '+')}
