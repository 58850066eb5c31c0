--[[
  Extend a lease key (a deploy job's lock), only while the token still holds it.

  Input:
    KEYS[1]  lease key

    ARGV[1]  token of the holder
    ARGV[2]  lock TTL in milliseconds

  Output:
    1  renewed
    0  the key is gone or holds another token
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
