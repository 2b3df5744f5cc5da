-- Misbehaves when the question asks it to (LOOP, BOMB, ESCAPE, NUMBER, REDOS),
-- else shouts the text: the daemon must fail those jobs with the file and
-- line and keep serving the others (tests/e2e/hooks_serve.sh, hooks_orphans.sh).
function by_question(text, job)
  local q = job.question
  if q:find("LOOP", 1, true) then
    while true do end
  elseif q:find("BOMB", 1, true) then
    local t = {}
    while true do t[#t + 1] = string.rep("x", 1 << 20) .. #t end
  elseif q:find("ESCAPE", 1, true) then
    os.execute("touch /tmp/vidgen-hook-escaped")
  elseif q:find("NUMBER", 1, true) then
    return 42
  elseif q:find("REDOS", 1, true) then
    -- Backtracks for ever inside one C call: only the wall clock ends it.
    while true do pcall(string.find, string.rep("a", 40), string.rep("a*", 30) .. "b") end
  end
  return text:upper()
end
