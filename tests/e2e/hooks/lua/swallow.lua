-- Tries to catch the budget error with pcall and keep looping.
function swallow(text, job)
  while true do
    pcall(function()
      while true do end
    end)
  end
end
