--[[
  Lift what holds hosts aside (a group's freeze mark, or a deploy's gate) and wake every
  waiting and held host the caller read (ZRANGE 0 -1 of both sets just before). A herd,
  on purpose: a freeze or a gate is lifted rarely. Held hosts move into the waiters set
  with their arrival scores, and woken hosts stay in it, so acquire-slot.lua lets the
  oldest take the free places and the rest keep their places in the queue. Hosts still
  held by something else (a gate, while the freeze is lifted) go back to the held set on
  their next call. A host that joined after the caller's read is reported back so the
  caller can look again.
  Variable key count (one wake list per host read), so the caller passes numkeys.

  Input:
    KEYS[1]    the hold: freeze mark of the group (a string) or gate of a deploy (a set)
    KEYS[2]    waiters sorted set of the group
    KEYS[3]    held sorted set of the group
    KEYS[4..]  wake lists of the hosts the caller read: KEYS[n + 3] is ARGV[n + 1]'s

    ARGV[1]    wake list TTL in milliseconds
    ARGV[2]    "get" to delete the hold and hand back its value (a freeze mark is a string),
               "del" to delete it, "" to leave it (a later look that only wakes)
    ARGV[3..]  tokens of the hosts the caller read

  Output:
    {woken, unread, value}  hosts woken, hosts still held that the caller did not name, and the hold's value before it went (false when it did
                            not exist or was not asked for)
]]
local value = false
if ARGV[2] == 'get' then
  value = redis.call('GET', KEYS[1])
end
if ARGV[2] ~= '' then
  redis.call('DEL', KEYS[1])
end

local woken = 0
for i = 4, #KEYS do
  local token = ARGV[i - 1]
  local score = redis.call('ZSCORE', KEYS[3], token)
  if score then
    redis.call('ZREM', KEYS[3], token)
    redis.call('ZADD', KEYS[2], score, token)
  else
    score = redis.call('ZSCORE', KEYS[2], token)
  end
  if score then
    redis.call('LPUSH', KEYS[i], score)
    redis.call('PEXPIRE', KEYS[i], ARGV[1])
    woken = woken + 1
  end
end
if woken > 0 then
  -- The waiters set's own TTL (slot-locks.ts WAITERS_TTL_MS): held hosts joined it.
  redis.call('PEXPIRE', KEYS[2], 60 * 60 * 1000)
end
return {woken, redis.call('ZCARD', KEYS[3]), value}
