-- wrk script for bench_correlate.py: single-value lookups over a list of known values.
local values = {}
for line in io.lines(os.getenv("CANAL_BENCH_VALUES")) do
  values[#values + 1] = line
end
local token = os.getenv("CANAL_BENCH_TOKEN")
local n = 0
request = function()
  n = n + 1
  local kind, value = values[(n % #values) + 1]:match("([^:]+):(.+)")
  local body = '{"values":[{"value":"' .. value .. '","type":"' .. kind .. '"}]}'
  return wrk.format("POST", "/api/v1/lookup", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, body)
end

-- Think time between a connection's requests: exponential with a mean of CANAL_BENCH_PACE_MS
-- (independent clients, Poisson arrivals); none when unset (back to back).
local pace = tonumber(os.getenv("CANAL_BENCH_PACE_MS") or "0")
math.randomseed(os.time())
if pace > 0 then
  delay = function()
    return math.floor(-pace * math.log(1 - math.random()))
  end
end
