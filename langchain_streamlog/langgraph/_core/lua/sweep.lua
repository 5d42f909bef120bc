-- Delete some checkpoints of a thread, with their pending writes, and the blobs they
-- referred to that no remaining checkpoint refers to: mode "latest" keeps each namespace's newest
-- checkpoint, mode "runs" deletes the checkpoints of the given runs. Namespace heads
-- and the run index follow; a thread left with no checkpoint is erased.
-- KEYS: the thread's seven keys (see lib.lua)
-- ARGV: thread, mode, run id... | Reply: checkpoints deleted
--! include lib.lua
local tid, mode, doomed = ARGV[1], ARGV[2], {}
for i = 3, #ARGV do doomed[ARGV[i]] = true end
local seen, heads, keep, live, dropped, unused = {}, {}, {}, {}, {}, {}
local deleted, kept, cursor = 0, 0, '+'
while true do
  local batch = redis.call('XREVRANGE', KEYS[1], cursor, '-', 'COUNT', 200)
  for _, entry in ipairs(batch) do
    cursor = '(' .. entry[1]
    local f = fields(entry[2])
    local ns, run, drop = f['n'], f['r'], false
    if mode == 'latest' then drop = seen[ns] == true else drop = run ~= nil and doomed[run] == true end
    seen[ns] = true
    if drop then
      redis.call('XDEL', KEYS[1], entry[1])
      redis.call('HDEL', KEYS[5], enc(ns) .. f['i'])
      local keys = write_keys(ns, f['i'])
      chunked('HDEL', KEYS[3], keys)
      chunked('ZREM', KEYS[4], keys)
      for _, name in ipairs(blob_names(f)) do unused[name] = true end
      if run then dropped[run] = true end
      deleted = deleted + 1
    else
      if not heads[ns] then heads[ns] = entry[1] end
      for _, name in ipairs(blob_names(f)) do keep[name] = true end
      if run then live[run] = true end
      kept = kept + 1
    end
  end
  if #batch < 200 then break end
end
if deleted == 0 then return 0 end
if kept == 0 then
  forget(tid)
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
  return deleted
end
for ns in pairs(seen) do
  if heads[ns] then redis.call('HSET', KEYS[5], '@' .. ns, heads[ns]) else redis.call('HDEL', KEYS[5], '@' .. ns) end
end
-- Blobs only deleted checkpoints referred to (names hold the namespace: none is shared).
local free = {}
for name in pairs(unused) do
  if not keep[name] then free[#free + 1] = name end
end
chunked('HDEL', KEYS[2], free)
for run in pairs(dropped) do
  if not live[run] then redis.call('ZREM', KEYS[7], 'r' .. enc(run) .. tid, 't' .. enc(tid) .. run) end
end
return deleted
