-- GCRA token bucket. KEYS[1] holds the theoretical arrival time (µs, server
-- clock): the moment the bucket is full again; absent means full.
-- ARGV[1]: emission interval (µs per token), ARGV[2]: burst, ARGV[3]: cost.
-- Returns 0 after consuming `cost` tokens, or, consuming nothing, the whole
-- microseconds (rounded up, so never early) until `cost` tokens are available.
-- An integer reply is the cheapest one for the client to parse.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then
  tat = now
end
local new_tat = tat + cost * interval
local over = new_tat - now - burst * interval
if over > 1 then -- 1 µs tolerance for rounding, as in the Python backends
  return math.ceil(over)
end
redis.call('SET', KEYS[1], string.format('%.3f', new_tat),
  'PX', math.max(1, math.ceil((new_tat - now) / 1000)))
return 0
