-- Store pending writes. A write whose key is stored already is kept, unless it is
-- marked to replace (LangGraph's special channels: errors, interrupts, ...).
-- KEYS: the thread's seven keys (see lib.lua)
-- ARGV: thread, ttl ms, then write key, value, "1" to replace | "0", ... | Reply: 1
--! include lib.lua
local ttl = tonumber(ARGV[2])
local now = expire_index(ttl)
for i = 3, #ARGV, 3 do
  if ARGV[i + 2] == '1' then
    redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
    redis.call('ZADD', KEYS[4], 0, ARGV[i])
  elseif redis.call('HSETNX', KEYS[3], ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('ZADD', KEYS[4], 0, ARGV[i])
  end
end
touch(ARGV[1], ttl, now)
return 1
