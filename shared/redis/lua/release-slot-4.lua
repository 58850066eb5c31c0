--[[
  Compare-and-delete a slot lock, then wake the longest-waiting host (one, not the herd).
  The caller read the head of the waiters set just before (ZRANGE 0 0) and names its
  wake list, so the script touches only declared keys. A head that changed in between
  is not woken: the caller looks again and wakes the new head with wake-head-2.lua.
  A holder back in service leaves the out-of-service set in the same call, even when its
  lease had lapsed meanwhile (it serves, so it no longer counts); one that does not serve
  again stays in it, counting against k.

  Input:
    KEYS[1]  slot key
    KEYS[2]  waiters sorted set of the group
    KEYS[3]  wake list of the head the caller read (any wake key of the group when it
             read nobody; then it is not touched)
    KEYS[4]  out-of-service set of the group

    ARGV[1]  token of the holder
    ARGV[2]  token of the head the caller read, or "" for nobody
    ARGV[3]  wake list TTL in milliseconds
    ARGV[4]  the holder's host name, to take out of the out-of-service set, or "" to keep it there

  Output:
    0  the token did not hold the key and the holder was not counted out: nothing changed
    1  released (or the holder left the out-of-service set); nobody waits
    2  released; the head was woken (and left the waiters set)
    3  released; the head is no longer the one the caller read: look again
]]
--- @include wake-head

local held = redis.call('GET', KEYS[1]) == ARGV[1]
if held then
  redis.call('DEL', KEYS[1])
end
local left = ARGV[4] ~= '' and redis.call('SREM', KEYS[4], ARGV[4]) == 1
if not held and not left then
  return 0
end
return wakeHead(KEYS[2], KEYS[3], ARGV[2], ARGV[3])
