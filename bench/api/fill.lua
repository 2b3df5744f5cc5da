-- Appended to create.lua to store a known number of jobs: each wrk thread
-- stops after $BENCH_LIMIT answers.
local limit = tonumber(os.getenv("BENCH_LIMIT") or "0")
local n = 0
response = function(status, headers, body)
  n = n + 1
  if limit > 0 and n >= limit then wrk.thread:stop() end
end
