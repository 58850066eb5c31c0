--[[
  Store one host's report as its latest on a deploy. Whether the report ends the
  deploy is the coordinator's rule (coordinator/deploy-outcome.ts), not this script's:
  it stores, keeps the two facts the rule needs on the record, and hands back what
  the rule reads.

  Input:
    KEYS[1]  deploy record (JSON)
    KEYS[2]  hash of the deploy's host reports: host -> report JSON

    ARGV[1]  host
    ARGV[2]  report JSON
    ARGV[3]  hosts the agent counted, or "": the first becomes the record's expectedHosts
    ARGV[4]  "1" when the report's remaining-hosts count is 0: marks the deploy counted down
    ARGV[5]  now (ms since the epoch)
    ARGV[6]  "1" for the watchdog's `lost` report: held back while the deploy has ended or
             the host's stored report is final (it must not overwrite what the host said)

  Output:
    {0}                                 the deploy does not exist
    {1 | 2, record, countedDown, hosts} 1 stored, 2 held back; the record JSON after the
                                        update; 1 when counted down, else 0; every host's
                                        report (host, JSON, ...) when the deploy is counted
                                        down and in progress, else only this host's stored one
   {-1}                                 the deploy record is not JSON
   {-2}                                 the host's stored report is not JSON
]]
local raw = redis.call('GET', KEYS[1])
if not raw then return {0} end
local ok, deploy = pcall(cjson.decode, raw)
if not ok or type(deploy) ~= 'table' then return {-1} end

local function isFinal(state)
  return state == 'succeeded' or state == 'failed' or state == 'errored' or state == 'cancelled' or state == 'lost'
end

local code = 1
if ARGV[6] == '1' then
  local previous = redis.call('HGET', KEYS[2], ARGV[1])
  local previousReport = nil
  if previous then
    ok, previousReport = pcall(cjson.decode, previous)
    if not ok or type(previousReport) ~= 'table' then return {-2} end
  end
  if deploy.status ~= 'in_progress' or (previousReport and isFinal(previousReport.state)) then
    code = 2
  end
end

if code == 1 then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  local changed = false
  if ARGV[3] ~= '' and deploy.expectedHosts == nil then
    deploy.expectedHosts = tonumber(ARGV[3])
    changed = true
  end
  if ARGV[4] == '1' and deploy.countedDownAt == nil then
    deploy.countedDownAt = tonumber(ARGV[5])
    changed = true
  end
  if changed then
    raw = cjson.encode(deploy)
    redis.call('SET', KEYS[1], raw)
  end
end

local countedDown = deploy.countedDownAt ~= nil
local hosts
-- Only then can the report end the deploy: reading every report before would cost
-- each of n reports O(n).
if countedDown and deploy.status == 'in_progress' then
  hosts = redis.call('HGETALL', KEYS[2])
else
  local stored = redis.call('HGET', KEYS[2], ARGV[1])
  hosts = stored and {ARGV[1], stored} or {}
end
return {code, raw, countedDown and 1 or 0, hosts}
