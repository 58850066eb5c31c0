--[[
  Leave the waiters (the caller's zone queue, or the group's where an unfreeze put it) or
  the held set of hosts a freeze or a gate keeps aside, and say whether a wake-up was
  meant for the caller: then the caller hands it to the next waiter (wake-next.lua), so a
  host that stands down (broken release, abort) without taking a slot does not break the
  chain of wake-ups.

  Input:
    KEYS[1]  the caller's zone queue
    KEYS[2]  waiters sorted set of the group (zone ""; KEYS[1] itself for zone "")
    KEYS[3]  held sorted set of the group
    KEYS[4]  the caller's own wake list

    ARGV[1]  the caller's token

  Output:
    0  the caller owed no wake-up
    1  the caller owed a wake-up: wake the next waiter
]]
-- In no set any more means a release, a broken mark, an unfreeze or an opened gate
-- popped the caller; an unread wake list means a wake-up came after the caller's last look.
local waiting = redis.call('ZREM', KEYS[1], ARGV[1]) == 1
if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then
  waiting = true
end
local held = redis.call('ZREM', KEYS[3], ARGV[1]) == 1
local unread = redis.call('DEL', KEYS[4]) == 1
if (waiting or held) and not unread then
  return 0
end
return 1
