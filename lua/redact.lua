-- Redaction: a `before` hook on every stage whose input is the user's
-- question, so e-mail addresses and phone numbers never reach a model.
--   before = "lua/redact.lua:redact";
-- Numbers that belong to the question (years, decimals, 1 000 000, a
-- 10-digit prime) are kept: a phone number needs a '+' or separators.

local M = {}

local EMAIL = "[%w%.%%%+%-_]+@[%w%-]+%.[%w%.%-]*%a"
-- Digits with the separators phone numbers use, on one line.
local PHONE_RUN = "[%+%(]?%d[%d \t%-%.%(%)]*%d"

local function digits_of(run)
  local groups = {}
  for g in run:gmatch("%d+") do
    groups[#groups + 1] = g
  end
  return groups, #(run:gsub("%D", ""))
end

-- 1 234 567 or 1.234.567: a number written with thousands separators.
local function is_grouped_number(run, groups)
  if #groups < 2 or #groups[1] > 3 then
    return false
  end
  for i = 2, #groups do
    if #groups[i] ~= 3 then
      return false
    end
  end
  return not run:find("[%-%(%)]")
end

local function is_phone(run)
  local groups, n = digits_of(run)
  if n < 9 or n > 15 then
    return false
  end
  if run:sub(1, 1) == "+" then
    return true
  end
  if #groups < 2 or is_grouped_number(run, groups) then
    return false
  end
  -- "3.14159265" is a decimal, "555.123.4567" a phone.
  local _, dots = run:gsub("%.", "")
  local _, others = run:gsub("[%s%-%(%)]", "")
  return others > 0 or dots >= 2
end

function M.redact(text, job)
  local emails, phones = 0, 0
  text, emails = text:gsub(EMAIL, "[email]")
  text = text:gsub(PHONE_RUN, function(run)
    if is_phone(run) then
      phones = phones + 1
      return "[phone]"
    end
    return nil -- keep the number
  end)
  if emails == 0 and phones == 0 then
    return nil
  end
  vidgen.log(("redacted %d e-mail address(es) and %d phone number(s)")
    :format(emails, phones))
  return text
end

return M
