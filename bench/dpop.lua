-- wrk script: GET with `Authorization: <SCHEME> $TOKEN`; with $PROOFS (a file of DPoP
-- proofs, one per line, from `tessera jwt dpop-proof --count N`) each request sends the
-- next proof in its `DPoP` header. Every proof is good once: the file must hold more proofs
-- than the run sends (a replayed one answers 401 and is counted as non-200).
local scheme = os.getenv("SCHEME") or "Bearer"
local token = os.getenv("TOKEN")
local proofs = {}
local file = os.getenv("PROOFS")
if file and #file > 0 then
  for line in io.lines(file) do
    if #line > 0 then proofs[#proofs + 1] = line end
  end
end
local i = 0
request = function()
  local headers = { ["Authorization"] = scheme .. " " .. token }
  if #proofs > 0 then
    i = i % #proofs + 1
    headers["DPoP"] = proofs[i]
  end
  return wrk.format("GET", nil, headers)
end

local bad = 0
response = function(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("non-200: %d\n", bad))
end
