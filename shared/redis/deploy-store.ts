// The coordinator's records in Redis: published releases per role, deploys with their
// per-host reports, and the tag each role/environment should run. Every read-check-write
// is a script in ./lua (one request's WATCH would clear another's on the shared
// connection); every ioredis call goes through callRedis, so callers only ever see a
// GrapevineError. A deploy's keys share its id as hash tag (its scripts run on Redis
// Cluster); a report touches only constant-size state (reads: deploy-reads.ts).
import type { RedisClient as Redis } from './connection.js';
import type { Logger } from '../contract/logger.js';
import { GrapevineError } from '../contract/errors.js';
import { redisKeys } from '../contract/redis-keys.js';
import { within } from '../contract/waiting.js';
import { type BrokenMark, type Deploy, HostReport, Release } from '../contract/schemas.js';
import type { DeploySummary, HostDeployView, HostReportPage } from '../contract/deploy-views.js';
import type { DeployAnnotation, DeployFilter, DeployRecord, DeployStore, FinalDeployStatus, FinishedDeploy, MarkedRelease, Page, StoredReport } from '../ports/deploy-store.js';
import { RedisScripts, callRedis } from './scripts.js';
import { parseStored } from './stored-record.js';
import { DeployRecordSchema, RedisDeployReads, tallyOf } from './deploy-reads.js';

export class RedisDeployStore implements DeployStore {
  readonly #redis: Redis;
  readonly #scripts: RedisScripts;
  readonly #logger: Logger;
  readonly #reads: RedisDeployReads;

  constructor({ redis, logger }: { redis: Redis; logger: Logger }) {
    this.#redis = redis;
    this.#scripts = RedisScripts.for(redis);
    this.#reads = new RedisDeployReads(redis);
    this.#logger = logger.child({ component: 'store' });
  }

