// Reads of the deploy store, each sized by what it returns rather than by the fleet: the
// record comes from the parse cache (record-cache.ts) when its rev has not moved; summaries
// and host views add the deploy's counts and at most one host's report.
import type { RedisClient as Redis } from './connection.js';
import { redisKeys } from '../contract/redis-keys.js';
import { Deploy, HostReport } from '../contract/schemas.js';
import { SUMMARY_TARGETS, WHOLE_DEPLOY_HOSTS, type DeploySummary, type HostDeployView, type HostReportPage } from '../contract/deploy-views.js';
import type { DeployFilter, DeployRecord, DeployTally, Page } from '../ports/deploy-store.js';
import { callRedis, redisFailure } from './scripts.js';
import { parseStored } from './stored-record.js';
import { RecordCache, type CachedRecord } from './record-cache.js';

export const DeployRecordSchema = Deploy.omit({ hosts: true, hostsNext: true });

/** The meta hash's fields as Redis holds them. */
type Meta = Record<string, string>;

export class RedisDeployReads {
  readonly #redis: Redis;
  readonly cache = new RecordCache();

  constructor(redis: Redis) {
    this.#redis = redis;
  }

  /** The record, from the cache when `rev` is the one cached; undefined when gone. */
  async record(id: string, rev: number): Promise<CachedRecord | undefined> {
    const cached = this.cache.get(id, rev);
    if (cached) return cached;
    const raw = await callRedis(`reading deploy ${id}`, () => this.#redis.get(redisKeys.deploy(id)));
    if (raw === null) return undefined;
    return this.cache.set(id, rev, parseStored(DeployRecordSchema, raw, `deploy ${id}`));
  }

  async getRecord(id: string): Promise<DeployRecord | undefined> {
    const meta = await this.#meta(id);
    return (await this.record(id, Number(meta.rev ?? 0)))?.record;
  }

  async getSummary(id: string): Promise<DeploySummary | undefined> {
    const [state] = await this.#states([id]);
    return state && (await this.#summary(id, state.meta, state.counts, state.reported));
  }

  async getHostView(id: string, host: string): Promise<HostDeployView | undefined> {
    const results = await this.#exec(`reading deploy ${id} for ${host}`, (t) =>
      t.hgetall(redisKeys.deployMeta(id)).hgetall(redisKeys.deployCounts(id)).hlen(redisKeys.deployHosts(id)).hget(redisKeys.deployHosts(id), host),
    );
    const [meta, counts, reported, mine] = results as [Meta, Record<string, string>, number, string | null];
    const summary = await this.#summary(id, meta, counts, reported);
    if (!summary) return undefined;
    const cached = this.cache.get(id, Number(meta.rev ?? 0));
    const target = summary.targetCount === 0 || (cached?.targets.has(host) ?? false);
    return { ...summary, host, target, ...(mine === null ? {} : { mine: parseStored(HostReport, mine, `report of ${host} on deploy ${id}`) }) };
  }

  /** The whole deploy: every report up to WHOLE_DEPLOY_HOSTS, above that the first page and the cursor of the rest. */
  async getDeploy(id: string): Promise<Deploy | undefined> {
    const [state] = await this.#states([id]);
    if (!state) return undefined;
    const cached = await this.record(id, Number(state.meta.rev ?? 0));
    if (!cached) return undefined;
    const whole = state.reported <= WHOLE_DEPLOY_HOSTS;
    const page = whole
      ? { hosts: await this.#allReports(id) }
      : ((await this.hostReports(id, { limit: WHOLE_DEPLOY_HOSTS })) ?? { hosts: [] });
    const hosts: Record<string, HostReport> = {};
    for (const report of page.hosts) hosts[report.host] = report;
    return { ...withMeta(cached.record, state.meta), hosts, ...(page.next === undefined ? {} : { hostsNext: page.next }) };
  }

  /** Whole deploys newest first (the coordinator's own rules read them; HTTP lists summaries). */
  async listDeploys(filter: DeployFilter): Promise<Deploy[]> {
    const ids = await this.#ids(filter, undefined);
    const deploys = await Promise.all(ids.slice(0, filter.limit).map(([id]) => this.getDeploy(id)));
    return deploys.filter((deploy) => deploy !== undefined);
  }

  async listSummaries(filter: DeployFilter & { cursor?: string | undefined; host?: string | undefined }): Promise<Page<DeploySummary | HostDeployView>> {
    const ids = await this.#ids(filter, filter.cursor);
    const page = ids.slice(0, filter.limit);
    const { host } = filter;
    const items = await Promise.all(page.map(([id]) => (host === undefined ? this.getSummary(id) : this.getHostView(id, host))));
    const last = page.at(-1);
    return {
      // An index entry whose record was deleted by hand is skipped, not an error.
      items: items.filter((item) => item !== undefined),
      ...(ids.length > filter.limit && last ? { next: `${last[1]}:${last[0]}` } : {}),
    };
  }

  async hostReports(id: string, { limit, cursor }: { limit: number; cursor?: string | undefined }): Promise<HostReportPage | undefined> {
    const key = redisKeys.deployHosts(id);
    const [next, flat] = await callRedis(`reading the hosts of deploy ${id}`, () => this.#redis.hscan(key, cursor ?? '0', 'COUNT', limit));
    if (cursor === undefined && flat.length === 0 && (await callRedis(`reading deploy ${id}`, () => this.#redis.exists(redisKeys.deployMeta(id)))) === 0) return undefined;
    const hosts: HostReport[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) hosts.push(parseStored(HostReport, flat[i + 1]!, `report of ${flat[i]} on deploy ${id}`));
    return { hosts, ...(next === '0' ? {} : { next }) };
  }

  async unsuccessfulReports(id: string): Promise<HostReport[]> {
    const hosts = Object.keys(await callRedis(`reading deploy ${id}`, () => this.#redis.hgetall(redisKeys.deployUnsuccessful(id))));
    if (hosts.length === 0) return [];
    const raw = await callRedis(`reading deploy ${id}`, () => this.#redis.hmget(redisKeys.deployHosts(id), ...hosts));
    return raw.flatMap((report, i) => (report === null ? [] : [parseStored(HostReport, report, `report of ${hosts[i]} on deploy ${id}`)]));
  }

  async #allReports(id: string): Promise<HostReport[]> {
    const all = await callRedis(`reading deploy ${id}`, () => this.#redis.hgetall(redisKeys.deployHosts(id)));
    return Object.entries(all).map(([host, report]) => parseStored(HostReport, report, `report of ${host} on deploy ${id}`));
  }

  async #summary(id: string, meta: Meta, counts: Record<string, string>, reported: number): Promise<DeploySummary | undefined> {
    if (meta.status === undefined) return undefined;
    const cached = await this.record(id, Number(meta.rev ?? 0));
    if (!cached) return undefined;
    const { targets, ...record } = withMeta(cached.record, meta);
    const short = targets !== undefined && targets.length <= SUMMARY_TARGETS ? { targets } : {};
    return { ...record, ...short, targetCount: Number(meta.targets ?? cached.targets.size), reported, counts: countsOf(counts) };
  }

  async #meta(id: string): Promise<Meta> {
    return callRedis(`reading deploy ${id}`, () => this.#redis.hgetall(redisKeys.deployMeta(id)));
  }

  /** Meta, counts and how many reported, per deploy (one transaction each: one hash tag each). */
  async #states(ids: string[]): Promise<Array<{ meta: Meta; counts: Record<string, string>; reported: number } | undefined>> {
    return Promise.all(
      ids.map(async (id) => {
        const [meta, counts, reported] = (await this.#exec(`reading deploy ${id}`, (t) =>
          t.hgetall(redisKeys.deployMeta(id)).hgetall(redisKeys.deployCounts(id)).hlen(redisKeys.deployHosts(id)),
        )) as [Meta, Record<string, string>, number];
        return meta.status === undefined ? undefined : { meta, counts, reported };
      }),
    );
  }

  /** Ids with their scores, newest first, from the narrowest index; past `cursor` (score:id) when given; one more than the limit. */
  async #ids({ role, env, limit }: DeployFilter, cursor: string | undefined): Promise<Array<[string, string]>> {
    const index = indexOf(role, env);
    const after = cursor === undefined ? undefined : /^(\d+):(.+)$/.exec(cursor);
    const max = after ? after[1]! : '+inf';
    // Deploys created in the same millisecond share a score: those at or above the cursor's id were on earlier pages.
    const ties = after ? await callRedis('listing deploys', () => this.#redis.zcount(index, after[1]!, after[1]!)) : 0;
    const flat = await callRedis('listing deploys', () => this.#redis.zrevrangebyscore(index, max, '-inf', 'WITHSCORES', 'LIMIT', 0, limit + 1 + ties));
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const id = flat[i]!;
      const score = flat[i + 1]!;
      if (after && score === after[1] && id >= after[2]!) continue;
      pairs.push([id, score]);
    }
    return pairs.slice(0, limit + 1);
  }

  async #exec(what: string, build: (t: ReturnType<Redis['multi']>) => ReturnType<Redis['multi']>): Promise<unknown[]> {
    const results = await callRedis(what, async () => (await build(this.#redis.multi()).exec()) ?? []);
    return results.map(([error, value]) => {
      if (error) throw redisFailure(error, what);
      return value;
    });
  }
}

/** The record with what reports set in the meta hash (the record itself is not rewritten per report). */
function withMeta(record: DeployRecord, meta: Meta): DeployRecord {
  const expected = meta.expectedHosts;
  return expected === undefined || record.expectedHosts !== undefined ? record : { ...record, expectedHosts: Number(expected) };
}

function countsOf(raw: Record<string, string>): DeploySummary['counts'] {
  const counts: DeploySummary['counts'] = {};
  for (const [state, n] of Object.entries(raw)) if (Number(n) > 0) counts[state as keyof typeof counts] = Number(n);
  return counts;
}

export function tallyOf(meta: { targets: number; targetsEnded: number; reported: number; expectedHosts: number | undefined }, counts: Record<string, number>): DeployTally {
  const kept: DeployTally['counts'] = {};
  for (const [state, n] of Object.entries(counts)) if (n > 0) kept[state as keyof typeof kept] = n;
  return { counts: kept, reported: meta.reported, targets: meta.targets, targetsEnded: meta.targetsEnded, ...(meta.expectedHosts === undefined ? {} : { expectedHosts: meta.expectedHosts }) };
}

function indexOf(role: string | undefined, env: string | undefined): string {
  if (role !== undefined && env !== undefined) return redisKeys.deploysOfGroup(role, env);
  if (role !== undefined) return redisKeys.deploysOfRole(role);
  if (env !== undefined) return redisKeys.deploysOfEnv(env);
  return redisKeys.deploys();
}
