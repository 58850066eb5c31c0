--[[
  Compare-and-delete a slot lock, then wake the longest-waiting host (one, not the herd).
  The wake list's name depends on the popped token, so it is built here from a
  prefix instead of being declared in KEYS; the prefix carries the same hash tag
  as KEYS, so on Redis Cluster every key still lives in one slot.

  Input:
    KEYS[1]  slot key
    KEYS[2]  waiters sorted set of the group

    ARGV[1]  token of the holder
    ARGV[2]  wake list prefix (the popped token is appended)
    ARGV[3]  wake list TTL in milliseconds

  Output:
    1  released (and the oldest waiter, if any, woken)
    0  the token did not hold the key: nothing changed
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])

local head = redis.call('ZPOPMIN', KEYS[2])
if head[1] then
  local wake = ARGV[2] .. head[1]
  -- The score travels with the wake-up so a waiter that loses the race keeps its place.
  redis.call('LPUSH', wake, head[2])
  redis.call('PEXPIRE', wake, ARGV[3])
end
return 1
