--[[
  Count a host as finished with a deploy, once per host.

  Input:
    KEYS[1]  remaining-hosts counter of the deploy
    KEYS[2]  set of hosts already counted

    ARGV[1]  host name

  Output:
    n >= 0  hosts still to finish (never below 0: a host beyond the initial
            count is recorded but does not decrement)
    -1      the counter does not exist (never initialised, or expired)
]]
local remaining = redis.call('GET', KEYS[1])
if not remaining then
  return -1
end
remaining = tonumber(remaining)

if redis.call('SADD', KEYS[2], ARGV[1]) == 1 then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then
    redis.call('PEXPIRE', KEYS[2], ttl)
  end
  if remaining > 0 then
    remaining = redis.call('DECR', KEYS[1])
  end
end
return remaining
