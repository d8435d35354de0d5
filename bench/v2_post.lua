-- wrk script for bench/v2.sh: POSTs the file $BODY_FILE with Content-Type $CTYPE and, when $IHCL
-- is set, Inference-Header-Content-Length: $IHCL (the /v2 binary tensor extension). Prints one
-- summary line: WRK rps=... p50_ms=... p99_ms=... non2xx=... errors=...
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("CTYPE") or "application/json"
if os.getenv("IHCL") and os.getenv("IHCL") ~= "" then
  wrk.headers["Inference-Header-Content-Length"] = os.getenv("IHCL")
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK rps=%.1f p50_ms=%.3f p99_ms=%.3f non2xx=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, e.status, e.connect + e.read + e.write + e.timeout))
end
