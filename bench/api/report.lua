-- wrk script fragment: prints one machine-readable line at the end:
-- RESULT <requests/s> <p50 us> <p99 us> <requests> <non-2xx/3xx> <socket errors>
done = function(summary, latency, requests)
  local errs = summary.errors.connect + summary.errors.read + summary.errors.write +
               summary.errors.timeout
  io.write(string.format("RESULT %.0f %d %d %d %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99),
    summary.requests, summary.errors.status, errs))
end
