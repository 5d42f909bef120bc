-- The threads of a partition that hold checkpoints of the given runs.
-- KEYS: runs | ARGV: run id... | Reply: thread ids
--! include lib.lua
local found, out = {}, {}
for i = 1, #ARGV do
  local p = 'r' .. enc(ARGV[i])
  for _, m in ipairs(prefixed(KEYS[1], p)) do
    local t = string.sub(m, #p + 1)
    if not found[t] then found[t], out[#out + 1] = true, t end
  end
end
return out
