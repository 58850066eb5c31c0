-- Included by the loader where a script says `--- @include leave-out` (Redis runs each
-- script alone, so scripts cannot call each other).
-- A host serves again: it leaves the out-of-service set and its zone's count drops (a zone
-- at 0 is deleted, so the hash's length is the number of zones with hosts out). Returns
-- whether it was in the set.
local function leaveOut(out, outZones, zoneOut, host)
  if redis.call('SREM', out, host) == 0 then
    return false
  end
  local zone = redis.call('HGET', outZones, host) or ''
  redis.call('HDEL', outZones, host)
  if redis.call('HINCRBY', zoneOut, zone, -1) <= 0 then
    redis.call('HDEL', zoneOut, zone)
  end
  return true
end
