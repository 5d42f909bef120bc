-- Write a dumped thread into an empty thread, keeping its stream ids (so offsets and
-- order carry over). Refused, writing nothing, if the target holds a checkpoint.
-- KEYS: the thread's seven keys (see lib.lua)
-- ARGV: thread, ttl ms, entry count, then per entry: id, field count, fields...;
-- blob pair count, blob name, value, ...; then write key, value, ...
-- Reply: {"ok", entries written} | {"exists", the target's last stream id}
--! include lib.lua
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
