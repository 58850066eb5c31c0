--[[
  Release a group's lock, only while the caller's token holds it (one whose lock lapsed must
  not free the next holder's).

  Input:
    KEYS[1]  the group's lock key

    ARGV[1]  token of the caller

  Output:
    1  released
    0  the key is gone or holds another token
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
