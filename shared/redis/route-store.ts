// Each group's route table (one JSON string) and retired clusters (a hash, cluster -> JSON
// mark), under the group's hash tag beside its slots.
import type { RedisClient } from './connection.js';
import * as z from 'zod';
import { RouteTable } from '../contract/routing.js';
import { redisKeys } from '../contract/redis-keys.js';
import type { DeployGroup } from '../ports/fleet-state.js';
import type { RetiredCluster, RouteStore } from '../ports/route-store.js';
import { callRedis } from './scripts.js';
import { parseStored } from './stored-record.js';

const StoredMark = z.object({ at: z.number(), by: z.string() });
const name = ({ role, env }: DeployGroup) => `${role}/${env}`;

export class RedisRouteStore implements RouteStore {
  readonly #redis: RedisClient;

  constructor(redis: RedisClient) {
    this.#redis = redis;
  }

  async routes(group: DeployGroup): Promise<RouteTable | undefined> {
    const raw = await callRedis(`reading the routes of ${name(group)}`, () => this.#redis.get(redisKeys.routes(group.role, group.env)));
    return raw === null ? undefined : parseStored(RouteTable, raw, `routes of ${name(group)}`);
  }

  async saveRoutes(group: DeployGroup, table: RouteTable | undefined): Promise<void> {
    const key = redisKeys.routes(group.role, group.env);
    if (table === undefined) {
      await callRedis(`removing the routes of ${name(group)}`, () => this.#redis.del(key));
      return;
    }
    const stored = JSON.stringify(RouteTable.parse(table));
    await callRedis(`writing the routes of ${name(group)}`, () => this.#redis.set(key, stored));
  }

  async retired(group: DeployGroup): Promise<RetiredCluster[]> {
    const all = await callRedis(`reading the retired clusters of ${name(group)}`, () => this.#redis.hgetall(redisKeys.retiredClusters(group.role, group.env)));
    return Object.entries(all)
      .map(([cluster, raw]) => ({ cluster, ...parseStored(StoredMark, raw, `retired cluster ${cluster} of ${name(group)}`) }))
      .sort((a, b) => a.cluster.localeCompare(b.cluster));
  }

  async retire(group: DeployGroup, mark: RetiredCluster): Promise<void> {
    const stored = JSON.stringify({ at: mark.at, by: mark.by });
    await callRedis(`retiring cluster ${mark.cluster} of ${name(group)}`, () => this.#redis.hset(redisKeys.retiredClusters(group.role, group.env), mark.cluster, stored));
  }

  async unretire(group: DeployGroup, cluster: string): Promise<boolean> {
    const removed = await callRedis(`bringing back cluster ${cluster} of ${name(group)}`, () => this.#redis.hdel(redisKeys.retiredClusters(group.role, group.env), cluster));
    return removed > 0;
  }
}
