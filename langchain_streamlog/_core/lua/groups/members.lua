-- A worker's heartbeat in its group's membership: drop members whose lease ran out,
-- renew (or, leaving, remove) this one, and list who is left, by name. Server time,
-- so workers' clocks do not matter; a lease that ends more than one lease from now can
-- only come from a server clock that went back, and is cut to one lease from now, so a
-- dead worker never keeps its partitions longer than one lease after the jump.
-- KEYS: members | ARGV: consumer, lease ms, "1" to leave | Reply: member names, sorted
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
for _, name in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. string.format('%d', now + lease), '+inf')) do
  redis.call('ZADD', KEYS[1], now + lease, name)
end
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
