--[[
  Take a group's lock between coordinators (route and retire checks, catch-up against rollout
  creation, a strategy's steps), when nobody holds it.

  Input:
    KEYS[1]  the group's lock key (value: the holder's token)

    ARGV[1]  token of the caller (its coordinator name, a slash, what it holds it for, a slash, a random id)
    ARGV[2]  lock TTL in milliseconds

  Output:
    {1}          taken: the caller holds it for a TTL
    {0, token}   held by that token ("" when it lapsed between the two calls: try again)
]]
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1}
end
return {0, redis.call('GET', KEYS[1]) or ''}
