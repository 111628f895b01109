-- wrk script for bench/peer_cfssl.py: POST a distinct pre-encoded cfssl sign body per request.
--
--   wrk -t1 -c16 -d10s --latency -s bench/wrk_post_cfssl.lua URL/api/v1/cfssl/sign -- BODIES OFFSET NTHREADS -
--
-- The sibling of wrk_post_csr.lua for cfssl's JSON API: BODIES holds one JSON body per line
-- ({"certificate_request": PEM, "profile": ...}, encoded once by bench/cfssl_peer.py, so the
-- client spends no CPU building them), in the order of the CSR pool. Request k of thread t sends
-- body (OFFSET + t + k*NTHREADS) modulo the count. The fourth argument is ignored (cfssl's sign
-- endpoint takes no token). done() prints the same BENCHJSON line as wrk_post_csr.lua, where
-- "created" counts 200 answers whose body says "success":true and "other_status" the rest.

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local bodies = {}
local offset, stride, counter = 0, 1, 0
local headers = {}
created, other = 0, 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      bodies[#bodies + 1] = line
    end
  end
  assert(#bodies > 0, "no body in " .. args[1])
  offset = tonumber(args[2] or "0") + tid
  stride = tonumber(args[3] or "1")
  headers["Content-Type"] = "application/json"
end

function request()
  local body = bodies[((offset + counter * stride) % #bodies) + 1]
  counter = counter + 1
  return wrk.format("POST", nil, headers, body)
end

function response(status, hdrs, body)
  if status == 200 and body:find('"success":true', 1, true) then
    created = created + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local c, o = 0, 0
  for _, t in ipairs(threads) do
    c = c + (t:get("created") or 0)
    o = o + (t:get("other") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests": %d, "duration_us": %d, "created": %d, "other_status": %d, ' ..
    '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "mean": %.1f, "max": %d}}\n',
    summary.requests, summary.duration, c, o, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
