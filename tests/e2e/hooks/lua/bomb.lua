-- Allocates without bound: the memory cap must stop it (line 6).
function bomb(text, job)
  local t = {}
  local i = 0
  while true do
    t[#t + 1] = string.rep("x", 1024 * 1024) .. i
    i = i + 1
  end
end

-- One huge allocation in a single call (line 13).
function one_huge(text, job)
  local big = string.rep("x", 1 << 30)
  return big
end
