-- House style for generated Manim scripts: an `after` hook on the script
-- (or validation) stage. Sets the background colour and keeps every
-- font_size inside a readable range. Edit STYLE to change the look.
--   after = "lua/house_style.lua:house_style";

local M = {}

local STYLE = {
  background = "#1C1F26", -- dark slate: good contrast for WHITE and YELLOW
  min_font_size = 24,     -- smaller is unreadable at 480p
  max_font_size = 72,     -- larger pushes titles off the frame
}

local BG_LINE = ('config.background_color = "%s"'):format(STYLE.background)

local function clamp_font_sizes(code)
  local changed = 0
  code = code:gsub("(font_size%s*=%s*)(%d+%.?%d*)", function(prefix, value)
    local n = tonumber(value)
    local fixed = math.max(STYLE.min_font_size, math.min(STYLE.max_font_size, n))
    if fixed ~= n then
      changed = changed + 1
      return prefix .. tostring(math.tointeger(fixed) or fixed)
    end
    return nil
  end)
  return code, changed
end

-- Rewrites every background assignment the script makes; a script that
-- sets none gets one right after its imports.
local function set_background(code)
  local value = ('"%s"'):format(STYLE.background)
  local n1, n2, n3
  code, n1 = code:gsub("(config%.background_color%s*=%s*)[^\n]+", "%1" .. value)
  code, n2 = code:gsub("(config%[%s*[\"']background_color[\"']%s*%]%s*=%s*)[^\n]+",
                       "%1" .. value)
  code, n3 = code:gsub("(self%.camera%.background_color%s*=%s*)[^\n]+", "%1" .. value)
  if n1 + n2 + n3 > 0 then
    return code
  end
  -- After the last top-level import (a parenthesised one ends at its ")"),
  -- or at the top.
  local insert_at, open = 0, false
  for line, stop in code:gmatch("([^\n]*)()\n?") do
    if open then
      open = not line:find(")", 1, true)
      insert_at = stop - 1
    elseif line:match("^from%s") or line:match("^import%s") then
      open = line:find("(", 1, true) and not line:find(")", 1, true)
      insert_at = stop - 1
    elseif line:match("^class%s") or line:match("^def%s") then
      break
    end
  end
  if insert_at == 0 then
    return BG_LINE .. "\n\n" .. code
  end
  return code:sub(1, insert_at) .. "\n" .. BG_LINE .. code:sub(insert_at + 1)
end

function M.house_style(text, job)
  local code, fonts = clamp_font_sizes(text)
  code = set_background(code)
  if code == text then
    return nil
  end
  if fonts > 0 then
    vidgen.log(("house style: %d font size(s) clamped to %d..%d")
      :format(fonts, STYLE.min_font_size, STYLE.max_font_size))
  end
  return code
end

return M
