-- A page of a windowed read, newest first.
-- KEYS: log, snap, idem, idem_old (the session's; see lib/touch.lua)
-- ARGV: end ("+" or "(<offset>"), count, ttl ms | Reply: entries
--! include lib/touch.lua
touch(tonumber(ARGV[3]))
return redis.call('XREVRANGE', KEYS[1], ARGV[1], '-', 'COUNT', ARGV[2])
