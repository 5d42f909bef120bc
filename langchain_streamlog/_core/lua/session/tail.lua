-- A cached read: what came after the cached offset, if the log still holds that
-- offset. If it does not, the session was deleted, expired or trimmed since: a miss.
-- KEYS: log, snap, idem, idem_old (the session's; see lib/touch.lua)
-- ARGV: cached offset, ttl ms | Reply: {"miss"} | {"ok", entries}
--! include lib/touch.lua
touch(tonumber(ARGV[2]))
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then return {'miss'} end
return {'ok', redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+')}
