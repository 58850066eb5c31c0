// The coordinator's records in Redis: published releases per role, deploys with their
// per-host reports, and the tag each role/environment should run.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { GrapevineError } from '../contract/errors.js';
import { redisKeys } from '../contract/redis-keys.js';
import { Deploy, HostReport, Release } from '../contract/schemas.js';
import type { BrokenMark, DeployAnnotation, DeployFilter, DeployRecord, DeployStore } from '../ports/deploy-store.js';


// Lua rather than WATCH/MULTI: WATCH belongs to a connection, and this store shares one
// ioredis connection between concurrent requests, so one request's EXEC would clear
// another's watch. A script runs alone on the server with no retry loop to bound.
// The deploy record and its hosts hash do not share a hash tag (their names predate
// this script), so the coordinator's Redis must be a single node, not a Cluster.
const APPLY_REPORT_LUA = `
-- Stores one host's report and, when it ends the deploy, finalises the deploy.
-- KEYS[1] deploy record (JSON), KEYS[2] hash host -> report JSON, KEYS[3] sorted set of deploys in progress
-- ARGV[1] host, ARGV[2] report JSON, ARGV[3] hosts counted or '',
-- ARGV[4] '1' when this host's decrement reached zero, ARGV[5] now (ms),
-- ARGV[6] '1' to store the report only while the deploy is in progress and the host's
--         stored report is not final (the watchdog declaring a host lost must not
--         overwrite the outcome the host reported itself)
-- Returns {0, ''} when the deploy does not exist, else {1 when the report was stored
-- (0 when ARGV[6] held it back), the deploy record JSON after the update}.
local raw = redis.call('GET', KEYS[1])
if not raw then return {0, ''} end
local deploy = cjson.decode(raw)
local function isFinal(state)
  return state == 'succeeded' or state == 'failed' or state == 'cancelled' or state == 'lost'
end
if ARGV[6] == '1' then
  if deploy.status ~= 'in_progress' then return {0, raw} end
  local previous = redis.call('HGET', KEYS[2], ARGV[1])
  if previous and isFinal(cjson.decode(previous).state) then return {0, raw} end
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local changed = false
if ARGV[3] ~= '' and deploy.expectedHosts == nil then
  deploy.expectedHosts = tonumber(ARGV[3])
  changed = true
end
if ARGV[4] == '1' and deploy.countedDownAt == nil then
  deploy.countedDownAt = tonumber(ARGV[5])
  changed = true
end
-- Agents send reports asynchronously, so the host that counts down to zero can overtake
-- another host's final report still in flight: the deploy ends once the count is down
-- and every host it expects has reported a final state, whichever arrives last.
if deploy.countedDownAt ~= nil and deploy.status == 'in_progress' then
  local reports = redis.call('HGETALL', KEYS[2])
  local hosts, final = 0, true
  local states = {}
  local failedHost, failedError, failedCount = nil, nil, 0
  local cancelledHost, cancelledError, cancelled, lost = nil, nil, 0, {}
  for i = 1, #reports, 2 do
    local host, report = reports[i], cjson.decode(reports[i + 1])
    hosts = hosts + 1
    states[host] = report.state
    if report.state == 'failed' then
      failedCount = failedCount + 1
      if failedHost == nil or host < failedHost then
        failedHost = host
        failedError = report.error
      end
    elseif report.state == 'cancelled' then
      cancelled = cancelled + 1
      if cancelledHost == nil or host < cancelledHost then
        cancelledHost = host
        cancelledError = report.error
      end
    elseif report.state == 'lost' then
      table.insert(lost, host)
    elseif report.state ~= 'succeeded' then
      final = false
    end
  end
  -- Every host that matched when the deploy was created must end it, by its own report
  -- or by the watchdog declaring it lost.
  if final and type(deploy.targets) == 'table' then
    for _, target in ipairs(deploy.targets) do
      if not isFinal(states[target]) then final = false end
    end
  end
  if final and hosts >= (deploy.expectedHosts or 0) then
    if failedHost ~= nil then
      deploy.status = 'failed'
      if type(failedError) ~= 'string' then failedError = 'no error given' end
      deploy.reason = 'host ' .. failedHost .. ' failed: ' .. failedError
      if failedCount > 1 then
        deploy.reason = deploy.reason .. ' (and ' .. (failedCount - 1) .. ' more hosts failed)'
      end
    elseif cancelled > 0 then
      deploy.status = 'cancelled'
      if type(cancelledError) ~= 'string' then cancelledError = 'no reason given' end
      deploy.reason = 'host ' .. cancelledHost .. ' stood down: ' .. cancelledError
      if cancelled > 1 then
        deploy.reason = deploy.reason .. ' (and ' .. (cancelled - 1) .. ' more hosts stood down)'
      end
    elseif #lost > 0 then
      table.sort(lost)
      deploy.status = 'partial'
      deploy.reason = 'hosts lost: ' .. table.concat(lost, ', ')
    else
      deploy.status = 'succeeded'
    end
    deploy.finishedAt = tonumber(ARGV[5])
    redis.call('ZREM', KEYS[3], deploy.id)
    changed = true
  end
end
if changed then
  raw = cjson.encode(deploy)
  redis.call('SET', KEYS[1], raw)
end
return {1, raw}
`;

