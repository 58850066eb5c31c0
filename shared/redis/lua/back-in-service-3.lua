--[[
  A host serves again: it leaves the group's out-of-service set and its zone's count. If
  it was in the set, the place it counted against is free: the caller wakes one waiter
  (wake-next.lua), as after a release.

  Input:
    KEYS[1]  out-of-service set of the group
    KEYS[2]  out-of-service hosts' zones hash (host -> zone)
    KEYS[3]  out-of-service count per zone hash

    ARGV[1]  the host's name

  Output:
    0  the host was not in the set: nothing changed
    1  left the set
]]
--- @include leave-out

if leaveOut(KEYS[1], KEYS[2], KEYS[3], ARGV[1]) then
  return 1
end
return 0
