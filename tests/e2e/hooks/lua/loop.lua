-- Never returns: the instruction budget must stop it (line 5).
function spin(text, job)
  local n = 0
  while true do
    n = n + 1
  end
end
