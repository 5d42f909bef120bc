-- Shared by erasure (delete) and expiry (sweep): remove the copies of one session's events
-- from a partition stream (the feed, the dead letters), a page at a time. Entries there
-- hold the session id in field 's' (feed: s, e; dead letters: g, o, s, e, err).
local PAGE = 1000
local function xdel(stream, ids)
  local n = 0
  for i = 1, #ids, 500 do n = n + redis.call('XDEL', stream, unpack(ids, i, math.min(i + 499, #ids))) end
  return n
end
local function field(entry, name)
  local f = entry[2]
  for i = 1, #f, 2 do if f[i] == name then return f[i + 1] end end
  return nil
end
-- Entries of `stream` in [low, high] whose session is `sid` (or is in the set `sids`).
local function erase_by_session(stream, low, high, sid, sids)
  local erased, start = 0, low
  while true do
    local page = redis.call('XRANGE', stream, start, high, 'COUNT', PAGE)
    if #page == 0 then return erased end
    local ids = {}
    for _, entry in ipairs(page) do
      local s = field(entry, 's')
      if s == sid or (sids and sids[s]) then ids[#ids + 1] = entry[1] end
    end
    erased = erased + xdel(stream, ids)
    if #page < PAGE then return erased end
    start = '(' .. page[#page][1]
  end
end
-- The feed copies of a live log's events (same ids), and below `mark` (what retention
-- trimmed from the log) the feed entries of the session.
local function erase_copies(log, feed, sid, mark)
  local erased, start = 0, '-'
  while true do
    local page = redis.call('XRANGE', log, start, '+', 'COUNT', PAGE)
    if #page == 0 then break end
    local ids = {}
    for i, entry in ipairs(page) do ids[i] = entry[1] end
    erased = erased + xdel(feed, ids)
    if #page < PAGE then break end
    start = '(' .. page[#page][1]
  end
  if mark then erased = erased + erase_by_session(feed, '-', '(' .. mark, sid) end
  return erased
end
