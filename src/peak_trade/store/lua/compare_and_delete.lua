-- Delete KEYS[1] if its value equals ARGV[1]. Returns 1 if deleted, 0 if not.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
