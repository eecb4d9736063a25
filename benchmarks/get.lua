-- wrk script: GET one page with the bench user's session cookie (and HTMX or JWT headers); any 2xx
-- counts as answered (an idle poll answers 204).
-- Usage: wrk ... -s benchmarks/get.lua URL -- "Header: value" ...
function init(args)
  for _, header in ipairs(args) do
    local colon = header:find(":", 1, true)
    wrk.headers[header:sub(1, colon - 1)] = header:sub(colon + 2)
  end
  ok, other = 0, 0
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests_)
  local ok_, other_ = 0, 0
  for _, thread in ipairs(threads) do
    ok_ = ok_ + thread:get("ok")
    other_ = other_ + thread:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"ok":%d,"not_ok":%d,"socket_errors":%d,"p50_ms":%.3f,"p99_ms":%.3f}\n',
    summary.requests, summary.duration, ok_, other_, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
