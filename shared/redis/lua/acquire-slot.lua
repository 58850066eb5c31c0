--[[
  Try every slot of a deploy group in one call; queue the caller when all are taken, or
  hold it aside when the group is frozen or the deploy's gate leaves it out.
  Variable key count (one key per slot), so the caller passes numkeys. Every key
  shares the group's hash tag, so the script runs on Redis Cluster too.

  Input:
    KEYS[1]    broken-release mark of the tag being deployed
    KEYS[2]    stop mark of the deploy (set when it ended, e.g. past its deadline)
    KEYS[3]    waiters sorted set of the group (token -> arrival order)
    KEYS[4]    out-of-service set of the group: hosts that took a slot and serve no more
               (holders, and dead or cut-off holders whose lease lapsed)
    KEYS[5]    epoch counter of the group: every grant takes the next number
    KEYS[6]    freeze mark of the group (JSON; while it exists no host takes a slot)
    KEYS[7]    gate of the deploy: set of the hosts allowed a slot (absent: every host)
    KEYS[8]    held sorted set of the group (token -> arrival order): hosts frozen or
               gated out, kept out of the waiters set so they swallow no release's wake-up
    KEYS[9..]  slot keys: slot n is KEYS[n + 8]

    ARGV[1]    token of this attempt
    ARGV[2]    lock TTL in milliseconds
    ARGV[3]    arrival score to keep (handed back by the wake-up), or "" for now
    ARGV[4]    waiters (and held) set TTL in milliseconds, so the set of a quiet group vanishes
    ARGV[5]    the caller's host name: joins the out-of-service set with the slot, and is
               looked up in the gate
    ARGV[6]    "1" when the caller was already in the out-of-service set as it began to
               wait (it counts once, not twice), else ""

  Output:
    {n, e}  slot n is now held by the token, granted with epoch e (token left the waiters
            and held sets)
     0      every slot is taken; the token waits in the waiters set
    -1      the release is marked broken; nothing taken, nothing queued
    -2      the deploy was stopped; nothing taken, nothing queued
    -3      the group is frozen; the token is held (held set), nothing taken
    -4      the deploy's gate leaves the caller out; the token is held, nothing taken
]]
local token = ARGV[1]

-- The time now as a score: seconds and microseconds joined as text, since a Lua number
-- would print with 14 digits and lose the microseconds that order near-simultaneous arrivals.
local function now()
  local t = redis.call('TIME')
  return t[1] .. string.format('%06d', tonumber(t[2]))
end

-- One EXISTS over the four marks on every poll; which one only when any is there, so a
-- rolling deploy's waiting host pays what it paid before freezes and gates existed.
local marks = redis.call('EXISTS', KEYS[1], KEYS[2], KEYS[6], KEYS[7])
if marks > 0 then
  if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then
    if redis.call('EXISTS', KEYS[1]) == 1 then
      return -1
    end
    return -2
  end
  local held = 0
  if redis.call('EXISTS', KEYS[6]) == 1 then
    held = -3
  elseif redis.call('SISMEMBER', KEYS[7], ARGV[5]) == 0 then
    -- No freeze and no stand-down mark, so the gate is what exists.
    held = -4
  end
  if held < 0 then
    if redis.call('ZSCORE', KEYS[8], token) then
      return held
    end
    -- Moving from the waiters set (a freeze set while it waited) keeps its place.
    local score = redis.call('ZSCORE', KEYS[3], token)
    if score then
      redis.call('ZREM', KEYS[3], token)
    elseif ARGV[3] ~= '' then
      score = ARGV[3]
    else
      score = now()
    end
    redis.call('ZADD', KEYS[8], score, token)
    redis.call('PEXPIRE', KEYS[8], ARGV[4])
    return held
  end
end

-- A slot is free only while fewer than k hosts are out of service: every holder is in
-- the set, and so is a dead holder until it serves again, even once its lease lapsed.
-- A key is free only once its holder released it or its lease lapsed: nothing else
-- deletes one. A waiting host calls this on every poll: EXISTS over the marks, SCARD,
-- one EXISTS over every slot (skipped when the set is full) and one ZSCORE below,
-- however many slots there are (and ZSCORE only when a place is free).
local slots = #KEYS - 8
local out = redis.call('SCARD', KEYS[4])
if out >= slots and ARGV[6] == '1' and redis.call('SISMEMBER', KEYS[4], ARGV[5]) == 1 then
  out = out - 1
end
local taken = slots
if out < slots then
  taken = redis.call('EXISTS', unpack(KEYS, 9))
end
-- A host woken while it stays in the waiters set (an unfreeze or an opened gate wakes them
-- all) takes a free place only if it is among the oldest: the herd goes through in arrival
-- order. A poll (no score handed back) skips this, so a waiter that died in front of the
-- others holds nobody up for longer than a poll.
-- (ZRANGE of the first places, not ZRANK: the agents' Redis user has no ZRANK.)
local inTurn = true
if taken < slots and ARGV[3] ~= '' and redis.call('ZSCORE', KEYS[3], token) then
  inTurn = false
  local free = math.min(slots - out, slots - taken)
  for _, first in ipairs(redis.call('ZRANGE', KEYS[3], 0, free - 1)) do
    if first == token then
      inTurn = true
    end
  end
end
if taken < slots and inTurn then
  for i = 9, #KEYS do
    if redis.call('SET', KEYS[i], token, 'NX', 'PX', ARGV[2]) then
      redis.call('SADD', KEYS[4], ARGV[5])
      redis.call('ZREM', KEYS[3], token)
      redis.call('ZREM', KEYS[8], token)
      return {i - 8, redis.call('INCR', KEYS[5])}
    end
  end
end

-- Already queued: keep the place. Not queued (first call, popped by a wake-up, let go
-- by a freeze that lapsed, or the set expired): join with the handed-back score, the
-- score it was held with, or the time now.
if redis.call('ZSCORE', KEYS[3], token) then
  return 0
end
local score = ARGV[3]
local heldScore = redis.call('ZSCORE', KEYS[8], token)
if heldScore then
  redis.call('ZREM', KEYS[8], token)
  if score == '' then
    score = heldScore
  end
end
if score == '' then
  score = now()
end
redis.call('ZADD', KEYS[3], score, token)
redis.call('PEXPIRE', KEYS[3], ARGV[4])
return 0
