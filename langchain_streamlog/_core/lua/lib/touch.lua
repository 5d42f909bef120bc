-- Shared by the read scripts: KEYS are log, snap, idem, idem_old; a positive ttl
-- restarts the session's TTL on read (the store's refresh_ttl_on_read).
local function touch(ttl)
  if ttl > 0 and redis.call('EXISTS', KEYS[1]) == 1 then
    for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ttl) end
  end
end
