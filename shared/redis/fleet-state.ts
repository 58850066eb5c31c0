// The per-deploy counters and the broken-release mark in Redis, shared by every host of a group.

import type { RedisClient } from './connection.js';
import type { Logger } from '../contract/logger.js';
import { redisKeys } from '../contract/redis-keys.js';
import { ValidationError } from '../contract/errors.js';
import type { BrokenMark } from '../contract/schemas.js';
import type { DeployGroup, FleetControl, FleetState, MarkOptions, SlotHolder } from '../ports/fleet-state.js';
import { FreezeMark } from '../contract/freeze.js';
import { RedisScripts, callRedis } from './scripts.js';
import { describeBrokenMark, readBrokenMark } from './broken-mark.js';
import { WaitQueue } from './wait-queue.js';

/** Long enough for any deploy to end; short enough that finished deploys do not pile up. */
const COUNTER_TTL_SECONDS = 7 * 24 * 60 * 60;
/**
 * A gate outlives any deploy it could belong to (the coordinator's longest deadline, 24 h,
 * and a margin) unless the caller names its own lifetime: it never lingers.
 */
const DEFAULT_GATE_TTL_MS = 25 * 60 * 60 * 1000;

export interface RedisFleetStateOptions {
  redis: RedisClient;
  logger: Logger;
  /** This host's name, written into a broken mark it sets; the coordinator's marks name 'coordinator'. */
  host?: string;
}

export class RedisFleetState implements FleetState, FleetControl {
  private readonly redis: RedisClient;
  private readonly logger: Logger;
  private readonly host: string;
  private readonly scripts: RedisScripts;

  constructor(options: RedisFleetStateOptions) {
    this.redis = options.redis;
    this.logger = options.logger.child({ component: 'fleet-state' });
    this.host = options.host ?? 'coordinator';
    this.scripts = RedisScripts.for(options.redis);
  }

  async initRemaining(group: DeployGroup, deployId: string, hosts: number, logger = this.logger): Promise<number> {
    if (!Number.isInteger(hosts) || hosts < 0) throw new ValidationError(`hosts must be a whole number >= 0, got ${hosts}`);
    const key = redisKeys.remaining(group.role, group.env, deployId);
    // One round trip: NX with GET (Redis >= 7.0) hands back the value another host set first.
    const previous = await callRedis('initialising the remaining-hosts counter', () =>
      this.redis.call('SET', key, String(hosts), 'NX', 'GET', 'EX', String(COUNTER_TTL_SECONDS)),
    );
    if (previous === null || previous === undefined) {
      logger.debug({ deployId, hosts }, 'remaining-hosts counter initialised');
      return hosts;
    }
    return Number(previous);
  }

  async finishHost(group: DeployGroup, deployId: string, host: string): Promise<number> {
    const keys = [redisKeys.remaining(group.role, group.env, deployId), redisKeys.finishedHosts(group.role, group.env, deployId)];
    return this.scripts.run('finishHost', keys, [host], `deploy ${deployId}`);
  }

  async brokenReason(group: DeployGroup, tag: string): Promise<string | null> {
    const mark = await this.brokenMark(group, tag);
    return mark && describeBrokenMark(mark);
  }

  brokenMark(group: DeployGroup, tag: string): Promise<BrokenMark | null> {
    return readBrokenMark(this.redis, redisKeys.broken(group.role, group.env, tag));
  }

  async isOutOfService(group: DeployGroup, host: string): Promise<boolean> {
    const out = await callRedis('reading the out-of-service set', () => this.redis.sismember(redisKeys.outOfService(group.role, group.env), host));
    return out === 1;
  }

  async outOfServiceHosts(group: DeployGroup): Promise<string[]> {
    const hosts = await callRedis('reading the out-of-service set', () => this.redis.smembers(redisKeys.outOfService(group.role, group.env)));
    return hosts.sort();
  }

  /**
   * The numbers in the group's leases set (held, or lapsed and not yet handed on, so the cost
   * follows the hosts out, not k), then one MGET of their keys, which says which still hold:
   * the keys share the group's hash tag. A
   * slot token starts with its holder's name and a `/`.
   */
  async slotHolders(group: DeployGroup, maxSlots: number): Promise<SlotHolder[]> {
    if (!Number.isSafeInteger(maxSlots) || maxSlots < 0) {
      throw new ValidationError(`slot count must be a whole number of at least 0, got ${maxSlots}`);
    }
    if (maxSlots === 0) return [];
    const { role, env } = group;
    const live = await callRedis('reading the slot leases', () => this.redis.zrange(redisKeys.slotLeases(role, env), '0', '-1'));
    const numbers = live.map(Number).filter((n) => Number.isInteger(n) && n >= 1 && n <= maxSlots).sort((a, b) => a - b);
    if (numbers.length === 0) return [];
    const tokens = await callRedis('reading the slot keys', () => this.redis.mget(...numbers.map((n) => redisKeys.slot(role, env, n))));
    return tokens.flatMap((token, i) => (token ? [{ slot: numbers[i] ?? 0, host: token.split('/', 1)[0] ?? token }] : []));
  }