const FINISH_OPEN_DEPLOY_LUA = `
-- Ends a deploy that is still in progress; a finished deploy keeps its outcome.
-- KEYS[1] deploy record (JSON), KEYS[2] sorted set of deploys in progress
-- ARGV[1] status, ARGV[2] reason, ARGV[3] now (ms), ARGV[4] deploy id
-- Returns '' when the deploy does not exist, else the deploy record JSON after the update.
redis.call('ZREM', KEYS[2], ARGV[4])
local raw = redis.call('GET', KEYS[1])
if not raw then return '' end
local deploy = cjson.decode(raw)
if deploy.status ~= 'in_progress' then return raw end
deploy.status = ARGV[1]
deploy.reason = ARGV[2]
deploy.finishedAt = tonumber(ARGV[3])
raw = cjson.encode(deploy)
redis.call('SET', KEYS[1], raw)
return raw
`;

const MARK_BROKEN_LUA = `
-- Marks a release broken once; the first mark (who and why) is kept.
-- KEYS[1] hash tag -> release JSON
-- ARGV[1] tag, ARGV[2] broken mark JSON
-- Returns '' when the release does not exist, else the release JSON after the update.
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return '' end
local release = cjson.decode(raw)
if release.broken ~= nil then return raw end
release.broken = cjson.decode(ARGV[2])
raw = cjson.encode(release)
redis.call('HSET', KEYS[1], ARGV[1], raw)
return raw
`;

const ANNOTATE_DEPLOY_LUA = `
-- Adds fields to a deploy record (promotedTo, promotion) whatever its status; the
-- fields the deploy's outcome lives in are never touched here.
-- KEYS[1] deploy record (JSON)
-- ARGV[1] JSON object of the fields to set
-- Returns '' when the deploy does not exist, else the deploy record JSON after the update.
local raw = redis.call('GET', KEYS[1])
if not raw then return '' end
local deploy = cjson.decode(raw)
for name, value in pairs(cjson.decode(ARGV[1])) do
  if name ~= 'status' and name ~= 'reason' and name ~= 'finishedAt' and name ~= 'id' then
    deploy[name] = value
  end
end
raw = cjson.encode(deploy)
redis.call('SET', KEYS[1], raw)
return raw
`;

interface StoreScripts {
  gvApplyReport(
    deployKey: string,
    hostsKey: string,
    inProgressKey: string,
    host: string,
    report: string,
    counted: string,
    reachedZero: string,
    now: string,
    onlyUnfinished: string,
  ): Promise<[number, string]>;
  gvFinishOpenDeploy(deployKey: string, inProgressKey: string, status: string, reason: string, now: string, id: string): Promise<string>;
  gvMarkReleaseBroken(releasesKey: string, tag: string, mark: string): Promise<string>;
  gvAnnotateDeploy(deployKey: string, fields: string): Promise<string>;
}


const DeployRecordSchema = Deploy.omit({ hosts: true });

export class RedisDeployStore implements DeployStore {
  readonly #redis: Redis;
  readonly #scripts: StoreScripts;
  readonly #logger: Logger;

  constructor({ redis, logger }: { redis: Redis; logger: Logger }) {
    this.#redis = redis;
    this.#logger = logger.child({ component: 'store' });
    redis.defineCommand('gvApplyReport', { numberOfKeys: 3, lua: APPLY_REPORT_LUA });
    redis.defineCommand('gvFinishOpenDeploy', { numberOfKeys: 2, lua: FINISH_OPEN_DEPLOY_LUA });
    redis.defineCommand('gvMarkReleaseBroken', { numberOfKeys: 1, lua: MARK_BROKEN_LUA });
    redis.defineCommand('gvAnnotateDeploy', { numberOfKeys: 1, lua: ANNOTATE_DEPLOY_LUA });
    // defineCommand adds methods that ioredis' types cannot know about.
    this.#scripts = redis as unknown as StoreScripts;
  }

