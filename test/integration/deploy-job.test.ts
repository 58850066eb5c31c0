// The once-per-deploy job over a real redis-server and real `docker compose run`: six hosts
// (each with its own Redis connection) ask at once and exactly one runs the job; the others
// get its outcome; a failure is recorded with its output and breaks the release; a runner
// whose lease lapses leaves the job to another host, and records nothing once it lost it.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { DeployJob, type JobGate, type JobProgress } from '../../agent/deploy/deploy-job.js';
import { RedisJobLocks } from '../../shared/redis/job-lock.js';
import { RedisFleetState } from '../../shared/redis/fleet-state.js';
import { DockerComposeJobs } from '../../shared/docker/compose-job.js';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import { JobRecord, type Deploy } from '../../shared/contract/schemas.js';
import type { RoleConfig } from '../../shared/contract/role-config.js';
import { startRedis, type RedisInstance } from '../fixtures/redis-server.js';
import { until } from '../fixtures/poll.js';

const logger = pino({ level: 'silent' });
const IMAGE = 'grapevine-base:bookworm';
const HOSTS = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6'];
const PROJECT = 'gvtest-job-it';

let server: RedisInstance;
let admin: Redis;
const clients: Redis[] = [];
let dir: string;
let roles: Record<string, RoleConfig>;

