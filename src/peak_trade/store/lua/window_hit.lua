-- Sliding-window log in the sorted set KEYS[1]: score = event time (µs, server
-- clock), member = '<time>:<seq>:<cost>'.
-- ARGV[1]: window (µs), ARGV[2]: cost (0 = only count), ARGV[3]: limit or ''.
-- Drops events older than the window, then records `cost` now unless that
-- would take the total above the limit. Returns the total including this hit.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local total = cost
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  total = total + tonumber(string.match(member, ':(%d+)$'))
end
if cost == 0 or (ARGV[3] ~= '' and total > tonumber(ARGV[3])) then
  return total
end
local stamp = string.format('%d', now)
local seq = 0
while redis.call('ZADD', KEYS[1], 'NX', now, stamp .. ':' .. seq .. ':' .. cost) == 0 do
  seq = seq + 1
end
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil(window / 1000)))
return total
