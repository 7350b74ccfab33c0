-- wrk script of the benchmark: `wrk ... -s bench/wrk.lua URL -- [post BODY_FILE]`.
-- With "post" every request is POST BODY_FILE's content as application/json;
-- otherwise wrk's default GET of URL. At the end it prints one JSON line,
-- prefixed with "BENCH_JSON ", that bench/wrk.py parses.

local body_file = nil

function init(args)
  if args[1] == "post" then
    local file = assert(io.open(args[2], "rb"))
    wrk.method = "POST"
    wrk.body = file:read("*a")
    wrk.headers["Content-Type"] = "application/json"
    file:close()
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors_connect": %d, "errors_read": %d, "errors_write": %d, ' ..
    '"errors_status": %d, "errors_timeout": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