  /** True when Redis answers PING within `timeoutMs` (a dead server would otherwise queue the command). */
  async ping(timeoutMs = 2000): Promise<boolean> {
    try {
      const reply = await within(callRedis('PING', () => this.#redis.ping()), timeoutMs);
      return reply === 'PONG';
    } catch (error) {
      this.#logger.warn({ err: error }, 'redis did not answer PING');
      return false;
    }
  }

  /**
   * Records a release unless its role already has that tag; either way returns what is stored,
   * so the caller can tell an idempotent republish from a clash.
   */
  async publishRelease(release: Release): Promise<{ created: boolean; release: Release }> {
    const key = redisKeys.releases(release.role);
    const created = await callRedis('publishing a release', () => this.#redis.hsetnx(key, release.tag, JSON.stringify(release)));
    if (created === 1) return { created: true, release };
    const existing = await this.getRelease(release.role, release.tag);
    if (!existing) throw new GrapevineError('store_error', `release ${release.role}:${release.tag} vanished while it was published`);
    return { created: false, release: existing };
  }

  async getRelease(role: string, tag: string): Promise<Release | undefined> {
    const raw = await callRedis('reading a release', () => this.#redis.hget(redisKeys.releases(role), tag));
    return raw === null ? undefined : parseStored(Release, raw, `release ${role}:${tag}`);
  }

  /** Every release of the role, newest first. */
  async listReleases(role: string): Promise<Release[]> {
    const all = await callRedis('listing releases', () => this.#redis.hgetall(redisKeys.releases(role)));
    return Object.entries(all)
      .map(([tag, raw]) => parseStored(Release, raw, `release ${role}:${tag}`))
      .sort((a, b) => b.publishedAt - a.publishedAt || b.tag.localeCompare(a.tag));
  }

  async newestRelease(role: string): Promise<Release | undefined> {
    return (await this.listReleases(role))[0];
  }

  /** Marks a release broken unless it already is (the first mark stays); returns the release as stored, or undefined when unknown. */
  async markReleaseBroken(role: string, tag: string, mark: BrokenMark): Promise<MarkedRelease | undefined> {
    const what = `release ${role}:${tag}`;
    const outcome = await this.#scripts.run('markReleaseBroken', [redisKeys.releases(role)], [tag, JSON.stringify(mark)], what);
    return outcome && { marked: outcome.marked, release: parseStored(Release, outcome.release, what) };
  }

  /** Stores a new deploy with the next sequence number of its group, indexes it and makes its tag the desired one (a catch-up's is already). */
  async createDeploy(deploy: DeployRecord): Promise<DeployRecord> {
    const { id, role, env, createdAt } = deploy;
    // The scripts re-encode the record with cjson, which writes an empty array as {}.
    if (deploy.targets?.length === 0) throw new GrapevineError('store_error', `deploy ${id} names no target hosts`);
    // A number lost to a failed write below leaves a gap, which orders just as well.
    const seq = await callRedis(`numbering deploy ${id}`, () => this.#redis.incr(redisKeys.deploySeq(role, env)));
    const stored = DeployRecordSchema.parse({ ...deploy, seq });
    const record = JSON.stringify(stored);
    const targets = stored.targets ?? [];
    await callRedis(`creating deploy ${id}`, async () => {
      // The deploy's own keys in one transaction (one hash tag); the indexes after, each on its own.
      const own = this.#redis
        .multi()
        .set(redisKeys.deploy(id), record)
        .hset(redisKeys.deployMeta(id), { status: stored.status, rev: 0, targets: targets.length, targetsEnded: 0 });
      if (targets.length > 0) own.sadd(redisKeys.deployTargets(id), ...targets);
      const results = await own.exec();
      const failure = results?.find(([error]) => error)?.[0];
      if (failure) throw failure;
      // An index entry is written only once its record exists: a list never meets a missing one it must explain.
      await Promise.all([
        this.#redis.zadd(redisKeys.deploys(), createdAt, id),
        this.#redis.zadd(redisKeys.deploysOfRole(role), createdAt, id),
        this.#redis.zadd(redisKeys.deploysOfEnv(env), createdAt, id),
        this.#redis.zadd(redisKeys.deploysOfGroup(role, env), createdAt, id),
        this.#redis.zadd(redisKeys.deploysInProgress(), createdAt, id),
        this.#redis.sadd(redisKeys.envsOfRole(role), env),
        // A catch-up brings one host to the rollout's tag: a rollout created meanwhile stays the desired one.
        ...(stored.catchUpOf === undefined ? [this.#redis.set(redisKeys.desired(role, env), deploy.tag)] : []),
      ]);
    });
    return stored;
  }

  /** Every environment the role was ever deployed to, sorted. */
  async envsOfRole(role: string): Promise<string[]> {
    return (await callRedis('reading the environments of a role', () => this.#redis.smembers(redisKeys.envsOfRole(role)))).sort();
  }

  /** Ids of the deploys still in progress, oldest first, at most `limit`. */
  inProgressDeployIds(limit: number): Promise<string[]> {
    return callRedis('listing deploys in progress', () => this.#redis.zrange(redisKeys.deploysInProgress(), '0', String(limit - 1)));
  }

  /** Takes a deploy out of the in-progress index (one whose record is gone or already ended). */
  async dropFromInProgress(id: string): Promise<void> {
    await callRedis('dropping a deploy from the in-progress index', () => this.#redis.zrem(redisKeys.deploysInProgress(), id));
  }

  /** True for exactly one caller per deploy: the one that gets to promote it. */
  async claimPromotion(id: string): Promise<boolean> {
    const reply = await callRedis(`claiming the promotion of deploy ${id}`, () => this.#redis.set(redisKeys.promotionClaim(id), String(Date.now()), 'NX'));
    return reply === 'OK';
  }

  /** Records what came of a deploy's promotion; returns the record after, or undefined when unknown. */
  async annotateDeploy(id: string, fields: DeployAnnotation): Promise<DeployRecord | undefined> {
    const what = `deploy ${id}`;
    const raw = await this.#scripts.run('annotateDeploy', [redisKeys.deploy(id), redisKeys.deployMeta(id)], [JSON.stringify(fields)], what);
    return raw === undefined ? undefined : parseStored(DeployRecordSchema, raw, what);
  }

  async setDesiredTag(role: string, env: string, tag: string): Promise<void> {
    await callRedis('setting the desired tag', () => this.#redis.set(redisKeys.desired(role, env), tag));
  }

  async getDesiredTag(role: string, env: string): Promise<string | undefined> {
    return (await callRedis('reading the desired tag', () => this.#redis.get(redisKeys.desired(role, env)))) ?? undefined;
  }

  getDeploy(id: string): Promise<Deploy | undefined> {
    return this.#reads.getDeploy(id);
  }

  listDeploys(filter: DeployFilter): Promise<Deploy[]> {
    return this.#reads.listDeploys(filter);
  }

  getRecord(id: string): Promise<DeployRecord | undefined> {
    return this.#reads.getRecord(id);
  }

  getSummary(id: string): Promise<DeploySummary | undefined> {
    return this.#reads.getSummary(id);
  }

  getHostView(id: string, host: string): Promise<HostDeployView | undefined> {
    return this.#reads.getHostView(id, host);
  }

  listSummaries(filter: DeployFilter & { cursor?: string | undefined; host?: string | undefined }): Promise<Page<DeploySummary | HostDeployView>> {
    return this.#reads.listSummaries(filter);
  }

  hostReports(id: string, page: { limit: number; cursor?: string | undefined }): Promise<HostReportPage | undefined> {
    return this.#reads.hostReports(id, page);
  }

  unsuccessfulReports(id: string): Promise<HostReport[]> {
    return this.#reads.unsuccessfulReports(id);
  }

  /**
   * Stores `report` as the host's latest: the first `counted` becomes expectedHosts, a
   * `remaining` of 0 marks the deploy counted down. Whether that ends the deploy is the
   * coordinator's rule. Undefined when the deploy is unknown.
   */
  applyReport(id: string, report: HostReport, now: number): Promise<StoredReport | undefined> {
    return this.#applyReport(id, report, now, false);
  }

  /** As applyReport, for the watchdog's `lost` report: held back when the deploy ended or the host reported an end itself. */
  applyLostReport(id: string, report: HostReport & { state: 'lost' }, now: number): Promise<StoredReport | undefined> {
    return this.#applyReport(id, report, now, true);
  }

  async #applyReport(id: string, report: HostReport, now: number, lost: boolean): Promise<StoredReport | undefined> {
    const what = `deploy ${id}`;
    const outcome = await this.#scripts.run(
      'applyReport',
      [redisKeys.deployMeta(id), redisKeys.deployHosts(id), redisKeys.deployCounts(id), redisKeys.deployTargets(id), redisKeys.deployUnsuccessful(id)],
      [
        report.host,
        storedReport(report),
        report.state,
        report.counted === undefined ? '' : report.counted,
        report.remaining === 0 ? '1' : '0',
        now,
        lost ? '1' : '0',
      ],
      what,
    );
    if (!outcome) return undefined;
    const cached = await this.#reads.record(id, outcome.rev);
    if (!cached) return undefined;
    return {
      applied: outcome.applied,
      // Shallow: the parse stays shared with the cache, the record gains what the meta hash holds.
      record: outcome.expectedHosts === undefined || cached.record.expectedHosts !== undefined ? cached.record : { ...cached.record, expectedHosts: outcome.expectedHosts },
      // Stored as sent when applied; a held-back report leaves the one stored before.
      ...(outcome.applied ? { report } : outcome.stored === undefined ? {} : { report: parseStored(HostReport, outcome.stored, `report of ${report.host} on ${what}`) }),
      tally: tallyOf(outcome, outcome.counts),
      countedDown: outcome.countedDown,
    };
  }

  /** Ends a deploy still in progress with `status` (and `reason`, unless it succeeded); a deploy that already ended keeps its outcome. */
  async finishDeploy(id: string, status: FinalDeployStatus, reason: string | undefined, now: number): Promise<FinishedDeploy | undefined> {
    const what = `deploy ${id}`;
    const stored = status === 'succeeded' ? '' : (reason ?? '');
    const outcome = await this.#scripts.run('finishDeploy', [redisKeys.deploy(id), redisKeys.deployMeta(id)], [status, stored, now], what);
    // The index has another hash tag; a deploy left in it after a failure here is dropped by the watchdog, which finds it ended.
    await this.dropFromInProgress(id);
    return outcome && { finished: outcome.finished, record: parseStored(DeployRecordSchema, outcome.record, what) };
  }
}

/** A report as stored, its state first: the report script reads a stored report's state off its front, without decoding it. */
function storedReport({ state, ...rest }: HostReport): string {
  return JSON.stringify({ state, ...rest });
}