  /** True when Redis answers PING within `timeoutMs` (a dead server would otherwise queue the command). */
  async ping(timeoutMs = 2000): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([this.#redis.ping().then((reply) => reply === 'PONG'), timeout]);
    } catch (error) {
      this.#logger.warn({ err: error }, 'redis did not answer PING');
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Records a release unless its role already has that tag; either way returns what is stored,
   * so the caller can tell an idempotent republish from a clash.
   */
  async publishRelease(release: Release): Promise<{ created: boolean; release: Release }> {
    const key = redisKeys.releases(release.role);
    const created = await this.#redis.hsetnx(key, release.tag, JSON.stringify(release));
    if (created === 1) return { created: true, release };
    const existing = await this.getRelease(release.role, release.tag);
    if (!existing) throw new GrapevineError('store_error', `release ${release.role}:${release.tag} vanished while it was published`);
    return { created: false, release: existing };
  }

  async getRelease(role: string, tag: string): Promise<Release | undefined> {
    const raw = await this.#redis.hget(redisKeys.releases(role), tag);
    return raw === null ? undefined : parseStored(Release, raw, `release ${role}:${tag}`);
  }

  /** Every release of the role, newest first. */
  async listReleases(role: string): Promise<Release[]> {
    const all = await this.#redis.hgetall(redisKeys.releases(role));
    return Object.entries(all)
      .map(([tag, raw]) => parseStored(Release, raw, `release ${role}:${tag}`))
      .sort((a, b) => b.publishedAt - a.publishedAt || b.tag.localeCompare(a.tag));
  }

  async newestRelease(role: string): Promise<Release | undefined> {
    return (await this.listReleases(role))[0];
  }

  /** Marks a release broken unless it already is; returns the release as stored, or undefined when unknown. */
  async markReleaseBroken(role: string, tag: string, mark: BrokenMark): Promise<Release | undefined> {
    const raw = await this.#scripts.gvMarkReleaseBroken(redisKeys.releases(role), tag, JSON.stringify(mark));
    return raw === '' ? undefined : parseStored(Release, raw, `release ${role}:${tag}`);
  }

  /** Stores a new deploy, indexes it and makes its tag the desired one for its role and environment. */
  async createDeploy(deploy: DeployRecord): Promise<void> {
    const { id, role, env, createdAt } = deploy;
    // The scripts re-encode the record with cjson, which writes an empty array as {}.
    if (deploy.targets?.length === 0) throw new GrapevineError('store_error', `deploy ${id} names no target hosts`);
    const results = await this.#redis
      .multi()
      .set(redisKeys.deploy(id), JSON.stringify(DeployRecordSchema.parse(deploy)))
      .zadd(redisKeys.deploys(), createdAt, id)
      .zadd(redisKeys.deploysOfRole(role), createdAt, id)
      .zadd(redisKeys.deploysOfEnv(env), createdAt, id)
      .zadd(redisKeys.deploysOfGroup(role, env), createdAt, id)
      .zadd(redisKeys.deploysInProgress(), createdAt, id)
      .sadd(redisKeys.envsOfRole(role), env)
      .set(redisKeys.desired(role, env), deploy.tag)
      .exec();
    const failure = results?.find(([error]) => error)?.[0];
    if (failure) throw failure;
  }

  /** Every environment the role was ever deployed to, sorted. */
  async envsOfRole(role: string): Promise<string[]> {
    return (await this.#redis.smembers(redisKeys.envsOfRole(role))).sort();
  }

  /** Ids of the deploys still in progress, oldest first, at most `limit`. */
  async inProgressDeployIds(limit: number): Promise<string[]> {
    return this.#redis.zrange(redisKeys.deploysInProgress(), '0', String(limit - 1));
  }

  /** Takes a deploy out of the in-progress index (one whose record is gone or already ended). */
  async dropFromInProgress(id: string): Promise<void> {
    await this.#redis.zrem(redisKeys.deploysInProgress(), id);
  }

  /** True for exactly one caller per deploy: the one that gets to promote it. */
  async claimPromotion(id: string): Promise<boolean> {
    return (await this.#redis.set(redisKeys.promotionClaim(id), String(Date.now()), 'NX')) === 'OK';
  }

  /** Records what came of a deploy's promotion; returns the record after, or undefined when unknown. */
  async annotateDeploy(id: string, fields: DeployAnnotation): Promise<DeployRecord | undefined> {
    const raw = await this.#scripts.gvAnnotateDeploy(redisKeys.deploy(id), JSON.stringify(fields));
    return raw === '' ? undefined : parseStored(DeployRecordSchema, raw, `deploy ${id}`);
  }

  async getDesiredTag(role: string, env: string): Promise<string | undefined> {
    return (await this.#redis.get(redisKeys.desired(role, env))) ?? undefined;
  }

  async getDeploy(id: string): Promise<Deploy | undefined> {
    return (await this.#readDeploys([id]))[0];
  }

  /** Deploys newest first, read through the narrowest index that covers the filter. */
  async listDeploys({ role, env, limit }: DeployFilter): Promise<Deploy[]> {
    const index =
      role !== undefined && env !== undefined
        ? redisKeys.deploysOfGroup(role, env)
        : role !== undefined
          ? redisKeys.deploysOfRole(role)
          : env !== undefined
            ? redisKeys.deploysOfEnv(env)
            : redisKeys.deploys();
    const ids = await this.#redis.zrevrange(index, 0, limit - 1);
    if (ids.length === 0) return [];
    // An index entry whose record was deleted by hand is skipped, not an error.
    return (await this.#readDeploys(ids)).filter((deploy) => deploy !== undefined);
  }

  /** Each deploy with its hosts' reports, read in one transaction; undefined where the record is gone. */
  async #readDeploys(ids: string[]): Promise<Array<Deploy | undefined>> {
    const transaction = this.#redis.multi();
    for (const id of ids) transaction.get(redisKeys.deploy(id)).hgetall(redisKeys.deployHosts(id));
    const results = (await transaction.exec()) ?? [];
    return ids.map((id, i) => {
      const [recordError, raw] = results[2 * i] ?? [];
      const [hostsError, hosts] = results[2 * i + 1] ?? [];
      if (recordError || hostsError) throw recordError ?? hostsError;
      return typeof raw === 'string' ? this.#assemble(id, raw, hosts as Record<string, string>) : undefined;
    });
  }

  /**
   * Stores `report` as the host's latest and applies it to the deploy: the first `counted` becomes
   * expectedHosts; once some host has counted down to `remaining === 0` and every expected host
   * has reported a final state, a deploy still in progress gets its outcome.
   * Returns the deploy record after the update, or undefined when the deploy is unknown.
   */
  async applyReport(id: string, report: HostReport, now: number): Promise<DeployRecord | undefined> {
    return (await this.#applyReport(id, report, now, false))?.record;
  }

  /**
   * Stores the watchdog's `lost` report for a host unless the deploy already ended or the
   * host already reported a final state itself, then finalises the deploy as applyReport does.
   * `applied` says whether the report was stored.
   */
  async applyLostReport(id: string, report: HostReport & { state: 'lost' }, now: number): Promise<{ applied: boolean; record: DeployRecord } | undefined> {
    return this.#applyReport(id, report, now, true);
  }

  async #applyReport(id: string, report: HostReport, now: number, onlyUnfinished: boolean): Promise<{ applied: boolean; record: DeployRecord } | undefined> {
    const [applied, raw] = await this.#scripts.gvApplyReport(
      redisKeys.deploy(id),
      redisKeys.deployHosts(id),
      redisKeys.deploysInProgress(),
      report.host,
      JSON.stringify(report),
      report.counted === undefined ? '' : String(report.counted),
      report.remaining === 0 ? '1' : '0',
      String(now),
      onlyUnfinished ? '1' : '0',
    );
    if (raw === '') return undefined;
    return { applied: applied === 1, record: parseStored(DeployRecordSchema, raw, `deploy ${id}`) };
  }

  /** Ends a deploy still in progress with `status`; a deploy that already ended keeps its outcome. */
  async finishDeploy(id: string, status: Exclude<Deploy['status'], 'in_progress'>, reason: string, now: number): Promise<DeployRecord | undefined> {
    const raw = await this.#scripts.gvFinishOpenDeploy(redisKeys.deploy(id), redisKeys.deploysInProgress(), status, reason, String(now), id);
    return raw === '' ? undefined : parseStored(DeployRecordSchema, raw, `deploy ${id}`);
  }

  #assemble(id: string, raw: string, hosts: Record<string, string>): Deploy {
    const record = parseStored(DeployRecordSchema, raw, `deploy ${id}`);
    const reports: Record<string, HostReport> = {};
    for (const [host, report] of Object.entries(hosts)) reports[host] = parseStored(HostReport, report, `report of ${host} on deploy ${id}`);
    return { ...record, hosts: reports };
  }
}

/** What Redis holds was written by this store; a record that no longer parses is a server fault, not bad input. */
function parseStored<T>(schema: z.ZodType<T>, raw: string, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    throw new GrapevineError('store_corrupt', `${what} in Redis is not JSON`, { cause: error });
  }
  const result = schema.safeParse(value);
  if (!result.success) throw new GrapevineError('store_corrupt', `${what} in Redis does not match its schema: ${result.error.message}`);
  return result.data;
}
