--[[
  Set a stand-down mark (a release's broken mark, or a deploy's stop mark) and wake the
  waiting and held hosts the caller read (ZRANGE 0 -1 of both sets just before): all of
  them must stand down, so here the whole herd is the point; a host held by a freeze or
  a gate stands down too. The first mark stays (it names the first failure); waking
  happens either way. A host that joined after the caller's read is reported back so
  the caller can look again; a host arriving after the mark finds it in its acquire
  call and never queues.
  Variable key count (one wake list per host read), so the caller passes numkeys.

  Input:
    KEYS[1]    the mark: broken-release mark of a tag, or stop mark of a deploy
    KEYS[2]    waiters sorted set of the group
    KEYS[3]    held sorted set of the group
    KEYS[4..]  wake lists of the hosts the caller read: KEYS[n + 3] is ARGV[n + 2]'s

    ARGV[1]    mark value (JSON: reason, by, at)
    ARGV[2]    wake list TTL in milliseconds
    ARGV[3..]  tokens of the hosts the caller read

  Output:
    {woken, unread}  hosts woken (each left its set), and hosts still in either set
                     that the caller did not name
]]
--- @include wake-all

redis.call('SET', KEYS[1], ARGV[1], 'NX')

local woken = wakeAll(KEYS[2], KEYS[3], 4, 3, ARGV[2])
return {woken, redis.call('ZCARD', KEYS[2]) + redis.call('ZCARD', KEYS[3])}
