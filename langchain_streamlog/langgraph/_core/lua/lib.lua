-- -- LangGraph checkpoints (langchain_streamlog.langgraph; see docs/langgraph.md) -------
--
-- Every checkpoint script takes one thread's keys, in the order of Keyspace.thread:
-- KEYS: checkpoints (stream), blobs (hash), writes (hash), write keys (sorted set),
-- index (hash), threads (the partition's sorted set), runs (the partition's sorted set).
-- A name that joins several strings writes each as enc(s) = "<byte length>:<s>", so
-- no two tuples spell one name. A stream entry holds i (checkpoint id), n (namespace),
-- p (parent id), c (checkpoint), m (metadata), v (channel versions: enc(channel)
-- enc(version) ...) and r (run id) when the metadata has one. Index fields: enc(ns)
-- .. id -> stream id, and "@" .. ns -> the namespace's newest stream id. A blob is
-- named enc(ns) .. enc(channel) .. version, a pending write enc(ns) .. enc(id) ..
-- enc(task id) .. idx. The run index holds "r" .. enc(run) .. thread and "t" ..
-- enc(thread) .. run (all scores 0, read by lexical range). Names hold UTF-8, which
-- never has the byte 255, so "(" .. prefix .. "\255" bounds a prefix's range.
local function enc(s) return #s .. ':' .. s end
local function split(s)
  local out, pos = {}, 1
  while pos <= #s do
    local c = string.find(s, ':', pos, true)
    local n = tonumber(string.sub(s, pos, c - 1))
    out[#out + 1] = string.sub(s, c + 1, c + n)
    pos = c + n + 1
  end
  return out
end
local function fields(flat)
  local f = {}
  for i = 1, #flat, 2 do f[flat[i]] = flat[i + 1] end
  return f
end
-- Members of a sorted set that start with p (ZRANGE BYLEX, Redis 6.2).
local function prefixed(key, p) return redis.call('ZRANGE', key, '[' .. p, '(' .. p .. '\255', 'BYLEX') end
local function chunked(cmd, key, items)
  local out = {}
  for i = 1, #items, 500 do
    local r = redis.call(cmd, key, unpack(items, i, math.min(i + 499, #items)))
    if type(r) == 'table' then for j = 1, #r do out[#out + 1] = r[j] end end
  end
  return out
end
local function blob_names(f)
  local names, items, base = {}, split(f['v']), enc(f['n'])
  for i = 1, #items, 2 do names[#names + 1] = base .. enc(items[i]) .. items[i + 1] end
  return names
end
local function write_keys(ns, cid) return prefixed(KEYS[4], enc(ns) .. enc(cid)) end
-- An entry with its channel values and pending writes:
-- {stream id, fields, blob values (in the order of v), write keys, write values}.
local function loaded(entry)
  local f = fields(entry[2])
  local keys = write_keys(f['n'], f['i'])
  return {entry[1], entry[2], chunked('HMGET', KEYS[2], blob_names(f)), keys, chunked('HMGET', KEYS[3], keys)}
end
-- Drop a thread from the partition's thread and run indexes.
local function forget(t)
  local p = 't' .. enc(t)
  local members = prefixed(KEYS[7], p)
  for _, m in ipairs(members) do redis.call('ZREM', KEYS[7], 'r' .. enc(string.sub(m, #p + 1)) .. t) end
  chunked('ZREM', KEYS[7], members)
  redis.call('ZREM', KEYS[6], t)
end
-- With a TTL, the thread index scores each thread with the deadline its keys got, so
-- a thread whose deadline passed has expired: every write forgets up to four such.
local function expire_index(ttl)
  if ttl <= 0 then return 0 end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  for _, gone in ipairs(redis.call('ZRANGE', KEYS[6], '-inf', '(' .. now, 'BYSCORE', 'LIMIT', 0, 4)) do
    forget(gone)
  end
  return now
end
local function touch(tid, ttl, now)
  if ttl > 0 then
    for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ttl) end
    redis.call('ZADD', KEYS[6], now + ttl, tid)
  else
    redis.call('ZADD', KEYS[6], '+inf', tid)
  end
end
