--[[
  Mark a published release broken once: the first mark (who and why) stays.

  Input:
    KEYS[1]  hash of the role's releases: tag -> release JSON

    ARGV[1]  tag
    ARGV[2]  broken mark JSON ({reason, by, at})

  Output:
    {0}           the release does not exist
    {1, release}  marked now; the release JSON after the update
    {2, release}  was already marked; the release JSON as it was
   {-1}           the release is not JSON
]]
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {0} end
local ok, release = pcall(cjson.decode, raw)
if not ok or type(release) ~= 'table' then return {-1} end
if release.broken ~= nil then return {2, raw} end

release.broken = cjson.decode(ARGV[2])
raw = cjson.encode(release)
redis.call('HSET', KEYS[1], ARGV[1], raw)
return {1, raw}
