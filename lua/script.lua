-- Script clean-up: an `after` hook on the stages whose model answers with a
-- Manim script. Keeps only the Python code: drops Markdown code fences and
-- the chatter models put around them ("Here is the script...").
--   after = "lua/script.lua:strip_fences";

local M = {}

-- Lines that can start a Python file or continue one at the top level.
local CODE_START = {
  "^from%s+[%w_%.]+%s+import", "^import%s+[%w_]", "^class%s+[%w_]+",
  "^def%s+[%w_]+", "^#", "^@", "^config[%.%[]", "^[%w_]+%s*=",
  "^if%s+__name__", "^\"\"\"", "^'''",
}

local function looks_like_code(line)
  for _, pattern in ipairs(CODE_START) do
    if line:find(pattern) then
      return true
    end
  end
  return false
end

-- text without its trailing white space. A loop, not gsub("%s+$", ""):
-- that pattern retries from every space of a long run that does not reach
-- the end (quadratic: 100 KB of spaces before a last "x" took 30 s of C
-- time, which the instruction budget cannot see).
local function rtrim(text)
  local n = #text
  while n > 0 do
    local b = text:byte(n)
    if b ~= 32 and (b < 9 or b > 13) then
      break
    end
    n = n - 1
  end
  return text:sub(1, n)
end

local function split_lines(text)
  local lines = {}
  for line in (text .. "\n"):gmatch("(.-)\r?\n") do
    lines[#lines + 1] = line
  end
  return lines
end

-- Returns the fenced blocks of a Markdown answer as {lang=, body=} tables.
-- An unclosed fence (a truncated answer) runs to the end of the text.
local function fenced_blocks(lines)
  local blocks, current = {}, nil
  for _, line in ipairs(lines) do
    local fence, lang = line:match("^%s*(```+)%s*([%w_%+%-]*)")
    if fence and not current then
      current = { lang = lang:lower(), body = {} }
    elseif fence and current then
      blocks[#blocks + 1] = current
      current = nil
    elseif current then
      current.body[#current.body + 1] = line
    end
  end
  if current then
    blocks[#blocks + 1] = current
  end
  return blocks
end

-- Scores a block: a Manim scene in Python beats any other code.
local function score(block)
  local body = table.concat(block.body, "\n")
  local s = #body
  if block.lang == "python" or block.lang == "py" or block.lang == "" then
    s = s + 1e6
  end
  if body:find("class%s+[%w_]+%s*%(.-Scene%s*%)") then
    s = s + 1e7
  end
  if body:find("from%s+manim%s+import") or body:find("import%s+manim") then
    s = s + 1e7
  end
  return s, body
end

-- Without fences: drops prose before the first code line and after the
-- last line that belongs to the code (indented, blank or code-like).
local function strip_prose(lines)
  local first, last = nil, nil
  for i, line in ipairs(lines) do
    if looks_like_code(line) then
      first = i
      break
    end
  end
  if not first then
    return nil
  end
  last = #lines
  while last > first do
    local line = lines[last]
    if line:match("^%s*$") or line:match("^%s") or looks_like_code(line)
        or line:match("^[%)%]}]") then
      break
    end
    last = last - 1
  end
  while last > first and lines[last]:match("^%s*$") do
    last = last - 1
  end
  return table.concat(lines, "\n", first, last)
end

function M.strip_fences(text, job)
  local lines = split_lines(text)
  local blocks = fenced_blocks(lines)
  local code
  if #blocks > 0 then
    local best_score = -1
    for _, block in ipairs(blocks) do
      local s, body = score(block)
      if s > best_score then
        best_score, code = s, body
      end
    end
  else
    code = strip_prose(lines)
  end
  if code == nil then
    return nil
  end
  code = rtrim((code:gsub("^%s*\n", ""))) .. "\n"
  if code == text then
    return nil
  end
  if #blocks > 1 then
    vidgen.log(("kept 1 of %d code blocks"):format(#blocks))
  end
  return code
end

return M
