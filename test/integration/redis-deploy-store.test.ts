// The coordinator's store on a real Redis: what its scripts keep, what they hand back,
// and what a caller sees when a record is corrupt or Redis is gone.

import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GrapevineError, UnreachableError } from '../../shared/contract/errors.js';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import type { HostReport } from '../../shared/contract/schemas.js';
import type { DeployAnnotation, DeployRecord } from '../../shared/ports/deploy-store.js';
import { RedisDeployStore } from '../../shared/redis/deploy-store.js';
import { redisForThisFile, startOwnRedis, type OwnRedisInstance } from '../fixtures/redis-server.js';

const silent = pino({ level: 'silent' });
const redis = redisForThisFile();
let store: RedisDeployStore;

beforeAll(() => {
  store = new RedisDeployStore({ redis: redis.client, logger: silent });
});

let serial = 0;
/** A fresh deploy of web/production, in progress, expecting `targets`. */
async function newDeploy(targets = ['h1', 'h2']): Promise<DeployRecord> {
  const record: DeployRecord = {
    id: `d-store${String(++serial).padStart(4, '0')}`,
    role: 'web',
    env: 'production',
    tag: 'v1',
    image: '127.0.0.1:5000/web:v1',
    status: 'in_progress',
    createdAt: 1_700_000_000_000 + serial,
    targets,
  };
  await store.createDeploy(record);
  return record;
}

function report(host: string, state: HostReport['state'], extra: Partial<HostReport> = {}): HostReport {
  return { host, state, steps: [{ step: 'received', at: 1_700_000_000_100 }], ...extra };
}

const inProgress = () => redis.client.zrange(redisKeys.deploysInProgress(), '0', '-1');

