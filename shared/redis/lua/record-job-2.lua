--[[
  Record a deploy's job outcome, only while the caller's lease still holds the job (the
  fence: a host whose lease lapsed while its job ran records nothing), and free the lease.

  Input:
    KEYS[1]  the job's lease
    KEYS[2]  the job's outcome

    ARGV[1]  the caller's token
    ARGV[2]  the outcome (JSON)
    ARGV[3]  TTL of the outcome in seconds

  Output:
    1  recorded
    0  the lease is not the caller's: nothing recorded
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
redis.call('DEL', KEYS[1])
return 1
