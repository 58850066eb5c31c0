--[[
  Free a job lease without an outcome, only while the caller holds it.

  Input:
    KEYS[1]  the job's lease
    ARGV[1]  the caller's token

  Output:
    1  freed
    0  the lease was not the caller's
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
