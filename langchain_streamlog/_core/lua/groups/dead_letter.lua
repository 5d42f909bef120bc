-- Move a poison event to the partition's dead letters and acknowledge it, atomically.
-- Feed entries are written as s <session> e <payload>.
-- KEYS: feed, dead | ARGV: group, feed id, error text, log offset | Reply: 1
local found = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
if found[1] then
  local f = found[1][2]
  redis.call('XADD', KEYS[2], '*', 'g', ARGV[1], 'o', ARGV[4], 's', f[2], 'e', f[4], 'err', ARGV[3])
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return 1
