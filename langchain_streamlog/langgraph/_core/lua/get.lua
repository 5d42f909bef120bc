-- One checkpoint with its values and pending writes: by id, or the namespace's newest.
-- KEYS: the thread's seven keys (see lib.lua)
-- ARGV: ns, checkpoint id ("" = newest) | Reply: {} (none) | a loaded entry (see loaded)
--! include lib.lua
local key = '@' .. ARGV[1]
if ARGV[2] ~= '' then key = enc(ARGV[1]) .. ARGV[2] end
local sid = redis.call('HGET', KEYS[5], key)
if not sid then return {} end
local found = redis.call('XRANGE', KEYS[1], sid, sid)
if not found[1] then return {} end
return loaded(found[1])
