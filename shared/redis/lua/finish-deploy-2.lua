--[[
  End a deploy that is still in progress with the outcome the coordinator decided.
  The first finish wins: a deploy that has ended keeps its outcome. The one place the
  whole record is decoded after its creation besides annotations: once per deploy.
  The caller takes the deploy out of the in-progress index (another hash tag).

  Input:
    KEYS[1]  deploy record (JSON)
    KEYS[2]  the deploy's meta hash (status, rev, expectedHosts)

    ARGV[1]  status
    ARGV[2]  reason, or "" for none
    ARGV[3]  now (ms since the epoch)

  Output:
    {0}          the deploy does not exist
    {1, record}  finished now; the record JSON after the update
    {2, record}  had already ended; the record JSON as it was
   {-1}          the deploy record is not JSON
]]
local raw = redis.call('GET', KEYS[1])
if not raw then return {0} end
local ok, deploy = pcall(cjson.decode, raw)
if not ok or type(deploy) ~= 'table' then return {-1} end
if deploy.status ~= 'in_progress' then return {2, raw} end

deploy.status = ARGV[1]
if ARGV[2] ~= '' then deploy.reason = ARGV[2] end
deploy.finishedAt = tonumber(ARGV[3])
-- The record keeps what the reports set in the meta hash, so an ended deploy reads whole from it.
local expected = redis.call('HGET', KEYS[2], 'expectedHosts')
if expected then deploy.expectedHosts = tonumber(expected) end
raw = cjson.encode(deploy)
redis.call('SET', KEYS[1], raw)
redis.call('HSET', KEYS[2], 'status', ARGV[1])
redis.call('HINCRBY', KEYS[2], 'rev', 1)
return {1, raw}
