-- wrk script: POST pre-signed webhook deliveries, each once, from a pool file.
-- Usage: wrk ... -s benchmarks/deliver.lua URL -- POOL_FILE THREADS
-- The pool has one "sha256=<hex>\t<body>" line per delivery (benchmarks/deliveries.py);
-- wrk's Lua has no HMAC, so the signatures are made beforehand. Thread i sends lines
-- i, i+THREADS, ... and wraps around (counted) only if the pool runs out.
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local pool, nthreads = args[1], tonumber(args[2])
  requests = {}
  local n = 0
  for line in io.lines(pool) do
    if n % nthreads == id then
      local tab = line:find("\t", 1, true)
      local headers = {
        ["Content-Type"] = "application/json",
        ["X-Hub-Signature-256"] = line:sub(1, tab - 1),
      }
      table.insert(requests, wrk.format("POST", nil, headers, line:sub(tab + 1)))
    end
    n = n + 1
  end
  cursor, sent, ok, other, wrapped = 0, 0, 0, 0, 0
end

function request()
  cursor = cursor + 1
  if cursor > #requests then
    cursor, wrapped = 1, wrapped + 1
  end
  sent = sent + 1
  return requests[cursor]
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests_)
  local sent_, ok_, other_, wrapped_ = 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    sent_ = sent_ + thread:get("sent")
    ok_ = ok_ + thread:get("ok")
    other_ = other_ + thread:get("other")
    wrapped_ = wrapped_ + thread:get("wrapped")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"sent":%d,"ok":%d,"not_ok":%d,"wrapped":%d,' ..
    '"socket_errors":%d,"p50_ms":%.3f,"p99_ms":%.3f}\n',
    summary.requests, summary.duration, sent_, ok_, other_, wrapped_,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
