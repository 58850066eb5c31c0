--[[
  Set a stand-down mark (a release's broken mark, or a deploy's stop mark) and wake the
  waiting hosts the caller read (ZRANGE 0 -1 just before): all of them must stand down,
  so here the whole herd is the point. The first mark stays (it names the first
  failure); waking happens either way. A host
  that joined after the caller's read is reported back so the caller can look again;
  a host arriving after the mark finds it in its acquire call and never queues.
  Variable key count (one wake list per waiter read), so the caller passes numkeys.

  Input:
    KEYS[1]    the mark: broken-release mark of a tag, or stop mark of a deploy
    KEYS[2]    waiters sorted set of the group
    KEYS[3..]  wake lists of the waiters the caller read: KEYS[n + 2] is ARGV[n + 2]'s

    ARGV[1]    mark value (JSON: reason, by, at)
    ARGV[2]    wake list TTL in milliseconds
    ARGV[3..]  tokens of the waiters the caller read

  Output:
    {woken, unread}  waiters woken (each left the waiters set), and waiters still in
                     the set that the caller did not name
]]
redis.call('SET', KEYS[1], ARGV[1], 'NX')

local woken = 0
for i = 3, #KEYS do
  local score = redis.call('ZSCORE', KEYS[2], ARGV[i])
  if score then
    redis.call('ZREM', KEYS[2], ARGV[i])
    redis.call('LPUSH', KEYS[i], score)
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
    woken = woken + 1
  end
end
return {woken, redis.call('ZCARD', KEYS[2])}
