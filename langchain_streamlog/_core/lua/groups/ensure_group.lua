-- Create a consumer group on a feed unless it exists (the feed is created if missing).
-- KEYS: feed | ARGV: group, start id | Reply: 1 created, 0 existed
local made = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], ARGV[2], 'MKSTREAM')
if type(made) == 'table' and made.err then
  if string.find(tostring(made.err), 'BUSYGROUP') then return 0 end
  return redis.error_reply(tostring(made.err))
end
return 1
