--[[
  Replace one flag of an environment if it is still what the caller read, and move the
  environment's version on in the same step: a reader of both never sees one without the other.
  The rules of the change are the caller's (coordinator/flags/flag-changes.ts); this only swaps.

  Input:
    KEYS[1]  hash of the environment's flags (name -> JSON)
    KEYS[2]  the environment's version counter

    ARGV[1]  the flag's name
    ARGV[2]  the JSON the caller read, or "" when there was no such flag
    ARGV[3]  the JSON to store, or "" to delete the flag

  Output:
    {1, version}  swapped; the environment's version after it
    {0}           the flag changed since the caller read it; nothing written
]]
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then current = '' end
if current ~= ARGV[2] then return {0} end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
end
return {1, redis.call('INCR', KEYS[2])}
