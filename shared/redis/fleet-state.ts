// The per-deploy counters and the broken-release mark in Redis, shared by every host of a group.

import type { Redis } from 'ioredis';
import type { Logger } from '../contract/logger.js';
import { redisKeys } from '../contract/redis-keys.js';
import { ValidationError } from '../contract/errors.js';
import { LockScripts, redisFailure } from './scripts.js';
import type { DeployGroup, FleetControl, FleetState } from '../ports/fleet-state.js';

/** Long enough for any deploy to end; short enough that finished deploys do not pile up. */
const COUNTER_TTL_SECONDS = 7 * 24 * 60 * 60;

export interface BrokenMark {
  reason: string;
  host?: string;
  at: string;
}

/** The reason text of a broken mark; a mark written by hand as plain text is its own reason. */
export function brokenMarkReason(value: string): string {
  try {
    const parsed: unknown = JSON.parse(value);
    if (parsed && typeof parsed === 'object' && 'reason' in parsed && typeof parsed.reason === 'string') {
      return parsed.reason;
    }
  } catch {
    // not JSON: fall through
  }
  return value;
}

/** Reads the broken mark of a tag; null when the tag is not marked. */
export async function readBrokenReason(redis: Redis, key: string): Promise<string | null> {
  let value: string | null;
  try {
    value = await redis.get(key);
  } catch (error) {
    throw redisFailure(error, 'reading the broken-release mark');
  }
  return value === null ? null : brokenMarkReason(value);
}

export interface RedisFleetStateOptions {
  redis: Redis;
  logger: Logger;
  /** This host's name, written into a broken mark it sets. */
  host?: string;
}

export class RedisFleetState implements FleetState, FleetControl {
  private readonly redis: Redis;
  private readonly logger: Logger;
  private readonly host: string | undefined;
  private readonly scripts: LockScripts;

  constructor(options: RedisFleetStateOptions) {
    this.redis = options.redis;
    this.logger = options.logger.child({ component: 'fleet-state' });
    this.host = options.host;
    this.scripts = LockScripts.for(options.redis);
  }

  async initRemaining(group: DeployGroup, deployId: string, hosts: number, logger = this.logger): Promise<number> {
    if (!Number.isInteger(hosts) || hosts < 0) throw new ValidationError(`hosts must be a whole number >= 0, got ${hosts}`);
    const key = redisKeys.remaining(group.role, group.env, deployId);
    let previous: unknown;
    try {
      // One round trip: NX with GET (Redis >= 7.0) hands back the value another host set first.
      previous = await this.redis.call('SET', key, String(hosts), 'NX', 'GET', 'EX', String(COUNTER_TTL_SECONDS));
    } catch (error) {
      throw redisFailure(error, 'initialising the remaining-hosts counter');
    }
    if (previous === null || previous === undefined) {
      logger.debug({ deployId, hosts }, 'remaining-hosts counter initialised');
      return hosts;
    }
    return Number(previous);
  }

  async finishHost(group: DeployGroup, deployId: string, host: string): Promise<number> {
    return this.scripts.finishHost(
      {
        remaining: redisKeys.remaining(group.role, group.env, deployId),
        finished: redisKeys.finishedHosts(group.role, group.env, deployId),
      },
      host,
    );
  }

  brokenReason(group: DeployGroup, tag: string): Promise<string | null> {
    return readBrokenReason(this.redis, redisKeys.broken(group.role, group.env, tag));
  }

  /**
   * Frees every slot of the group that `host` holds (its token starts with the host's name):
   * for a host that died mid-deploy, so the others need not wait for the lock's TTL. Each
   * freed slot wakes the next waiting host. Returns the slots freed.
   */
  async freeSlotsOf(group: DeployGroup, host: string, maxSlots: number): Promise<number[]> {
    const keys = Array.from({ length: Math.max(1, maxSlots) }, (_, i) => redisKeys.slot(group.role, group.env, i + 1));
    let holders: Array<string | null>;
    try {
      holders = await this.redis.mget(...keys);
    } catch (error) {
      throw redisFailure(error, 'reading the slot locks');
    }
    const freed: number[] = [];
    const wakePrefix = this.scripts.argKey(redisKeys.wake(group.role, group.env, ''));
    for (const [index, token] of holders.entries()) {
      if (token === null || !token.startsWith(`${host}/`)) continue;
      // Compare-and-delete on the token just read: if the host let go meanwhile, nothing happens.
      const outcome = await this.scripts.releaseSlot({ slot: keys[index]!, waiters: redisKeys.waiters(group.role, group.env) }, token, wakePrefix);
      if (outcome === 'released') freed.push(index + 1);
    }
    if (freed.length > 0) this.logger.warn({ role: group.role, env: group.env, host, freed }, 'freed the slots of a lost host');
    return freed;
  }

  async markBroken(group: DeployGroup, tag: string, reason: string, logger = this.logger): Promise<void> {
    const mark: BrokenMark = { reason, ...(this.host === undefined ? {} : { host: this.host }), at: new Date().toISOString() };
    const { woken } = await this.scripts.markBroken(
      { broken: redisKeys.broken(group.role, group.env, tag), waiters: redisKeys.waiters(group.role, group.env) },
      JSON.stringify(mark),
      this.scripts.argKey(redisKeys.wake(group.role, group.env, '')),
    );
    logger.info({ role: group.role, env: group.env, tag, woken }, 'release marked broken; waiting hosts woken to stand down');
  }
}
