-- INCRBY KEYS[1] by ARGV[1]; if this call created the key and ARGV[2] ~= '',
-- give it a TTL of ARGV[2] milliseconds (fixed-window counter: later
-- increments keep the original expiry). Returns the new value.
local created = redis.call('EXISTS', KEYS[1]) == 0
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if created and ARGV[2] ~= '' then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
