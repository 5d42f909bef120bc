-- KEYS: log, idem, idem_old, sessions, feed, snap
-- ARGV: session id, tombstone payload
-- Reply: {"ok", number of keys deleted, tombstone feed id}
local n = redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[6])
redis.call('ZREM', KEYS[4], ARGV[1])
local id = redis.call('XADD', KEYS[5], '*', 's', ARGV[1], 'e', ARGV[2])
return {'ok', n, id}
