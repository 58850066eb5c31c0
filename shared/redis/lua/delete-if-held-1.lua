--[[
  Delete a key only while it holds the caller's token: a lease or lock given up by its holder
  (the coordinators' lease, a group's lock, a job's lease). One whose hold lapsed must not free
  the next holder's.

  Input:
    KEYS[1]  the lease or lock key

    ARGV[1]  the caller's token

  Output:
    1  deleted
    0  the key is gone or holds another token
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
