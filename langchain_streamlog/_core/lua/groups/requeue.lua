-- Put dead letters back on their feed (with their log offset, as field o) and drop
-- them from the dead letters, atomically. Every group of the feed sees them again.
-- KEYS: dead, feed | ARGV: group ("" = all) | Reply: how many were requeued
local moved = 0
for _, entry in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
  local f = {}
  for i = 1, #entry[2], 2 do f[entry[2][i]] = entry[2][i + 1] end
  if ARGV[1] == '' or f['g'] == ARGV[1] then
    redis.call('XADD', KEYS[2], '*', 's', f['s'], 'e', f['e'], 'o', f['o'])
    redis.call('XDEL', KEYS[1], entry[1])
    moved = moved + 1
  end
end
return moved
