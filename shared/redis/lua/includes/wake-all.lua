-- Included by the loader where a script says `--- @include wake-all`.
-- Wakes every host the caller named, whether it waits for a slot (waiters set) or is held
-- aside by a freeze or a gate (held set): it leaves its set and its wake list gets its
-- arrival score, so a host that then finds no slot queues again in its old place.
-- KEYS[firstKey..] are the wake lists of the tokens ARGV[firstArg..]. Returns how many woke.
local function wakeAll(waiters, held, firstKey, firstArg, ttl)
  local woken = 0
  for i = firstKey, #KEYS do
    local token = ARGV[i - firstKey + firstArg]
    local score = redis.call('ZSCORE', waiters, token)
    if score then
      redis.call('ZREM', waiters, token)
    else
      score = redis.call('ZSCORE', held, token)
      if score then
        redis.call('ZREM', held, token)
      end
    end
    if score then
      redis.call('LPUSH', KEYS[i], score)
      redis.call('PEXPIRE', KEYS[i], ttl)
      woken = woken + 1
    end
  end
  return woken
end
