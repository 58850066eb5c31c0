--[[
  Extend a slot lease, only while the token still holds it and its lease has not lapsed
  (the leases set is what gives a lapsed number to the next host).

  Input:
    KEYS[1]  slot key
    KEYS[2]  slot leases sorted set of the group (slot number -> lease end, ms)

    ARGV[1]  token of the holder
    ARGV[2]  lock TTL in milliseconds
    ARGV[3]  the slot's number

  Output:
    1  renewed
    0  the key is gone or holds another token, or the lease lapsed
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ends = redis.call('ZSCORE', KEYS[2], ARGV[3])
if not ends or tonumber(ends) < ms then
  return 0
end
redis.call('ZADD', KEYS[2], ms + tonumber(ARGV[2]), ARGV[3])
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
