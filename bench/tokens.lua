-- wrk script: GET with a bearer token; with $TOKENS (a file of tokens, one per line) each
-- request takes the next token in turn, otherwise every request sends $TOKEN.
local tokens = {}
local file = os.getenv("TOKENS")
if file and #file > 0 then
  for line in io.lines(file) do
    if #line > 0 then tokens[#tokens + 1] = line end
  end
else
  tokens[1] = os.getenv("TOKEN")
end
local i = 0
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. tokens[i] })
end

local bad = 0
response = function(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("non-200: %d\n", bad))
end
