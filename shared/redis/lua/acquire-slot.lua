--[[
  Try every slot of a deploy group in one call; queue the caller when all are taken.
  Variable key count (one key per slot), so the caller passes numkeys. Every key
  shares the group's hash tag, so the script runs on Redis Cluster too.

  Input:
    KEYS[1]    broken-release mark of the tag being deployed
    KEYS[2]    waiters sorted set of the group (token -> arrival order)
    KEYS[3..]  slot keys: slot n is KEYS[n + 2]

    ARGV[1]    token of this attempt
    ARGV[2]    lock TTL in milliseconds
    ARGV[3]    arrival score to keep (handed back by the wake-up), or "" for now
    ARGV[4]    waiters set TTL in milliseconds, so the set of a quiet group vanishes

  Output:
    n > 0   slot n is now held by the token (token left the waiters set)
     0      every slot is taken; the token waits in the waiters set
    -1      the release is marked broken; nothing taken, nothing queued
]]
local token = ARGV[1]

if redis.call('EXISTS', KEYS[1]) == 1 then
  return -1
end

-- A waiting host calls this on every poll: while every slot is taken, one EXISTS over
-- all of them (and one ZSCORE below) is all it costs, however many slots there are.
local slots = #KEYS - 2
if redis.call('EXISTS', unpack(KEYS, 3)) < slots then
  for i = 3, #KEYS do
    if redis.call('SET', KEYS[i], token, 'NX', 'PX', ARGV[2]) then
      redis.call('ZREM', KEYS[2], token)
      return i - 2
    end
  end
end

-- Already queued: keep the place. Not queued (first call, or popped by a wake-up, or the
-- set expired): join with the handed-back score, or with the time now.
if redis.call('ZSCORE', KEYS[2], token) then
  return 0
end
local score = ARGV[3]
if score == '' then
  -- Seconds and microseconds joined as text: a Lua number would print with
  -- 14 digits and lose the microseconds that order near-simultaneous arrivals.
  local now = redis.call('TIME')
  score = now[1] .. string.format('%06d', tonumber(now[2]))
end
redis.call('ZADD', KEYS[2], score, token)
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 0
