-- Erase a session: every key of it, the copies of its events in the partition feed and
-- in the dead letters, its index entry; then the tombstone, so workers forget it too.
-- A log entry and its feed copy share an id, so the log names the copies; events that
-- retention trimmed from the log (below the mark 't' of the snapshot) are found by their
-- session id in the feed below that mark. Everything is in the partition's slot.
-- KEYS: log, idem, idem_old, sessions, feed, snap, dead
-- ARGV: session id, tombstone payload
-- Reply: {"ok", keys deleted, tombstone feed id, event copies erased}
--! include lib/erase.lua
local sid = ARGV[1]
local copies = erase_copies(KEYS[1], KEYS[5], sid, redis.call('HGET', KEYS[6], 't'))
copies = copies + erase_by_session(KEYS[7], '-', '+', sid)
local n = redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[6])
redis.call('ZREM', KEYS[4], sid)
local id = redis.call('XADD', KEYS[5], '*', 's', sid, 'e', ARGV[2])
return {'ok', n, id, copies}
