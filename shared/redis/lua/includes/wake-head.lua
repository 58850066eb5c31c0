-- Included by the loader where a script says `--- @include wake-head` (Redis runs each
-- script alone, so scripts cannot call each other).
-- Wakes the longest-waiting host if it is still the one the caller read: it leaves the
-- waiters set, and its wake list gets its arrival score, so a waiter that loses the race
-- for the slot keeps its place. Returns 1 when nobody waits, 2 when the head was woken,
-- 3 when the head is no longer the one the caller read (the caller looks again).
local function wakeHead(waiters, wake, expected, ttl)
  local head = redis.call('ZRANGE', waiters, 0, 0, 'WITHSCORES')
  if not head[1] then
    return 1
  end
  if head[1] ~= expected then
    return 3
  end
  redis.call('ZREM', waiters, head[1])
  redis.call('LPUSH', wake, head[2])
  redis.call('PEXPIRE', wake, ttl)
  return 2
end
