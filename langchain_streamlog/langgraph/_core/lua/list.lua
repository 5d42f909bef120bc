-- A page of checkpoints, newest first, from ``start`` down, of one namespace or all.
-- Stops after ``want`` checkpoints or ``budget`` entries read. With ``before`` (a
-- checkpoint id of the namespace) and start "+", it starts just below that checkpoint.
-- KEYS: the thread's seven keys (see lib.lua)
-- ARGV: "1" one namespace | "0" all, ns, start ("+", an id, or "(" id), want, budget,
-- before ("" = none)
-- Reply: {next start ("" = the end), {loaded entry, ...}}
--! include lib.lua
local one, ns, cursor = ARGV[1] == '1', ARGV[2], ARGV[3]
local want, budget = tonumber(ARGV[4]), tonumber(ARGV[5])
if one and ARGV[6] ~= '' and cursor == '+' then
  local s = redis.call('HGET', KEYS[5], enc(ns) .. ARGV[6])
  if s then cursor = '(' .. s end
end
local out, read = {}, 0
while true do
  local batch = redis.call('XREVRANGE', KEYS[1], cursor, '-', 'COUNT', 50)
  for _, entry in ipairs(batch) do
    read = read + 1
    cursor = '(' .. entry[1]
    if not one or fields(entry[2])['n'] == ns then out[#out + 1] = loaded(entry) end
    if #out >= want or read >= budget then return {cursor, out} end
  end
  if #batch < 50 then return {'', out} end
end
