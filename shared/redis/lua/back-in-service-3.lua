--[[
  A host serves again: it leaves the group's out-of-service set and, if it was in it,
  the slot it counted against wakes the longest-waiting host (as a release does).

  Input:
    KEYS[1]  out-of-service set of the group
    KEYS[2]  waiters sorted set of the group
    KEYS[3]  wake list of the head the caller read (any wake key of the group when it
             read nobody; then it is not touched)

    ARGV[1]  the host's name
    ARGV[2]  token of the head the caller read, or "" for nobody
    ARGV[3]  wake list TTL in milliseconds

  Output:
    0  the host was not in the set: nothing changed
    1  left the set; nobody waits
    2  left the set; the head was woken (and left the waiters set)
    3  left the set; the head is no longer the one the caller read: look again
]]
--- @include wake-head

if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then
  return 0
end
return wakeHead(KEYS[2], KEYS[3], ARGV[2], ARGV[3])
