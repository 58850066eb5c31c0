--[[
  Store one host's report as its latest on a deploy and move the deploy's counts, in
  constant time whatever the fleet: the record is never decoded here, and no other
  host's report is read. Whether the report ends the deploy is the coordinator's rule
  (coordinator/deploy-outcome.ts), decided from what this script hands back.

  Input:
    KEYS[1]  the deploy's meta hash: status, rev, expectedHosts, countedDownAt, targets, targetsEnded
    KEYS[2]  hash of the deploy's host reports: host -> report JSON
    KEYS[3]  hash of host counts per state
    KEYS[4]  set of the deploy's target hosts
    KEYS[5]  hash of the hosts whose latest state is failed, errored, cancelled or lost

    ARGV[1]  host
    ARGV[2]  report JSON, its state first (`{"state":"...",`)
    ARGV[3]  the report's state
    ARGV[4]  hosts the agent counted, or "": the first becomes the deploy's expectedHosts
    ARGV[5]  "1" when the report's remaining-hosts count is 0: marks the deploy counted down
    ARGV[6]  now (ms since the epoch)
    ARGV[7]  "1" for the watchdog's `lost` report: held back while the deploy has ended or
             the host's stored report is final (it must not overwrite what the host said)

  Output:
    {0}   the deploy does not exist
    {1 | 2, status, rev, expectedHosts or "", countedDown (1|0), targets, targetsEnded,
     reported, counts (state, n, ...), stored}
          1 stored, 2 held back; the meta after the update; how many hosts reported;
          the host's stored report JSON when held back (false when none, or applied)
   {-2}   the host's stored report is not JSON
]]
local meta = redis.call('HMGET', KEYS[1], 'status', 'expectedHosts', 'countedDownAt')
if not meta[1] then return {0} end
local host, state = ARGV[1], ARGV[3]
local final = { succeeded = true, failed = true, errored = true, cancelled = true, lost = true }
local unsuccessful = { failed = true, errored = true, cancelled = true, lost = true }

-- The state the host's stored report leaves. The store writes a report with its state first,
-- so it is read off the front; only a report stored otherwise is decoded (a few hundred bytes,
-- most of this script's time when it was done for every report).
local previousState = nil
local previous = redis.call('HGET', KEYS[2], host)
if previous then
  previousState = string.match(previous, '^{"state":"(%a+)"')
  if not previousState then
    local ok, decoded = pcall(cjson.decode, previous)
    if not ok or type(decoded) ~= 'table' then return {-2} end
    previousState = decoded.state
  end
end

local code = 1
if ARGV[7] == '1' and (meta[1] ~= 'in_progress' or (previousState and final[previousState])) then
  code = 2
end

if code == 1 then
  redis.call('HSET', KEYS[2], host, ARGV[2])
  if previousState ~= state then
    if previousState then redis.call('HINCRBY', KEYS[3], previousState, -1) end
    redis.call('HINCRBY', KEYS[3], state, 1)
    if unsuccessful[state] then
      redis.call('HSET', KEYS[5], host, state)
    elseif previousState and unsuccessful[previousState] then
      redis.call('HDEL', KEYS[5], host)
    end
    local wasFinal = previousState ~= nil and final[previousState] == true
    local isFinal = final[state] == true
    if wasFinal ~= isFinal and redis.call('SISMEMBER', KEYS[4], host) == 1 then
      redis.call('HINCRBY', KEYS[1], 'targetsEnded', isFinal and 1 or -1)
    end
  end
  if ARGV[4] ~= '' and not meta[2] then redis.call('HSET', KEYS[1], 'expectedHosts', ARGV[4]) end
  if ARGV[5] == '1' and not meta[3] then redis.call('HSET', KEYS[1], 'countedDownAt', ARGV[6]) end
end

local after = redis.call('HMGET', KEYS[1], 'status', 'rev', 'expectedHosts', 'countedDownAt', 'targets', 'targetsEnded')
-- Stored as sent when applied: only a held-back report's caller needs the one it kept.
local stored = code == 2 and redis.call('HGET', KEYS[2], host)
return {
  code,
  after[1],
  tonumber(after[2] or '0'),
  after[3] or '',
  after[4] and 1 or 0,
  tonumber(after[5] or '0'),
  tonumber(after[6] or '0'),
  redis.call('HLEN', KEYS[2]),
  redis.call('HGETALL', KEYS[3]),
  stored or false,
}
