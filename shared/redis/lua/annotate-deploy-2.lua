--[[
  Add fields to a deploy record (promotedTo, promotion, job, strategy, deadline) whatever its
  status. The fields a deploy's identity and outcome live in are never touched here.

  Input:
    KEYS[1]  deploy record (JSON)
    KEYS[2]  the deploy's meta hash: its rev is bumped, so cached parses of the record go stale

    ARGV[1]  JSON object of the fields to set

  Output:
    {0}          the deploy does not exist
    {1, record}  the record JSON after the update
   {-1}          the deploy record is not JSON
]]
local raw = redis.call('GET', KEYS[1])
if not raw then return {0} end
local ok, deploy = pcall(cjson.decode, raw)
if not ok or type(deploy) ~= 'table' then return {-1} end

local kept = { id = true, status = true, reason = true, finishedAt = true, expectedHosts = true, countedDownAt = true }
for name, value in pairs(cjson.decode(ARGV[1])) do
  if not kept[name] then deploy[name] = value end
end
raw = cjson.encode(deploy)
redis.call('SET', KEYS[1], raw)
redis.call('HINCRBY', KEYS[2], 'rev', 1)
return {1, raw}
