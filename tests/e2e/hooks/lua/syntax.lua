-- A syntax error (reported at line 6): `vidgen check` must report it.
function broken(text, job)
  if text == "" then
    return "empty"
  -- missing `end`
  return text
end
