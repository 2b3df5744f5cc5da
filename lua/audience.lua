-- Audience hooks: a `before` hook on the stage that writes the first
-- explanation, telling the model who the explanation is for.
--   before = "lua/audience.lua:for_kids";
-- Edit the texts below to change the tone; no rebuild needed.

local M = {}

local LEVELS = {
  kids = "Explain this for a curious 10-year-old. Use short sentences and "
    .. "everyday comparisons (pizza slices, stairs, shadows). Avoid jargon; "
    .. "if a formula is needed, say what every symbol means in words.",
  students = "Explain this for a high-school student who knows basic "
    .. "algebra and geometry. Define each new term once, show one worked "
    .. "example, and point out the most common mistake.",
  experts = "Explain this for a reader with a university degree in the "
    .. "field. Be precise and concise, use standard notation, state "
    .. "assumptions, and mention where the result generalises or fails.",
}

-- Puts the audience instruction in front of the question. A text that
-- already starts with an instruction (a retried stage) is kept as it is.
local function with_audience(text, level)
  local instruction = LEVELS[level]
  for _, known in pairs(LEVELS) do
    if text:sub(1, #known) == known then
      return nil
    end
  end
  vidgen.log("audience set to " .. level)
  return instruction .. "\n\nQuestion: " .. text
end

function M.for_kids(text, job)
  return with_audience(text, "kids")
end

function M.for_students(text, job)
  return with_audience(text, "students")
end

function M.for_experts(text, job)
  return with_audience(text, "experts")
end

return M
