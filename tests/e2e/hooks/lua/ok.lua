-- Well-behaved hooks for the failing.cfg runs: keep or shout the text.
function keep(text, job)
  return nil
end

function shout(text, job)
  return text:upper()
end