  async backInService(group: DeployGroup, host: string, logger = this.logger): Promise<boolean> {
    const left = await new WaitQueue(this.redis, group).backInService(host);
    if (left) logger.info({ role: group.role, env: group.env, host }, 'host serves again: no longer counted out of service');
    return left;
  }

  /** The first mark stays (SET NX): it names the first host that failed. Every waiting host is woken to stand down. */
  async markBroken(group: DeployGroup, tag: string, reason: string, { by = this.host, logger = this.logger }: MarkOptions = {}): Promise<void> {
    const mark: BrokenMark = { reason, by, at: Date.now() };
    const queue = new WaitQueue(this.redis, group);
    const { woken, unread } = await queue.standDownAll(redisKeys.broken(group.role, group.env, tag), JSON.stringify(mark));
    logger.info({ role: group.role, env: group.env, tag, woken, unread }, 'release marked broken; waiting hosts woken to stand down');
  }

  /** Sets the deploy's stop mark (kept as long as its counters) and wakes every waiting host: those of this deploy stand down. */
  async stopDeploy(group: DeployGroup, deployId: string, reason: string, logger = this.logger): Promise<void> {
    const key = redisKeys.deployStopped(group.role, group.env, deployId);
    const queue = new WaitQueue(this.redis, group);
    const { woken, unread } = await queue.standDownAll(key, JSON.stringify({ reason, at: Date.now() }));
    await callRedis('keeping the stop mark', () => this.redis.expire(key, COUNTER_TTL_SECONDS));
    logger.info({ role: group.role, env: group.env, deployId, woken, unread }, 'deploy stopped; its waiting hosts woken to stand down');
  }

  /** A mark with `until` carries a PX to that moment, so the freeze lapses by itself; held hosts find it gone on their next poll. */
  async freeze(group: DeployGroup, mark: FreezeMark, logger = this.logger): Promise<void> {
    const value = JSON.stringify(FreezeMark.parse(mark));
    const key = redisKeys.freeze(group.role, group.env);
    if (mark.until === undefined) {
      await callRedis('setting the freeze mark', () => this.redis.set(key, value));
    } else {
      const ms = mark.until - Date.now();
      if (ms <= 0) throw new ValidationError(`until must be in the future, got ${new Date(mark.until).toISOString()}`);
      await callRedis('setting the freeze mark', () => this.redis.set(key, value, 'PX', ms));
    }
    logger.warn({ role: group.role, env: group.env, reason: mark.reason, by: mark.by, until: mark.until }, 'group frozen: no host takes a slot until it is unfrozen');
  }

  async unfreeze(group: DeployGroup, logger = this.logger): Promise<FreezeMark | null> {
    const queue = new WaitQueue(this.redis, group);
    const { woken, unread, value } = await queue.liftHold(redisKeys.freeze(group.role, group.env), true);
    const mark = value === null ? null : parseFreeze(value);
    logger.info({ role: group.role, env: group.env, woken, unread, wasFrozen: value !== null }, 'group unfrozen; held and waiting hosts woken');
    return mark;
  }

  async frozen(group: DeployGroup): Promise<FreezeMark | null> {
    const value = await callRedis('reading the freeze mark', () => this.redis.get(redisKeys.freeze(group.role, group.env)));
    return value === null ? null : parseFreeze(value);
  }

  /** One MULTI: the set is replaced whole and its TTL set with it, so a gate never exists without one. */
  async closeGate(group: DeployGroup, deployId: string, hosts: readonly string[], ttlMs = DEFAULT_GATE_TTL_MS): Promise<void> {
    if (hosts.length === 0) throw new ValidationError(`a gate must let at least one host through (deploy ${deployId})`);
    if (!Number.isInteger(ttlMs) || ttlMs < 1_000) throw new ValidationError(`gate TTL must be a whole number of milliseconds >= 1000, got ${ttlMs}`);
    const key = redisKeys.gate(group.role, group.env, deployId);
    await callRedis('closing the deploy gate', () => this.redis.multi().del(key).sadd(key, ...hosts).pexpire(key, ttlMs).exec());
    this.logger.info({ role: group.role, env: group.env, deployId, hosts }, 'deploy gate closed: only these hosts take a slot');
  }

  async openGate(group: DeployGroup, deployId: string, logger = this.logger): Promise<void> {
    const queue = new WaitQueue(this.redis, group);
    const { woken, unread } = await queue.liftHold(redisKeys.gate(group.role, group.env, deployId), false);
    logger.info({ role: group.role, env: group.env, deployId, woken, unread }, 'deploy gate opened; held and waiting hosts woken');
  }
}

/** A stored freeze mark; one that does not parse still freezes the group (the key is what the slot script reads), so it is shown as such. */
function parseFreeze(value: string): FreezeMark {
  try {
    const parsed = FreezeMark.safeParse(JSON.parse(value));
    if (parsed.success) return parsed.data;
  } catch {
    // Written by hand: shown as its own reason below.
  }
  return { reason: value.slice(0, 500) || 'frozen', by: 'unknown', at: 0 };
}
