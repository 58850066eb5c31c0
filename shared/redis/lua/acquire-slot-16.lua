--[[
  Take a slot of a deploy group in one call whatever the slot count k: the group's
  out-of-service count decides whether a place is free, the deploy's zone rule whether
  the caller's zone may lose one more host, and a free slot number comes from the
  free-number set (or above the top) rather than from trying every slot key. The slot
  key itself must be in KEYS, so a first call reserves a free number for the caller (-6)
  and a second, naming it, takes its key: two calls per grant, each O(log k).
  Queues the caller when no place is free (in its zone's queue), or holds it aside when
  the group is frozen or the deploy's gate leaves it out. Every key shares the group's
  hash tag, so the script runs on Redis Cluster too.

  Input:
    KEYS[1]   broken-release mark of the tag being deployed
    KEYS[2]   stop mark of the deploy (set when it ended, e.g. past its deadline)
    KEYS[3]   waiters sorted set of the group (zone ""; token -> arrival order)
    KEYS[4]   out-of-service set of the group: hosts that took a slot and serve no more
              (holders, and dead or cut-off holders whose lease lapsed)
    KEYS[5]   epoch counter of the group: every grant takes the next number
    KEYS[6]   freeze mark of the group (JSON; while it exists no host takes a slot)
    KEYS[7]   gate of the deploy: set of the hosts allowed a slot (absent: every host)
    KEYS[8]   held sorted set of the group (token -> arrival order): hosts frozen or
              gated out, kept out of the waiters sets so they swallow no release's wake-up
    KEYS[9]   the caller's zone queue (KEYS[3] itself for zone "")
    KEYS[10]  slot leases sorted set (slot number -> lease end, ms)
    KEYS[11]  free slot numbers sorted set (number -> number)
    KEYS[12]  top slot number ever handed out (string)
    KEYS[13]  out-of-service hosts' zones hash (host -> zone)
    KEYS[14]  out-of-service count per zone hash (zone -> count)
    KEYS[15]  set of the zones with a queue of their own
    KEYS[16]  slot key of the number in ARGV[8] (any slot key of the group when "")

    ARGV[1]   token of this attempt
    ARGV[2]   lock TTL in milliseconds
    ARGV[3]   arrival score to keep (handed back by the wake-up), or "" for now
    ARGV[4]   waiters (and held) set TTL in milliseconds, so the sets of a quiet group vanish
    ARGV[5]   the caller's host name: joins the out-of-service set with the slot, and is
              looked up in the gate
    ARGV[6]   "1" when the caller was already in the out-of-service set as it began to
              wait (it counts once, not twice), else ""
    ARGV[7]   k, the deploy's slot count
    ARGV[8]   slot number KEYS[16] is the key of, or ""
    ARGV[9]   the caller's zone ("" for none)
    ARGV[10]  the deploy's zone rule: "" none, "max" at most ARGV[11] hosts out per zone,
              "one" hosts of one zone out at a time
    ARGV[11]  the per-zone cap for "max"

  Output:
    {n, e, r}  slot n is now held by the token, granted with epoch e; r is 1 when a place
               is still free for another host and some host waits in a queue (the caller
               wakes one more), else 0
     0      no place is free; the token waits in its zone's queue
    -1      the release is marked broken; nothing taken, nothing queued
    -2      the deploy was stopped; nothing taken, nothing queued
    -3      the group is frozen; the token is held (held set), nothing taken
    -4      the deploy's gate leaves the caller out; the token is held, nothing taken
    -5      the group has a place but the zone rule keeps the caller's zone out; it waits
    {-6, n} slot number n is reserved for the caller for 5 s: call again naming it
]]
local token = ARGV[1]
local k = tonumber(ARGV[7])
local zone = ARGV[9]
-- How long a number named to a caller stays its own before it goes back (milliseconds).
local RESERVE_MS = 5000

-- The time now as a score: seconds and microseconds joined as text, since a Lua number
-- would print with 14 digits and lose the microseconds that order near-simultaneous arrivals.
local function now()
  local t = redis.call('TIME')
  return t[1] .. string.format('%06d', tonumber(t[2]))
end

local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The caller's place in line: its zone queue, or the group's queue where an unfreeze left it.
local function queuedScore()
  local score = redis.call('ZSCORE', KEYS[9], token)
  if not score and KEYS[9] ~= KEYS[3] then
    score = redis.call('ZSCORE', KEYS[3], token)
    if score then
      redis.call('ZREM', KEYS[3], token)
    end
  end
  return score
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
    -- Moving from a waiters set (a freeze set while it waited) keeps its place.
    local score = queuedScore()
    if score then
      redis.call('ZREM', KEYS[9], token)
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

-- A place is free only while fewer than k hosts are out of service: every holder is in
-- the set, and so is a dead holder until it serves again, even once its lease lapsed.
local counted = ARGV[6] == '1' and redis.call('SISMEMBER', KEYS[4], ARGV[5]) == 1
local out = redis.call('SCARD', KEYS[4])
if counted then
  out = out - 1
end
local blocked = 0
if out >= k then
  blocked = 0
else
  -- The zone rule, on the per-zone counts kept with the set (dead holders count as well).
  local zoneFull = false
  if ARGV[10] ~= '' and not counted then
    if ARGV[10] == 'max' then
      zoneFull = tonumber(redis.call('HGET', KEYS[14], zone) or '0') >= tonumber(ARGV[11])
    else
      local zones = redis.call('HLEN', KEYS[14])
      zoneFull = zones > 1 or (zones == 1 and redis.call('HEXISTS', KEYS[14], zone) == 0)
    end
  end
  if zoneFull then
    blocked = -5
  else
    blocked = 1
  end
end

-- A host woken while it stays in its queue (an unfreeze or an opened gate wakes them all)
-- takes a free place only if it is among the oldest: the herd goes through in arrival
-- order. A poll (no score handed back) skips this, so a waiter that died in front of the
-- others holds nobody up for longer than a poll.
-- (ZRANGE of the first places, not ZRANK: the agents' Redis user has no ZRANK.)
if blocked == 1 and ARGV[3] ~= '' and redis.call('ZSCORE', KEYS[9], token) then
  local inTurn = false
  for _, first in ipairs(redis.call('ZRANGE', KEYS[9], 0, k - out - 1)) do
    if first == token then
      inTurn = true
    end
  end
  if not inTurn then
    blocked = 0
  end
end

local named = tonumber(ARGV[8]) or 0
if blocked == 1 then
  local ms = nowMs()
  if named > 0 and named <= k then
    if redis.call('SET', KEYS[16], token, 'NX', 'PX', ARGV[2]) then
      redis.call('ZADD', KEYS[10], ms + tonumber(ARGV[2]), named)
      redis.call('ZREM', KEYS[11], named)
      if redis.call('SADD', KEYS[4], ARGV[5]) == 1 then
        redis.call('HSET', KEYS[13], ARGV[5], zone)
        redis.call('HINCRBY', KEYS[14], zone, 1)
        out = out + 1
      end
      redis.call('ZREM', KEYS[3], token)
      redis.call('ZREM', KEYS[9], token)
      redis.call('ZREM', KEYS[8], token)
      -- Room for one more only matters to a host that waits: with none queued, no wake-up.
      local room = 0
      if out < k and (redis.call('ZCARD', KEYS[3]) > 0 or redis.call('SCARD', KEYS[15]) > 0) then
        room = 1
      end
      return {named, redis.call('INCR', KEYS[5]), room}
    end
    -- Another host holds it (its reservation lapsed and the number went on, or a lease the
    -- sets lost track of, such as one taken before they existed): record it as held until
    -- its key lapses, and reserve another below.
    local left = redis.call('PTTL', KEYS[16])
    redis.call('ZADD', KEYS[10], ms + math.max(left, 0), named)
    redis.call('ZREM', KEYS[11], named)
  end
  -- Lapsed leases and reservations give their numbers back (a few per call; each lapses once).
  for _, n in ipairs(redis.call('ZRANGEBYSCORE', KEYS[10], '-inf', ms - 1, 'LIMIT', 0, 16)) do
    redis.call('ZREM', KEYS[10], n)
    redis.call('ZADD', KEYS[11], n, n)
  end
  local n = tonumber(redis.call('ZRANGEBYSCORE', KEYS[11], '-inf', k, 'LIMIT', 0, 1)[1] or '0')
  local top = tonumber(redis.call('GET', KEYS[12]) or '0')
  if n == 0 and top < k then
    n = top + 1
    redis.call('SET', KEYS[12], n)
  end
  -- No number free though a place is (holders of an earlier deploy with another k, or one
  -- host holding two leases): wait as if full.
  if n > 0 then
    -- Reserved for this caller alone for a few seconds, so hosts arriving together each
    -- name a different number; one that never comes back gives it up when that lapses.
    redis.call('ZREM', KEYS[11], n)
    redis.call('ZADD', KEYS[10], ms + RESERVE_MS, n)
    return {-6, n}
  end
  blocked = 0
elseif named > 0 and redis.call('EXISTS', KEYS[16]) == 0 then
  -- Named a number it reserved but may not take now (the place went meanwhile): give it back.
  redis.call('ZREM', KEYS[10], named)
  redis.call('ZADD', KEYS[11], named, named)
end

-- Already queued: keep the place. Not queued (first call, popped by a wake-up, let go
-- by a freeze that lapsed, or the set expired): join with the handed-back score, the
-- score it had in the group's queue (where an unfreeze puts held hosts), the score it was
-- held with, or the time now.
local code = 0
if blocked == -5 then
  code = -5
end
if redis.call('ZSCORE', KEYS[9], token) then
  return code
end
local score = ARGV[3]
if KEYS[9] ~= KEYS[3] then
  local moved = redis.call('ZSCORE', KEYS[3], token)
  if moved then
    redis.call('ZREM', KEYS[3], token)
    if score == '' then
      score = moved
    end
  end
end
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
redis.call('ZADD', KEYS[9], score, token)
redis.call('PEXPIRE', KEYS[9], ARGV[4])
if KEYS[9] ~= KEYS[3] then
  redis.call('SADD', KEYS[15], zone)
  redis.call('PEXPIRE', KEYS[15], ARGV[4])
end
return code
