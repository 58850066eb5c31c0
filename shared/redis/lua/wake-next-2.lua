--[[
  Leave the waiters set and, if a wake-up was meant for the caller, hand it to the
  next waiter, so a host that stands down (broken release, abort) without taking
  a slot does not break the chain of wake-ups.
  The next waiter's wake list is built from a prefix, as in release-slot-2.lua
  (same hash tag as KEYS).

  Input:
    KEYS[1]  waiters sorted set of the group
    KEYS[2]  the caller's own wake list

    ARGV[1]  the caller's token
    ARGV[2]  wake list prefix (the popped token is appended)
    ARGV[3]  wake list TTL in milliseconds

  Output:
    1  the caller owed a wake-up and the next waiter got it
    0  the caller owed nothing, or nobody is waiting
]]
-- Not in the set any more means a release (or a broken mark) popped the caller;
-- an unread wake list means a wake-up came after the caller's last look.
local stillQueued = redis.call('ZREM', KEYS[1], ARGV[1]) == 1
local unread = redis.call('DEL', KEYS[2]) == 1
if stillQueued and not unread then
  return 0
end

local head = redis.call('ZPOPMIN', KEYS[1])
if not head[1] then
  return 0
end
local wake = ARGV[2] .. head[1]
redis.call('LPUSH', wake, head[2])
redis.call('PEXPIRE', wake, ARGV[3])
return 1
