-- Remove the consumers of a group on one feed that belong to no live worker: not in the
-- membership, nothing pending, idle for at least a lease (so a crashed worker's name
-- leaves the group once others have claimed its events; `streamlog groups` then counts
-- live consumers only). A consumer that reads again is recreated by XREADGROUP.
-- KEYS: feed | ARGV: group, min idle ms, live consumer names... | Reply: consumers removed
local consumers = redis.pcall('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if type(consumers) == 'table' and consumers.err then
  local err = tostring(consumers.err)
  if string.find(err, 'NOGROUP') or string.find(err, 'no such key') then return 0 end
  return redis.error_reply(err)  -- anything else (an ACL refusal) is the caller's to see
end
local live = {}
for i = 3, #ARGV do live[ARGV[i]] = true end
local removed = 0
for _, info in ipairs(consumers) do
  local c = {}
  for i = 1, #info, 2 do c[info[i]] = info[i + 1] end
  if not live[c['name']] and tonumber(c['pending']) == 0 and tonumber(c['idle']) >= tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], c['name'])
    removed = removed + 1
  end
end
return removed
