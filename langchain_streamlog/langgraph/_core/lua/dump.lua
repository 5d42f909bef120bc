-- Everything of a thread, as one consistent copy: the blobs its checkpoints refer to,
-- and every pending write.
-- KEYS: the thread's seven keys (see lib.lua) | ARGV: none
-- Reply: {entries, {blob name, value, ...}, {write key, value, ...}}
--! include lib.lua
local entries, names, seen = redis.call('XRANGE', KEYS[1], '-', '+'), {}, {}
for _, entry in ipairs(entries) do
  for _, name in ipairs(blob_names(fields(entry[2]))) do
    if not seen[name] then seen[name], names[#names + 1] = true, name end
  end
end
local function pairs_of(key, fields_)
  local out, values = {}, chunked('HMGET', key, fields_)
  for i = 1, #fields_ do
    if values[i] then
      out[#out + 1] = fields_[i]
      out[#out + 1] = values[i]
    end
  end
  return out
end
return {entries, pairs_of(KEYS[2], names), pairs_of(KEYS[3], redis.call('ZRANGE', KEYS[4], 0, -1))}
