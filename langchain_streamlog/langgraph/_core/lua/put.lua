-- Store a checkpoint: the entry, the blobs of the channels in new_versions, the
-- index, the run index and the TTL, atomically. A checkpoint id stored again
-- replaces its entry (the new one is appended; pending writes stay).
-- KEYS: the thread's seven keys (see lib.lua)
-- ARGV: thread, ns, checkpoint id, parent id, checkpoint, metadata, versions, run id
-- ("" = none), ttl ms ("0" = none), then blob name, blob value, ...
-- Reply: {"ok", stream id}
--! include lib.lua
local tid, ns, cid, run, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[8], tonumber(ARGV[9])
local now = expire_index(ttl)
local ikey = enc(ns) .. cid
local old = redis.call('HGET', KEYS[5], ikey)
if old then redis.call('XDEL', KEYS[1], old) end
local entry = {'i', cid, 'n', ns, 'p', ARGV[4], 'c', ARGV[5], 'm', ARGV[6], 'v', ARGV[7]}
if run ~= '' then
  entry[13], entry[14] = 'r', run
  redis.call('ZADD', KEYS[7], 0, 'r' .. enc(run) .. tid, 0, 't' .. enc(tid) .. run)
end
local sid = redis.call('XADD', KEYS[1], '*', unpack(entry))
redis.call('HSET', KEYS[5], ikey, sid, '@' .. ns, sid)
for i = 10, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
touch(tid, ttl, now)
return {'ok', sid}
