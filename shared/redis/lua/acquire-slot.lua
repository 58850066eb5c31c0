--[[
  Try every slot of a deploy group in one call; queue the caller when all are taken.
  Variable key count (one key per slot), so the caller passes numkeys. Every key
  shares the group's hash tag, so the script runs on Redis Cluster too.

  Input:
    KEYS[1]    broken-release mark of the tag being deployed
    KEYS[2]    stop mark of the deploy (set when it ended, e.g. past its deadline)
    KEYS[3]    waiters sorted set of the group (token -> arrival order)
    KEYS[4]    out-of-service set of the group: hosts that took a slot and serve no more
               (holders, and dead or cut-off holders whose lease lapsed)
    KEYS[5]    epoch counter of the group: every grant takes the next number
    KEYS[6..]  slot keys: slot n is KEYS[n + 5]

    ARGV[1]    token of this attempt
    ARGV[2]    lock TTL in milliseconds
    ARGV[3]    arrival score to keep (handed back by the wake-up), or "" for now
    ARGV[4]    waiters set TTL in milliseconds, so the set of a quiet group vanishes
    ARGV[5]    the caller's host name: joins the out-of-service set with the slot
    ARGV[6]    "1" when the caller was already in the out-of-service set as it began to
               wait (it counts once, not twice), else ""

  Output:
    {n, e}  slot n is now held by the token, granted with epoch e (token left the waiters set)
     0      every slot is taken; the token waits in the waiters set
    -1      the release is marked broken; nothing taken, nothing queued
    -2      the deploy was stopped; nothing taken, nothing queued
]]
local token = ARGV[1]

-- One EXISTS over both marks on every poll; which one only when either is there.
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then
  if redis.call('EXISTS', KEYS[1]) == 1 then
    return -1
  end
  return -2
end

-- A slot is free only while fewer than k hosts are out of service: every holder is in
-- the set, and so is a dead holder until it serves again, even once its lease lapsed.
-- A key is free only once its holder released it or its lease lapsed: nothing else
-- deletes one. A waiting host calls this on every poll: SCARD, one EXISTS over every
-- slot (skipped when the set is full) and one ZSCORE below, however many slots there are.
local slots = #KEYS - 5
local out = redis.call('SCARD', KEYS[4])
if out >= slots and ARGV[6] == '1' and redis.call('SISMEMBER', KEYS[4], ARGV[5]) == 1 then
  out = out - 1
end
if out < slots and redis.call('EXISTS', unpack(KEYS, 6)) < slots then
  for i = 6, #KEYS do
    if redis.call('SET', KEYS[i], token, 'NX', 'PX', ARGV[2]) then
      redis.call('SADD', KEYS[4], ARGV[5])
      redis.call('ZREM', KEYS[3], token)
      return {i - 5, redis.call('INCR', KEYS[5])}
    end
  end
end

-- Already queued: keep the place. Not queued (first call, or popped by a wake-up, or the
-- set expired): join with the handed-back score, or with the time now.
if redis.call('ZSCORE', KEYS[3], token) then
  return 0
end
local score = ARGV[3]
if score == '' then
  -- Seconds and microseconds joined as text: a Lua number would print with
  -- 14 digits and lose the microseconds that order near-simultaneous arrivals.
  local now = redis.call('TIME')
  score = now[1] .. string.format('%06d', tonumber(now[2]))
end
redis.call('ZADD', KEYS[3], score, token)
redis.call('PEXPIRE', KEYS[3], ARGV[4])
return 0
