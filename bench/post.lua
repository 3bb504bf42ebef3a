-- wrk script: POST a fixed JSON body; prints one machine-readable summary line.
-- usage: wrk -s bench/post.lua URL -- BODY_FILE [HEADER: VALUE ...]
local body_file, extra = nil, {}

function init(args)
  body_file = args[1]
  local f = assert(io.open(body_file, "rb"))
  local body = f:read("*a")
  f:close()
  local headers = { ["Content-Type"] = "application/json" }
  for i = 2, #args do
    local name, value = string.match(args[i], "^([^:]+):%s*(.*)$")
    if name then headers[name] = value end
  end
  req = wrk.format("POST", nil, headers, body)
end

function request()
  return req
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH {\"requests\":%d,\"duration_us\":%d,\"p50_us\":%d,\"p99_us\":%d," ..
    "\"p90_us\":%d,\"p999_us\":%d,\"max_us\":%d,\"mean_us\":%.1f,\"connect\":%d,\"read\":%d,\"write\":%d,\"status\":%d,\"timeout\":%d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency:percentile(90), latency:percentile(99.9), latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
