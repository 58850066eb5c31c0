--[[
  Wake the longest-waiting host, if it is still the one the caller read: the second
  look after release-slot-3.lua or leave-queue-3.lua found the head changed, and the
  wake-up a freed slot owes when the coordinator frees a lost host's slot.

  Input:
    KEYS[1]  waiters sorted set of the group
    KEYS[2]  wake list of the head the caller read

    ARGV[1]  token of the head the caller read
    ARGV[2]  wake list TTL in milliseconds

  Output:
    1  the head was woken (and left the waiters set)
    0  nobody waits
   -1  the head is no longer the one the caller read: look again
]]
local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if not head[1] then
  return 0
end
if head[1] ~= ARGV[1] then
  return -1
end
redis.call('ZREM', KEYS[1], head[1])
-- The score travels with the wake-up so a waiter that loses the race keeps its place.
redis.call('LPUSH', KEYS[2], head[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
