--[[
  End a deploy that is still in progress with the outcome the coordinator decided.
  The first finish wins: a deploy that has ended keeps its outcome.

  Input:
    KEYS[1]  deploy record (JSON)
    KEYS[2]  sorted set of the deploys in progress

    ARGV[1]  deploy id (its member in KEYS[2])
    ARGV[2]  status
    ARGV[3]  reason, or "" for none
    ARGV[4]  now (ms since the epoch)

  Output:
    {0}          the deploy does not exist (and has left the in-progress set)
    {1, record}  finished now; the record JSON after the update
    {2, record}  had already ended; the record JSON as it was
   {-1}          the deploy record is not JSON
]]
redis.call('ZREM', KEYS[2], ARGV[1])
local raw = redis.call('GET', KEYS[1])
if not raw then return {0} end
local ok, deploy = pcall(cjson.decode, raw)
if not ok or type(deploy) ~= 'table' then return {-1} end
if deploy.status ~= 'in_progress' then return {2, raw} end

deploy.status = ARGV[2]
if ARGV[3] ~= '' then deploy.reason = ARGV[3] end
deploy.finishedAt = tonumber(ARGV[4])
raw = cjson.encode(deploy)
redis.call('SET', KEYS[1], raw)
return {1, raw}
