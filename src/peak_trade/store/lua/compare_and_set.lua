-- Replace the value at KEYS[1] with ARGV[2] if it currently equals ARGV[1].
-- ARGV[3]: TTL in milliseconds, or '' for no expiry.
-- (expected == None uses the native SET NX instead of this script.)
-- Returns 1 if replaced, 0 if not.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[3] == '' then
  redis.call('SET', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
