--[[
  Wake the longest-waiting host whose zone may lose one more host now (one, not the herd):
  after a release, a host back in service, a wake-up passed on, or a grant that left a
  place free. Each zone waits in a queue of its own, so a zone at its cap holds up no
  other zone. The caller read the head of each queue just before and names its wake
  list, so the script touches only declared keys; a head that changed in between is not
  woken: the caller looks again.
  Variable key count (two per zone queue), so the caller passes numkeys.

  Input:
    KEYS[1]          out-of-service count per zone hash (zone -> count)
    KEYS[2]          set of the zones with a queue of their own
    KEYS[2i+1]       zone queue i (i = 1..m)
    KEYS[2i+2]       wake list of the head of queue i the caller read (any wake key of
                     the group when it read nobody; then it is not touched)

    ARGV[1]          wake list TTL in milliseconds
    ARGV[2]          zone rule: "" none, "max" at most ARGV[3] out per zone, "one" one zone at a time
    ARGV[3]          the per-zone cap for "max"
    ARGV[4]          the slot number the caller's release just freed, or "": handed to the
                     woken host, which names it in its next call and so takes the slot in one
    ARGV[2i+3]       zone of queue i
    ARGV[2i+4]       token of the head of queue i the caller read, or ""

  Output:
    1  nobody waits whose zone may go
    2  the oldest such head was woken (and left its queue); its wake list got its arrival
       score, followed by ":" and ARGV[4] when that is a number
    3  that head is no longer the one the caller read: look again
]]
local rule = ARGV[2]
local zones = redis.call('HLEN', KEYS[1])

local function mayGo(zone)
  if rule == 'max' then
    return tonumber(redis.call('HGET', KEYS[1], zone) or '0') < tonumber(ARGV[3])
  elseif rule == 'one' then
    return zones == 0 or (zones == 1 and redis.call('HEXISTS', KEYS[1], zone) == 1)
  end
  return true
end

local best, bestScore = nil, nil
for i = 1, (#KEYS - 2) / 2 do
  local queue = KEYS[2 * i + 1]
  local zone = ARGV[2 * i + 3]
  local head = redis.call('ZRANGE', queue, 0, 0, 'WITHSCORES')
  if not head[1] then
    if zone ~= '' then
      redis.call('SREM', KEYS[2], zone)
    end
  elseif mayGo(zone) and (not bestScore or tonumber(head[2]) < bestScore) then
    best, bestScore = i, tonumber(head[2])
  end
end
if not best then
  return 1
end
local queue = KEYS[2 * best + 1]
local head = redis.call('ZRANGE', queue, 0, 0, 'WITHSCORES')
if head[1] ~= ARGV[2 * best + 4] then
  return 3
end
redis.call('ZREM', queue, head[1])
local wake = head[2]
if ARGV[4] ~= '' then
  wake = wake .. ':' .. ARGV[4]
end
redis.call('LPUSH', KEYS[2 * best + 2], wake)
redis.call('PEXPIRE', KEYS[2 * best + 2], ARGV[1])
return 2
