-- Read-only: tokens in the GCRA bucket KEYS[1] now (see take_tokens.lua).
-- ARGV[1]: emission interval (µs per token), ARGV[2]: burst.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat <= now then
  return tostring(burst)
end
return string.format('%.6f', math.max(0, burst - (tat - now) / interval))
