-- A page of replay, with the retention mark (the lowest offset retention kept), so a
-- replay that starts below it fails loudly instead of silently skipping events.
-- KEYS: log, snap | ARGV: start, end[, count] | Reply: {mark or "", entries}
local entries
if ARGV[3] then
  entries = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', ARGV[3])
else
  entries = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2])
end
return {redis.call('HGET', KEYS[2], 't') or '', entries}
