-- wrk script for bench/issuance.py and bench/peer_cfssl.py: POST a distinct CSR per request.
--
--   wrk -t1 -c16 -d10s --latency -s bench/wrk_post_csr.lua URL -- POOL OFFSET NTHREADS TOKEN [FORMAT]
--
-- FORMAT "pkcs10" (default): POOL holds PEM CSRs back to back, sent as application/pkcs10, and a
-- 201 is a success. FORMAT "cfssl": POOL holds one JSON sign body per line
-- ({"certificate_request": PEM, "profile": ...}, encoded once by bench/cfssl_peer.py, so the
-- client spends no CPU building them), sent as application/json, and a success is a 200 whose
-- body says "success":true. FORMAT "batch": POOL holds one `POST /api/v1/batches` body per line
-- ({"items": [{"csr": PEM}, ...]}, encoded once by bench/harness.py), sent as application/json;
-- each item answered "issued" in a 200 counts as one success ("created" counts certificates,
-- not requests), and an answer other than 200 as one other. Request k of thread t sends item (OFFSET + t + k*NTHREADS) modulo
-- the pool size, so threads never send the same CSR and the caller can continue where the
-- previous run stopped. TOKEN "-" sends no Authorization header. done() prints one JSON line
-- prefixed with BENCHJSON: latency percentiles (microseconds), counts, successes and others.

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local pool = {}
local offset, stride, counter = 0, 1, 0
local headers = {}
local cfssl = false
local batch = false
created, other = 0, 0

function init(args)
  cfssl = args[5] == "cfssl"
  batch = args[5] == "batch"
  if cfssl or batch then
    for line in io.lines(args[1]) do
      if #line > 0 then
        pool[#pool + 1] = line
      end
    end
  else
    local f = assert(io.open(args[1], "rb"))
    local data = f:read("*a")
    f:close()
    for pem in data:gmatch("%-%-%-%-%-BEGIN CERTIFICATE REQUEST%-%-%-%-%-.-%-%-%-%-%-END CERTIFICATE REQUEST%-%-%-%-%-\n") do
      pool[#pool + 1] = pem
    end
  end
  assert(#pool > 0, "nothing to send in " .. args[1])
  offset = tonumber(args[2] or "0") + tid
  stride = tonumber(args[3] or "1")
  headers["Content-Type"] = (cfssl or batch) and "application/json" or "application/pkcs10"
  if args[4] and args[4] ~= "-" then
    headers["Authorization"] = "Bearer " .. args[4]
  end
end

function request()
  local body = pool[((offset + counter * stride) % #pool) + 1]
  counter = counter + 1
  return wrk.format("POST", nil, headers, body)
end

function response(status, hdrs, body)
  local ok
  if batch then
    if status == 200 then
      local _, issued = body:gsub('"status":"issued"', "")
      created = created + issued
    else
      other = other + 1
    end
    return
  end
  if cfssl then
    ok = status == 200 and body:find('"success":true', 1, true) ~= nil
  else
    ok = status == 201
  end
  if ok then
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
