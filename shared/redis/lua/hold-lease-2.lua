--[[
  Take the coordinators' lease when nobody holds it, or extend it while this token holds it.
  Each take counts one more epoch: the fencing number of that holder's term.

  Input:
    KEYS[1]  lease key (value: the holder's token)
    KEYS[2]  epoch counter of the lease

    ARGV[1]  token of the caller (its coordinator name, a slash, a random id)
    ARGV[2]  lease TTL in milliseconds

  Output:
    {1, epoch}   renewed: the caller held it and holds it for another TTL
    {2, epoch}   taken: nobody held it; the caller holds it from now, in a new epoch
    {0, token}   another holder's token: the caller does not lead
]]
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, tonumber(redis.call('GET', KEYS[2]) or '0')}
end
if holder then
  return {0, holder}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {2, redis.call('INCR', KEYS[2])}