beforeAll(async () => {
  server = await startRedis();
  admin = connect();
  dir = mkdtempSync(join(tmpdir(), `${PROJECT}-`));
  const jobs = join(dir, 'jobs');
  const compose = join(dir, 'compose.yml');
  writeFileSync(
    compose,
    toYaml({
      services: {
        migrate: {
          image: '${GRAPEVINE_IMAGE:?set by the agent}',
          profiles: ['job'],
          network_mode: 'none',
          entrypoint: ['/bin/sh', '-c'],
          // One line per run, then a failure for the tag `bad` (and a pause for `slow`).
          command: ['echo "$$DEPLOY_ID $$NODE" >> /jobs/runs.log && echo "migrated $$DEPLOY_ID" && if [ "$$TAG" = slow ]; then sleep 2; fi && test "$$TAG" != bad'],
          environment: { DEPLOY_ID: '${GRAPEVINE_DEPLOY_ID:-none}', TAG: '${GRAPEVINE_TAG:-none}', NODE: '${GRAPEVINE_NODE:-none}' },
          volumes: [`${jobs}:/jobs`],
        },
      },
    }),
  );
  // The job container may write as another user; the folder is the test's own temporary one.
  mkdirSync(jobs);
  chmodSync(jobs, 0o777);
  roles = { web: { compose, service: 'app', project: PROJECT, job: { service: 'migrate', timeoutMs: 60_000 } } as unknown as RoleConfig };
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
  await server?.[Symbol.asyncDispose]();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function connect(): Redis {
  const client = new Redis(server.url, { maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  clients.push(client);
  return client;
}

function deployOf(id: string, tag: string): Deploy {
  const now = Date.now();
  return { id, role: 'web', env: 'production', tag, image: IMAGE, status: 'in_progress', createdAt: now, deadlineAt: now + 120_000, hosts: {}, targets: HOSTS };
}

/** One host's agent side of the job: its own Redis connection, the real lock, the real compose run. */
function hostJob(node: string, options: { ttlMs?: number; pollMs?: number } = {}) {
  const redis = connect();
  const records: Array<JobRecord | undefined> = [];
  const progress: JobProgress = { step: () => undefined, job: (record) => void records.push(record) };
  const job = new DeployJob({
    node,
    jobs: { web: { service: 'migrate', timeoutMs: 60_000 } },
    locks: new RedisJobLocks({ redis, ttlMs: options.ttlMs ?? 3_000 }),
    container: new DockerComposeJobs({ node, roles, dockerSocket: '/var/run/docker.sock' }),
    // The image is local (no registry in this test): nothing to pull.
    runtime: { pull: async () => undefined },
    fleet: new RedisFleetState({ redis, host: node, logger }),
    pollMs: options.pollMs ?? 100,
  });
  return { node, job, records, progress, redis };
}

function runsOf(deployId: string): string[] {
  const file = join(dir, 'jobs', 'runs.log');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter((line) => line.startsWith(`${deployId} `));
}

async function outcomeOf(deployId: string): Promise<JobRecord | null> {
  const raw = await admin.get(redisKeys.job('web', 'production', deployId));
  return raw === null ? null : JobRecord.parse(JSON.parse(raw));
}

describe('the once-per-deploy job on real Redis and Docker', () => {
  it('six hosts ask at once: exactly one runs the job, every host proceeds on its recorded success', async () => {
    const deploy = deployOf('d-job00001', 'v2');
    const hosts = HOSTS.map((node) => hostJob(node));
    const gates = await Promise.all(hosts.map((h) => h.job.beforeSlot(deploy, h.progress, AbortSignal.timeout(60_000), logger)));
    expect(gates).toEqual(HOSTS.map(() => ({ kind: 'proceed' })));
    const runs = runsOf(deploy.id);
    expect(runs).toHaveLength(1);
    const outcome = await outcomeOf(deploy.id);
    expect(outcome).toMatchObject({ state: 'succeeded', service: 'migrate', attempt: 1, exitCode: 0 });
    expect(runs[0]).toBe(`${deploy.id} ${outcome?.host}`);
    expect(outcome?.output).toContain(`migrated ${deploy.id}`);
    // Only the runner reports the job; its lease is gone once the outcome is recorded.
    expect(hosts.filter((h) => h.records.length > 0).map((h) => h.node)).toEqual([outcome?.host]);
    expect(await admin.exists(redisKeys.jobLock('web', 'production', deploy.id))).toBe(0);
    // A host that restarts and asks again gets the outcome; the job does not run twice.
    const late = hostJob('h1');
    expect(await late.job.beforeSlot(deploy, late.progress, AbortSignal.timeout(10_000), logger)).toEqual({ kind: 'proceed' });
    expect(runsOf(deploy.id)).toHaveLength(1);
  });

  it('a failing job is recorded with its output and runner, breaks the release, and every host stands down', async () => {
    const deploy = deployOf('d-job00002', 'bad');
    const hosts = HOSTS.map((node) => hostJob(node));
    const gates = await Promise.all(hosts.map((h) => h.job.beforeSlot(deploy, h.progress, AbortSignal.timeout(60_000), logger)));
    const outcome = await outcomeOf(deploy.id);
    expect(outcome).toMatchObject({ state: 'failed', exitCode: 1, attempt: 1 });
    expect(outcome?.output).toContain(`migrated ${deploy.id}`);
    expect(runsOf(deploy.id)).toHaveLength(1);
    const failed = gates.filter((g): g is Extract<JobGate, { kind: 'stand-down' }> => g.kind === 'stand-down' && g.state === 'failed');
    expect(failed).toEqual([{ kind: 'stand-down', state: 'failed', reason: `job migrate failed: exited with code 1: migrated ${deploy.id}` }]);
    const others = gates.filter((g) => g.kind === 'stand-down' && g.state === 'cancelled');
    expect(others).toHaveLength(5);
    for (const gate of others) expect(gate).toMatchObject({ reason: `job migrate failed on ${outcome?.host}: exited with code 1: migrated ${deploy.id}` });
    const fleet = new RedisFleetState({ redis: admin, logger });
    expect(await fleet.brokenReason({ role: 'web', env: 'production' }, 'bad')).toContain('job migrate failed');
    await admin.del(redisKeys.broken('web', 'production', 'bad'));
  });

  it("a runner whose lease lapses (its host died) leaves the job to a waiting host, which runs it again as attempt 2", async () => {
    const deploy = deployOf('d-job00003', 'v2');
    // The dead host: it took the lease, then its connection went away, so nobody renews it.
    const deadRedis = connect();
    const dead = await new RedisJobLocks({ redis: deadRedis, ttlMs: 1_000 }).claim({ group: { role: 'web', env: 'production' }, deployId: deploy.id, tag: 'v2', holder: 'h6', logger });
    expect(dead.kind).toBe('claimed');
    deadRedis.disconnect();
    const waiter = hostJob('h2', { ttlMs: 1_000, pollMs: 100 });
    const gate = await waiter.job.beforeSlot(deploy, waiter.progress, AbortSignal.timeout(30_000), logger);
    expect(gate).toEqual({ kind: 'proceed' });
    expect(await outcomeOf(deploy.id)).toMatchObject({ state: 'succeeded', host: 'h2', attempt: 2 });
    expect(runsOf(deploy.id)).toEqual([`${deploy.id} h2`]);
    if (dead.kind === 'claimed') await until('the dead runner to find its lease lost', () => (dead.lease.signal.aborted ? true : undefined), { timeoutMs: 5_000 });
  });

  it('records nothing once its lease was taken over: the fence keeps the outcome of the host that holds the job', async () => {
    const deploy = deployOf('d-job00004', 'v2');
    const group = { role: 'web', env: 'production' };
    const first = await new RedisJobLocks({ redis: connect(), ttlMs: 5_000 }).claim({ group, deployId: deploy.id, tag: 'v2', holder: 'h1', logger });
    if (first.kind !== 'claimed') throw new Error(`expected the lease, got ${first.kind}`);
    // As if its lease had lapsed while the host was cut off: another host takes the job.
    await admin.del(redisKeys.jobLock('web', 'production', deploy.id));
    const second = await new RedisJobLocks({ redis: connect(), ttlMs: 5_000 }).claim({ group, deployId: deploy.id, tag: 'v2', holder: 'h2', logger });
    if (second.kind !== 'claimed') throw new Error(`expected the lease, got ${second.kind}`);
    const base = { service: 'migrate', startedAt: Date.now(), endedAt: Date.now() } as const;
    expect(await first.lease.record({ ...base, host: 'h1', attempt: 1, state: 'failed', error: 'late' })).toBe(false);
    expect(await second.lease.record({ ...base, host: 'h2', attempt: second.lease.attempt, state: 'succeeded' })).toBe(true);
    expect(await outcomeOf(deploy.id)).toMatchObject({ host: 'h2', state: 'succeeded', attempt: 2 });
  });

  it('a host waiting for the job stands down when the deploy is stopped', async () => {
    const deploy = deployOf('d-job00005', 'slow');
    const runner = hostJob('h1');
    const waiter = hostJob('h2');
    const running = runner.job.beforeSlot(deploy, runner.progress, AbortSignal.timeout(60_000), logger);
    await until('h1 to hold the job', async () => ((await admin.get(redisKeys.jobLock('web', 'production', deploy.id)))?.startsWith('h1/') ? true : undefined));
    const waiting = waiter.job.beforeSlot(deploy, waiter.progress, AbortSignal.timeout(60_000), logger);
    await new RedisFleetState({ redis: admin, logger }).stopDeploy({ role: 'web', env: 'production' }, deploy.id, 'past its deadline');
    expect(await waiting).toMatchObject({ kind: 'stand-down', state: 'cancelled', reason: expect.stringContaining('stopped') });
    expect(await running).toEqual({ kind: 'proceed' });
  });
});
