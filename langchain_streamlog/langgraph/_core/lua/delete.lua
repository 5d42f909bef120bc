-- Erase a thread: every key of it, and its entries in the partition's indexes.
-- KEYS: the thread's seven keys (see lib.lua)
-- ARGV: thread | Reply: keys deleted
--! include lib.lua
forget(ARGV[1])
return redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
