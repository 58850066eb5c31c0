--[[
  Compare-and-delete a slot lock; its number goes back to the free numbers. A holder back
  in service leaves the out-of-service set (and its zone's count) in the same call, even
  when its lease had lapsed meanwhile (it serves, so it no longer counts); one that does
  not serve again stays in it, counting against k and its zone's cap. The caller then
  wakes one waiter (wake-next.lua).

  Input:
    KEYS[1]  slot key
    KEYS[2]  slot leases sorted set of the group
    KEYS[3]  free slot numbers sorted set of the group
    KEYS[4]  out-of-service set of the group
    KEYS[5]  out-of-service hosts' zones hash (host -> zone)
    KEYS[6]  out-of-service count per zone hash

    ARGV[1]  token of the holder
    ARGV[2]  the slot's number
    ARGV[3]  the holder's host name, to take out of the out-of-service set, or "" to keep it there

  Output:
    0  the token did not hold the key and the holder was not counted out: nothing changed
    1  released, or the holder left the out-of-service set: a place may be free
]]
--- @include leave-out

local held = redis.call('GET', KEYS[1]) == ARGV[1]
if held then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('ZADD', KEYS[3], ARGV[2], ARGV[2])
end
local left = ARGV[3] ~= '' and leaveOut(KEYS[4], KEYS[5], KEYS[6], ARGV[3])
if held or left then
  return 1
end
return 0
