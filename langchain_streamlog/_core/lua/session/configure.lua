-- KEYS: config
-- ARGV: partition count
-- Reply: {"ok", recorded partition count, maxmemory-policy ("" if INFO is refused)}
-- | {"old", error text}
-- The probe: XAUTOCLAIM (Redis 6.2) on the config hash fails with WRONGTYPE on a
-- server that has the command and with "unknown command" on one that does not; it
-- needs no INFO (which some managed services restrict) and costs no round trip.
local probe = redis.pcall('XAUTOCLAIM', KEYS[1], 'streamlog', 'probe', '0', '0-0', 'COUNT', '1')
if type(probe) == 'table' and probe.err and string.find(string.lower(tostring(probe.err)), 'unknown') then
  return {'old', tostring(probe.err)}
end
-- The eviction policy, from INFO (CONFIG is refused in scripts and on managed services).
local info = redis.pcall('INFO', 'memory')
local policy = ''
if type(info) == 'string' then policy = string.match(info, 'maxmemory_policy:(%S+)') or '' end
-- Written only the first time, so a server at maxmemory (noeviction) still lets a store start.
local recorded = redis.call('HGET', KEYS[1], 'partitions')
if recorded then return {'ok', recorded, policy} end
redis.call('HSETNX', KEYS[1], 'partitions', ARGV[1])
return {'ok', redis.call('HGET', KEYS[1], 'partitions'), policy}
