-- Erase sessions whose TTL lapsed (expiry is an erasure): for each candidate the caller
-- read from the session index (score = last activity ms at most the cutoff), atomically:
-- if its index score changed since (new activity, a new incarnation) it is left alone; if
-- its log still exists it is alive (a read refreshed its TTL, or it has none) and its score
-- moves to its last refresh (now + remaining TTL - ttl; now if it has no TTL) so the next
-- sweep does not look at it again before it could expire; otherwise its feed copies (all
-- at most its score, since feed ids only grow) and dead letters are erased, its index entry
-- removed, its leftover keys deleted, and an "expired" tombstone added to the feed.
-- KEYS: sessions, feed, dead, then per candidate: log, snap, idem, idem_old
-- ARGV: tombstone payload, ttl ms, then per candidate: session id, score read
-- Reply: {"ok", sessions erased, sessions still alive, event copies erased}
--! include lib/erase.lua
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
local gone, names, highest, living = {}, {}, nil, {}
-- Classify first (reads only), then erase (writes that free memory), then write: so at
-- maxmemory the sweep still erases (Redis checks memory only at a script's first write).
for i = 3, #ARGV, 2 do
  local sid, read = ARGV[i], ARGV[i + 1]
  local k = 4 + 4 * ((i - 3) / 2)
  local score = redis.call('ZSCORE', KEYS[1], sid)
  if score and tonumber(score) == tonumber(read) then
    if redis.call('EXISTS', KEYS[k]) == 1 then
      local left = redis.call('PTTL', KEYS[k])
      local refreshed = now
      if left > 0 and ttl > 0 then refreshed = now + left - ttl end
      living[#living + 1] = {refreshed, sid}
    else
      gone[sid] = true
      names[#names + 1] = sid
      if highest == nil or tonumber(read) > highest then highest = tonumber(read) end
      redis.call('DEL', KEYS[k + 1], KEYS[k + 2], KEYS[k + 3])
    end
  end
end
local copies = 0
if #names > 0 then
  copies = erase_by_session(KEYS[2], '-', string.format('%d', highest), nil, gone)
  copies = copies + erase_by_session(KEYS[3], '-', '+', nil, gone)
  for i = 1, #names, 500 do redis.call('ZREM', KEYS[1], unpack(names, i, math.min(i + 499, #names))) end
  for _, sid in ipairs(names) do redis.call('XADD', KEYS[2], '*', 's', sid, 'e', ARGV[1]) end
end
-- A live candidate moves out of the window; refused at maxmemory, it is only looked at again.
for _, pair in ipairs(living) do redis.pcall('ZADD', KEYS[1], pair[1], pair[2]) end
return {'ok', #names, #living, copies}
