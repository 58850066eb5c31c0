--[[
  Wake the longest-waiting host, if it is still the one the caller read: the second
  look after release-slot-3.lua or leave-queue-4.lua found the head changed, and the
  wake-up a freed slot owes when the coordinator frees a lost host's slot.

  Input:
    KEYS[1]  waiters sorted set of the group
    KEYS[2]  wake list of the head the caller read

    ARGV[1]  token of the head the caller read
    ARGV[2]  wake list TTL in milliseconds

  Output:
    1  nobody waits
    2  the head was woken (and left the waiters set)
    3  the head is no longer the one the caller read: look again
]]
--- @include wake-head

return wakeHead(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
