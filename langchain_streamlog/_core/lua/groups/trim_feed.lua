-- Trim a partition feed below what every consumer group is done with: for each group,
-- its oldest pending event, or (nothing pending) the event after the last one it was
-- given. With no group at all, keep the newest max_len events and/or those younger
-- than max_age ms ("0": no bound), so a store without workers does not grow forever.
-- With a deployment TTL (ttl ms > 0), nothing older than the TTL stays, whoever has not
-- read it: a feed copy never outlives the session it came from by more than one trim.
-- KEYS: feed | ARGV: max_len, max_age ms, ttl ms ("0": none) | Reply: events trimmed
--! include lib/older.lua
local feed = KEYS[1]
if redis.call('EXISTS', feed) == 0 then return 0 end
local expired = 0
local ttl = tonumber(ARGV[3] or '0')
if ttl > 0 then
  local now = redis.call('TIME')
  local cut = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - ttl
  expired = redis.call('XTRIM', feed, 'MINID', string.format('%d', cut) .. '-0')
end
local groups = redis.call('XINFO', 'GROUPS', feed)
if #groups == 0 then
  local trimmed = expired
  if tonumber(ARGV[1]) > 0 then trimmed = redis.call('XTRIM', feed, 'MAXLEN', ARGV[1]) end
  if tonumber(ARGV[2]) > 0 then
    local now = redis.call('TIME')
    local cut = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[2])
    trimmed = trimmed + redis.call('XTRIM', feed, 'MINID', tostring(cut) .. '-0')
  end
  return trimmed
end
local lowest = nil
for _, info in ipairs(groups) do
  local g = {}
  for i = 1, #info, 2 do g[info[i]] = info[i + 1] end
  local keep
  if tonumber(g['pending']) > 0 then
    keep = redis.call('XPENDING', feed, g['name'])[2]
  else
    local ms, seq = parts(g['last-delivered-id'])
    keep = tostring(ms) .. '-' .. tostring(seq + 1)
  end
  if lowest == nil or older(keep, lowest) then lowest = keep end
end
return expired + redis.call('XTRIM', feed, 'MINID', lowest)
