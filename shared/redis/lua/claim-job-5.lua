--[[
  One look at a deploy's once-per-deploy job: its recorded outcome, or the job's lease for
  the caller, or the token of the host that holds it. Every key shares the group's hash tag.

  Input:
    KEYS[1]  the job's outcome (JSON), set once by the host that ran it
    KEYS[2]  the job's lease (holder's token)
    KEYS[3]  counter of the takings of the job
    KEYS[4]  broken-release mark of the tag being deployed
    KEYS[5]  stop mark of the deploy

    ARGV[1]  the caller's token
    ARGV[2]  lease TTL in milliseconds
    ARGV[3]  TTL of the attempts counter in seconds

  Output:
    {1, outcome}  the job ended; its outcome
    {2, attempt}  the caller now holds the lease: the attempt-th taking of the job
    {0, token}    another host holds the lease
    {-1}          the release is marked broken
    {-2}          the deploy was stopped
]]
local outcome = redis.call('GET', KEYS[1])
if outcome then
  return {1, outcome}
end
if redis.call('EXISTS', KEYS[4]) == 1 then
  return {-1}
end
if redis.call('EXISTS', KEYS[5]) == 1 then
  return {-2}
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local attempt = redis.call('INCR', KEYS[3])
  redis.call('EXPIRE', KEYS[3], ARGV[3])
  return {2, attempt}
end
return {0, redis.call('GET', KEYS[2]) or ''}
