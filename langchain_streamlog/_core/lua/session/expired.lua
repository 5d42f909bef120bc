-- The sweep's candidates: the least recently active sessions of a partition whose last
-- activity is older than the TTL, by the server's clock (so clients' clocks do not matter).
-- KEYS: sessions | ARGV: ttl ms, limit | Reply: {member, score, member, score, ...}
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[1])
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', cutoff), 'WITHSCORES', 'LIMIT', 0, ARGV[2])
