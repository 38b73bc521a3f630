-- wrk script: POST the body in $BODY with content type $CT, optional Basic auth in $BASIC.
wrk.method = "POST"
wrk.body = os.getenv("BODY")
wrk.headers["Content-Type"] = os.getenv("CT") or "application/x-www-form-urlencoded"
local basic = os.getenv("BASIC")
if basic and #basic > 0 then
  wrk.headers["Authorization"] = "Basic " .. basic
end

-- Count non-2xx answers so a run that "succeeds" with errors is visible.
local bad = 0
response = function(status, headers, body)
  if status < 200 or status > 299 then bad = bad + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("non-2xx: %d\n", bad))
end
