-- wrk -s benchmarks/wrk_report.lua: one machine-readable line at the end of the run, so that
-- benchmarks.serving never parses wrk's human-readable output. Times are in microseconds.
--
-- wrk's own "status" error counts only answers of 400 and above; response() counts every answer
-- outside 2xx (a redirect would otherwise pass as a fast success). Each wrk thread has its own Lua
-- state, so the counts are collected from the threads in done(). Defining response() makes wrk hand
-- each answer's headers and body to Lua; measured on a 2 KB page, that costs wrk no visible req/s.
local threads = {}

setup = function(thread)
  table.insert(threads, thread)
end

non2xx = 0

response = function(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

done = function(summary, latency, requests)
  local errors = summary.errors
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
  end
  io.write(string.format(
    'WRK_RESULT {"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,"connect":%.0f,"read":%.0f,' ..
    '"write":%.0f,"status":%.0f,"timeout":%.0f,"non2xx":%.0f,"p50_us":%.0f,"p90_us":%.0f,' ..
    '"p99_us":%.0f,"max_us":%.0f}\n',
    summary.requests, summary.duration, summary.bytes, errors.connect, errors.read,
    errors.write, errors.status, errors.timeout, bad, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
