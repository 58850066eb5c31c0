--[[
  Leave the waiters set (or the held set of hosts a freeze or a gate keeps aside) and,
  if a wake-up was meant for the caller, hand it to the next waiter, so a host that
  stands down (broken release, abort) without taking a slot does not break the chain
  of wake-ups. The caller read the first waiters
  (ZRANGE 0 1) just before and names the wake list of the first one that is not
  itself; a head that changed in between is not woken: the caller looks again and
  wakes the new head with wake-head-2.lua.

  Input:
    KEYS[1]  waiters sorted set of the group
    KEYS[2]  the caller's own wake list
    KEYS[3]  wake list of the next waiter the caller read (any wake key of the group
             when it read nobody; then it is not touched)
    KEYS[4]  held sorted set of the group

    ARGV[1]  the caller's token
    ARGV[2]  token of the next waiter the caller read, or "" for nobody
    ARGV[3]  wake list TTL in milliseconds

  Output:
    0  the caller owed no wake-up
    1  the caller owed a wake-up; nobody waits to take it
    2  the caller owed a wake-up; the next waiter got it (and left the waiters set)
    3  the caller owed a wake-up; the head is no longer the one the caller read: look again
]]
--- @include wake-head

-- In neither set any more means a release, a broken mark, an unfreeze or an opened gate
-- popped the caller; an unread wake list means a wake-up came after the caller's last look.
local waiting = redis.call('ZREM', KEYS[1], ARGV[1]) == 1
local held = redis.call('ZREM', KEYS[4], ARGV[1]) == 1
local stillQueued = waiting or held
local unread = redis.call('DEL', KEYS[2]) == 1
if stillQueued and not unread then
  return 0
end
return wakeHead(KEYS[1], KEYS[3], ARGV[2], ARGV[3])
