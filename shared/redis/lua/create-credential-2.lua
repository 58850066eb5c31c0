--[[
  Store a new credential under its id and under its token's hash, unless the id is taken.
  Both keys carry one hash tag ({credentials}), so this call stays in one slot of a Redis Cluster.

  Input:
    KEYS[1]  hash of every credential by id (gv:auth:{credentials})
    KEYS[2]  the credential's record under its token's SHA-256 (gv:auth:{credentials}:token:<hash>; one hash tag with KEYS[1])

    ARGV[1]  the credential's id
    ARGV[2]  JSON kept in the hash: the record and the token's hash
    ARGV[3]  JSON of the record alone, what verifying the token reads
    ARGV[4]  milliseconds until the credential expires, or "" when it never does

  Output:
    1  stored
    0  the id is taken; nothing written (the caller draws another)
]]
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
if ARGV[4] == '' then
  redis.call('SET', KEYS[2], ARGV[3])
else
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
end
return 1
