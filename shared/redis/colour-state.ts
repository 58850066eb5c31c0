// The coordinator's record of each blue/green group's live colour: one hash field per group.
import type { RedisClient } from './connection.js';
import * as z from 'zod';
import { Colour } from '../contract/strategy.js';
import { envName, roleName } from '../contract/names.js';
import { redisKeys } from '../contract/redis-keys.js';
import type { ColourState, GroupColour } from '../ports/colour-state.js';
import type { DeployGroup } from '../ports/fleet-state.js';
import { callRedis } from './scripts.js';
import { parseStored } from './stored-record.js';

const StoredColour = z.object({
  role: roleName,
  env: envName,
  live: Colour,
  retired: Colour.nullable(),
  retireAt: z.number().optional(),
  switchedAt: z.number().optional(),
  deployId: z.string().optional(),
});

const field = ({ role, env }: DeployGroup) => `${role}:${env}`;

export class RedisColourState implements ColourState {
  readonly #redis: RedisClient;

  constructor(redis: RedisClient) {
    this.#redis = redis;
  }

  async get(group: DeployGroup): Promise<GroupColour | undefined> {
    const raw = await callRedis('reading a group\'s colours', () => this.#redis.hget(redisKeys.colours(), field(group)));
    return raw === null ? undefined : strip(parseStored(StoredColour, raw, `colours of ${field(group)}`));
  }

  async set(colour: GroupColour): Promise<void> {
    const stored = StoredColour.parse(colour);
    await callRedis('writing a group\'s colours', () => this.#redis.hset(redisKeys.colours(), field(colour), JSON.stringify(stored)));
  }

  async all(): Promise<GroupColour[]> {
    const all = await callRedis('reading the groups\' colours', () => this.#redis.hgetall(redisKeys.colours()));
    return Object.entries(all).map(([name, raw]) => strip(parseStored(StoredColour, raw, `colours of ${name}`)));
  }
}

/** exactOptionalPropertyTypes: an absent field stays absent. */
function strip(colour: z.infer<typeof StoredColour>): GroupColour {
  return Object.fromEntries(Object.entries(colour).filter(([, value]) => value !== undefined)) as unknown as GroupColour;
}