describe('the deploy store on a real Redis', () => {
  it("stores each report as the host's latest and hands back the deploy's counts, never every host", async () => {
    const deploy = await newDeploy();

    const first = await store.applyReport(deploy.id, report('h1', 'deploying', { counted: 2 }), 1_000);
    expect(first).toMatchObject({ applied: true, countedDown: false, record: { status: 'in_progress', expectedHosts: 2 } });
    expect(first?.report?.state).toBe('deploying');
    expect(first?.tally).toEqual({ counts: { deploying: 1 }, reported: 1, targets: 2, targetsEnded: 0, expectedHosts: 2 });

    // Only the first count becomes expectedHosts.
    const second = await store.applyReport(deploy.id, report('h2', 'deploying', { counted: 3 }), 1_001);
    expect(second?.record.expectedHosts).toBe(2);

    const h1Done = await store.applyReport(deploy.id, report('h1', 'succeeded', { remaining: 1 }), 1_002);
    expect(h1Done).toMatchObject({ applied: true, countedDown: false });

    // The store decides nothing: counted down, every host final, and still in progress until the coordinator finishes it.
    const last = await store.applyReport(deploy.id, report('h2', 'succeeded', { remaining: 0 }), 1_003);
    expect(last?.countedDown).toBe(true);
    expect(last?.record.status).toBe('in_progress');
    expect(last?.tally).toEqual({ counts: { succeeded: 2 }, reported: 2, targets: 2, targetsEnded: 2, expectedHosts: 2 });
    expect(last?.report).toEqual(report('h2', 'succeeded', { remaining: 0 }));

    // A repeated report moves no count.
    const again = await store.applyReport(deploy.id, report('h1', 'succeeded', { remaining: 0 }), 1_004);
    expect(again?.countedDown).toBe(true);
    expect(again?.tally).toEqual({ counts: { succeeded: 2 }, reported: 2, targets: 2, targetsEnded: 2, expectedHosts: 2 });

    const read = await store.getDeploy(deploy.id);
    expect(read?.hosts.h2?.state).toBe('succeeded');
    expect(read?.expectedHosts).toBe(2);
    expect(await store.applyReport('d-unknown01', report('h1', 'deploying'), 1_005)).toBeUndefined();
  });

  it("holds the watchdog's lost report back when the host reported an end itself, and when the deploy has ended", async () => {
    const deploy = await newDeploy(['h1', 'h2', 'h3']);
    await store.applyReport(deploy.id, report('h1', 'failed', { error: 'health check failed' }), 1_000);
    await store.applyReport(deploy.id, report('h2', 'deploying'), 1_000);

    const afterFinal = await store.applyLostReport(deploy.id, { ...report('h1', 'lost'), state: 'lost' }, 2_000);
    expect(afterFinal?.applied).toBe(false);
    expect((await store.getDeploy(deploy.id))?.hosts.h1?.state).toBe('failed');

    // A host still deploying is counted out.
    const lost = await store.applyLostReport(deploy.id, { ...report('h2', 'lost', { remaining: 1 }), state: 'lost' }, 2_001);
    expect(lost?.applied).toBe(true);
    expect((await store.getDeploy(deploy.id))?.hosts.h2?.state).toBe('lost');

    await store.finishDeploy(deploy.id, 'failed', 'host h1 failed: health check failed', 3_000);
    const afterEnd = await store.applyLostReport(deploy.id, { ...report('h3', 'lost', { remaining: 0 }), state: 'lost' }, 3_001);
    expect(afterEnd).toMatchObject({ applied: false, record: { status: 'failed' } });
    expect((await store.getDeploy(deploy.id))?.hosts.h3).toBeUndefined();
  });

  it('finishes a deploy once: the first outcome stays, and a success stores no reason', async () => {
    const failed = await newDeploy();
    expect(await inProgress()).toContain(failed.id);
    const first = await store.finishDeploy(failed.id, 'failed', 'host h1 failed: boom', 5_000);
    expect(first).toMatchObject({ finished: true, record: { status: 'failed', reason: 'host h1 failed: boom', finishedAt: 5_000 } });
    expect(await inProgress()).not.toContain(failed.id);

    const second = await store.finishDeploy(failed.id, 'succeeded', undefined, 6_000);
    expect(second).toMatchObject({ finished: false, record: { status: 'failed', reason: 'host h1 failed: boom', finishedAt: 5_000 } });
    expect(await store.getDeploy(failed.id)).toMatchObject({ status: 'failed', finishedAt: 5_000 });

    const succeeded = await newDeploy();
    const done = (await store.finishDeploy(succeeded.id, 'succeeded', 'a reason that must not be kept', 7_000))?.record;
    expect(done).toMatchObject({ status: 'succeeded', finishedAt: 7_000 });
    expect(done?.reason).toBeUndefined();
    expect(await store.finishDeploy('d-unknown02', 'failed', 'x', 7_000)).toBeUndefined();
  });

  it('keeps the first broken mark of a release', async () => {
    await store.publishRelease({ role: 'web', tag: 'v7', image: '127.0.0.1:5000/web:v7', publishedAt: 1 });
    const first = await store.markReleaseBroken('web', 'v7', { reason: 'health check failed', by: 'h1', at: 10 });
    expect(first).toEqual({ marked: true, release: expect.objectContaining({ broken: { reason: 'health check failed', by: 'h1', at: 10 } }) });
    const second = await store.markReleaseBroken('web', 'v7', { reason: 'stood down', by: 'h6', at: 20 });
    expect(second).toEqual({ marked: false, release: expect.objectContaining({ broken: { reason: 'health check failed', by: 'h1', at: 10 } }) });
    expect((await store.getRelease('web', 'v7'))?.broken?.by).toBe('h1');
    expect(await store.markReleaseBroken('web', 'v-none', { reason: 'x', by: 'h1', at: 1 })).toBeUndefined();
  });

  it("annotates a deploy without touching its identity or outcome", async () => {
    const deploy = await newDeploy();
    await store.finishDeploy(deploy.id, 'succeeded', undefined, 8_000);
    // More than the type admits, as a careless caller could send: the script keeps the outcome anyway.
    const fields = { promotedTo: 'd-next0001', status: 'failed', reason: 'overwritten', finishedAt: 1, id: 'd-other001', expectedHosts: 99 };
    const annotated = await store.annotateDeploy(deploy.id, fields as DeployAnnotation);
    expect(annotated).toMatchObject({ id: deploy.id, status: 'succeeded', finishedAt: 8_000, promotedTo: 'd-next0001' });
    expect(annotated?.reason).toBeUndefined();
    expect(annotated?.expectedHosts).toBeUndefined();
    expect(await store.annotateDeploy(deploy.id, { promotion: { error: 'staging env missing' } })).toMatchObject({
      status: 'succeeded',
      promotedTo: 'd-next0001',
      promotion: { error: 'staging env missing' },
    });
    expect(await store.annotateDeploy('d-unknown03', { promotedTo: 'd-next0001' })).toBeUndefined();
  });

  it('reports a record that no longer parses as store_corrupt, from every path that reads it', async () => {
    const deploy = await newDeploy();
    await redis.client.set(redisKeys.deploy(deploy.id), '{not json');
    const corrupt = { name: 'GrapevineError', code: 'store_corrupt' };
    await expect(store.getDeploy(deploy.id)).rejects.toMatchObject(corrupt);
    await expect(store.applyReport(deploy.id, report('h1', 'deploying'), 1)).rejects.toMatchObject(corrupt);
    await expect(store.finishDeploy(deploy.id, 'failed', 'x', 1)).rejects.toMatchObject(corrupt);
    await expect(store.annotateDeploy(deploy.id, { promotedTo: 'd-next0001' })).rejects.toMatchObject(corrupt);

    const other = await newDeploy();
    await redis.client.hset(redisKeys.deployHosts(other.id), 'h1', 'garbage');
    await expect(store.applyLostReport(other.id, { ...report('h1', 'lost'), state: 'lost' }, 1)).rejects.toMatchObject(corrupt);
    await expect(store.getDeploy(other.id)).rejects.toMatchObject(corrupt);

    await redis.client.hset(redisKeys.releases('web'), 'v-bad', '[1,2');
    await expect(store.getRelease('web', 'v-bad')).rejects.toMatchObject(corrupt);
    await expect(store.markReleaseBroken('web', 'v-bad', { reason: 'x', by: 'h1', at: 1 })).rejects.toMatchObject(corrupt);
  });
});

