-- Returns a number instead of text: the stage fails at line 2.
function answer(text, job)
  return 42
end
