--[[
  Mark a release broken and wake every waiting host of the group: all of them
  must stand down, so here the whole herd is the point.
  The first mark stays (its reason names the first failure); waking happens
  either way. Wake lists are built from a prefix, as in release-slot-2.lua
  (same hash tag as KEYS).

  Input:
    KEYS[1]  broken-release mark of the tag
    KEYS[2]  waiters sorted set of the group

    ARGV[1]  mark value (JSON: reason, host, at)
    ARGV[2]  wake list prefix (each waiter's token is appended)
    ARGV[3]  wake list TTL in milliseconds

  Output:
    n >= 0  how many waiters were woken
]]
redis.call('SET', KEYS[1], ARGV[1], 'NX')

local waiters = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
redis.call('DEL', KEYS[2])
for i = 1, #waiters, 2 do
  local wake = ARGV[2] .. waiters[i]
  redis.call('LPUSH', wake, waiters[i + 1])
  redis.call('PEXPIRE', wake, ARGV[3])
end
return #waiters / 2
