--[[
  Give the coordinators' lease up, only while this token holds it (a stopping leader lets the
  other coordinator take over at once instead of after the TTL).

  Input:
    KEYS[1]  lease key

    ARGV[1]  token of the holder

  Output:
    1  dropped
    0  the key is gone or holds another token
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
