-- Stream id order (numeric, not lexical): older(a, b) is a < b. Lua numbers are
-- doubles, exact for millisecond timestamps.
local function parts(id)
  local ms, seq = string.match(id, '^(%d+)-?(%d*)$')
  return tonumber(ms), tonumber(seq) or 0
end
local function older(a, b)
  local am, as = parts(a)
  local bm, bs = parts(b)
  return am < bm or (am == bm and as < bs)
end
