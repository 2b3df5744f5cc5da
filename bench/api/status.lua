-- GET .../status, cycling over the ids listed one per line in $BENCH_IDS.
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
local i = 0
request = function()
  i = i % #ids + 1
  return wrk.format("GET", "/api/v1/videos/" .. ids[i] .. "/status")
end