describe('the deploy store when Redis has stopped', () => {
  let own: OwnRedisInstance;
  let client: Redis;

  beforeAll(async () => {
    own = await startOwnRedis();
    // The coordinator's own client options.
    client = new Redis(own.url, { maxRetriesPerRequest: 3 });
    client.on('error', () => undefined);
  });

  afterAll(async () => {
    client?.disconnect();
    await own?.[Symbol.asyncDispose]();
  });

  it('every call fails with an UnreachableError, and ping says no', async () => {
    const gone = new RedisDeployStore({ redis: client, logger: silent });
    const deploy = await newDeployOn(gone);
    await own.stop();

    const calls: Array<[string, () => Promise<unknown>]> = [
      ['getDeploy', () => gone.getDeploy(deploy.id)],
      ['listDeploys', () => gone.listDeploys({ limit: 10 })],
      ['applyReport', () => gone.applyReport(deploy.id, report('h1', 'deploying'), 1)],
      ['finishDeploy', () => gone.finishDeploy(deploy.id, 'failed', 'x', 1)],
      ['publishRelease', () => gone.publishRelease({ role: 'web', tag: 'v1', image: '127.0.0.1:5000/web:v1', publishedAt: 1 })],
      ['createDeploy', () => gone.createDeploy({ ...deploy, id: 'd-gone0001' })],
    ];
    // Side by side: each call waits out the client's reconnect attempts before it gives up.
    const failures = await Promise.all(
      calls.map(([name, call]) =>
        call().then(
          () => new Error(`${name} succeeded with Redis stopped`),
          (failure: unknown) => failure,
        ),
      ),
    );
    for (const [i, error] of failures.entries()) {
      const name = calls[i]![0];
      expect(error, name).toBeInstanceOf(UnreachableError);
      expect(error, name).toBeInstanceOf(GrapevineError);
    }
    expect(await gone.ping(1_000)).toBe(false);
  });
});

async function newDeployOn(target: RedisDeployStore): Promise<DeployRecord> {
  const record: DeployRecord = {
    id: 'd-stopped01',
    role: 'web',
    env: 'production',
    tag: 'v1',
    image: '127.0.0.1:5000/web:v1',
    status: 'in_progress',
    createdAt: 1,
    targets: ['h1'],
  };
  await target.createDeploy(record);
  return record;
}
