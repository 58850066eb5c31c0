// Feature flags in Redis: a hash per environment (name -> JSON Flag) beside its version
// counter, both under the environment's hash tag. A change reads the flag, lets the caller
// decide, and swaps it in with swap-flag-2.lua only if it is still what was read.
import type { RedisClient } from './connection.js';
import { ConflictError } from '../contract/errors.js';
import { Flag } from '../contract/flags.js';
import type { Logger } from '../contract/logger.js';
import { redisKeys } from '../contract/redis-keys.js';
import { pause } from '../contract/waiting.js';
import type { EnvFlags, FlagChange, FlagDecision, FlagStore } from '../ports/flag-store.js';
import { RedisScripts, callRedis } from './scripts.js';
import { parseStored } from './stored-record.js';

/**
 * Changes landing on one flag at the same instant: each round of swaps lets at least one
 * through, so this many rounds carry that many writers at once before a conflict is answered.
 */
const SWAP_ATTEMPTS = 25;
/** A loser waits up to this long (random, growing with the round) so the writers stop meeting in step. */
const JITTER_MS = 4;

export class RedisFlagStore implements FlagStore {
  readonly #redis: RedisClient;
  readonly #scripts: RedisScripts;
  readonly #logger: Logger;

  constructor({ redis, logger }: { redis: RedisClient; logger: Logger }) {
    this.#redis = redis;
    this.#scripts = RedisScripts.for(redis);
    this.#logger = logger.child({ component: 'flags' });
  }

  async get(env: string, name: string): Promise<Flag | undefined> {
    const raw = await callRedis('reading a flag', () => this.#redis.hget(redisKeys.flags(env), name));
    return raw === null ? undefined : parseStored(Flag, raw, `flag ${name} of ${env}`);
  }

  async list(env: string): Promise<EnvFlags> {
    // One MULTI: the flags and the version they are at, never a version newer than the flags read.
    const replies = await callRedis("reading an environment's flags", () => this.#redis.multi().hgetall(redisKeys.flags(env)).get(redisKeys.flagsVersion(env)).exec());
    const [all, version] = (replies ?? []).map(([error, value]) => {
      if (error) throw error;
      return value;
    });
    const flags = Object.entries((all ?? {}) as Record<string, string>)
      .map(([name, raw]) => parseStored(Flag, raw, `flag ${name} of ${env}`))
      .sort((a, b) => a.name.localeCompare(b.name));
    return { flags, version: version === null || version === undefined ? 0 : Number(version) };
  }

  async envs(): Promise<string[]> {
    return (await callRedis('reading the environments with flags', () => this.#redis.smembers(redisKeys.flagEnvs()))).sort();
  }

  async change(env: string, name: string, decide: FlagDecision): Promise<FlagChange> {
    for (let attempt = 0; attempt < SWAP_ATTEMPTS; attempt += 1) {
      const raw = await callRedis('reading a flag', () => this.#redis.hget(redisKeys.flags(env), name));
      const before = raw === null ? undefined : parseStored(Flag, raw, `flag ${name} of ${env}`);
      const decided = decide(before);
      if (decided === 'unchanged') return { before, after: before, changed: false, version: (await this.list(env)).version };
      const next = decided === null ? '' : JSON.stringify(Flag.parse(decided));
      // An index only: written first, so a flag is never stored in an environment `list` would not name.
      if (next !== '') await callRedis('recording an environment with flags', () => this.#redis.sadd(redisKeys.flagEnvs(), env));
      const version = await this.#scripts.run('swapFlag', [redisKeys.flags(env), redisKeys.flagsVersion(env)], [name, raw ?? '', next], `flag ${name} of ${env}`);
      if (version !== undefined) return { before, after: decided ?? undefined, changed: true, version };
      this.#logger.debug({ env, flag: name, attempt }, 'flag changed while this change was decided; deciding again');
      await pause(Math.random() * JITTER_MS * (attempt + 1));
    }
    throw new ConflictError('flag_busy', `flag ${name} of ${env} kept changing while this change was made; try again`);
  }
}
