// What the coordinator keeps of the once-per-deploy job, on an in-memory store: a rollback
// is recorded not to run it unless asked, the job a host reports becomes the deploy's, a
// late report of a lapsed runner never hides the outcome, and how `status` prints it.
import { beforeEach, describe, expect, it } from 'vitest';
import type { Deploy, JobRecord } from '../../shared/contract/schemas.js';
import { jobToKeep } from '../../coordinator/job-record.js';
import { jobLines } from '../../cli/job-lines.js';
import { RecordingFleet } from '../fixtures/coordinator-fakes.js';
import { CoordinatorHarness } from '../fixtures/coordinator-harness.js';
import { InMemoryDeployStore } from '../fixtures/in-memory-deploy-store.js';

let store: InMemoryDeployStore;
let coordinator: CoordinatorHarness;

beforeEach(() => {
  store = new InMemoryDeployStore();
  coordinator = new CoordinatorHarness({ store, fleet: new RecordingFleet() });
});

const job = (extra: Partial<JobRecord> = {}): JobRecord => ({ service: 'migrate', host: 'h2', state: 'running', attempt: 1, startedAt: 10, ...extra });

async function succeeded(tag: string): Promise<void> {
  await coordinator.publish('web', tag);
  await coordinator.succeedEverywhere(await coordinator.deploy('web', 'production', tag));
}

describe('a rollback and the job', () => {
  it('records runJob false on a rollback unless asked, true with runJob, and nothing on a CI deploy', async () => {
    await succeeded('v1');
    await succeeded('v2');
    const ci = (await store.getDeploy((await store.listDeploys({ limit: 1 }))[0]!.id))!;
    expect(ci.runJob).toBeUndefined();
    const plain = await coordinator.call('POST', '/v1/rollbacks', { role: 'web', env: 'production' });
    expect(plain.status, JSON.stringify(plain.body)).toBe(201);
    expect(plain.body).toMatchObject({ tag: 'v1', rollbackOf: 'v2', runJob: false });
    const asked = await coordinator.call('POST', '/v1/rollbacks', { role: 'web', env: 'production', runJob: true });
    expect(asked.body).toMatchObject({ tag: 'v2', rollbackOf: 'v1', runJob: true });
    expect((await store.getDeploy(asked.body.id))?.runJob).toBe(true);
  });

  it('refuses a runJob that is not a boolean, naming it', async () => {
    await succeeded('v1');
    const answer = await coordinator.call('POST', '/v1/rollbacks', { role: 'web', env: 'production', runJob: 'yes' });
    expect(answer.status).toBe(400);
    expect(answer.body.error.message).toMatch(/runJob/);
  });
});

describe('the job a host reports', () => {
  it('becomes the deploy\'s job, from running to its outcome, and shows in status', async () => {
    await coordinator.publish('web', 'v1');
    const created = await coordinator.deploy('web', 'production', 'v1');
    await coordinator.report(created.id, 'h2', 'waiting', { counted: 3, job: job() });
    expect((await coordinator.getDeploy(created.id)).job).toEqual(job());
    const done = job({ state: 'succeeded', endedAt: 1_530, exitCode: 0, output: 'applied 0042\napplied 0043' });
    await coordinator.report(created.id, 'h2', 'deploying', { counted: 3, job: done });
    const deploy = await coordinator.getDeploy(created.id);
    expect(deploy.job).toEqual(done);
    expect(jobLines(deploy)).toEqual(['  job          migrate succeeded on h2 in 1.52 s, exit 0', '    | applied 0042', '    | applied 0043']);
  });

  it('keeps the newest attempt and an outcome over a late report of a runner whose lease lapsed', () => {
    const taken = job({ host: 'h3', attempt: 2 });
    expect(jobToKeep(undefined, job())).toEqual(job());
    expect(jobToKeep(job(), taken)).toEqual(taken);
    expect(jobToKeep(taken, job())).toBeUndefined();
    expect(jobToKeep(job({ state: 'succeeded' }), job())).toBeUndefined();
    expect(jobToKeep(job(), job({ state: 'failed', error: 'exited with code 1' }))?.state).toBe('failed');
    expect(jobToKeep(job(), job())).toBeUndefined();
    expect(jobToKeep(job(), undefined)).toBeUndefined();
  });

  it('status says when a deploy skipped the job, and shows a taken-over failure with its error', () => {
    const base = { id: 'd-x', role: 'web', env: 'production', tag: 'v1', image: 'r/web:v1', status: 'failed', createdAt: 0, hosts: {} } as Deploy;
    expect(jobLines({ ...base, runJob: false })).toEqual(['  job          not run by this deploy (a rollback runs it only with --run-job)']);
    expect(jobLines(base)).toEqual([]);
    const failed = jobLines({ ...base, job: job({ state: 'failed', attempt: 2, endedAt: 2_010, exitCode: 1, error: 'exited with code 1: boom', output: 'boom' }) });
    expect(failed[0]).toBe('  job          migrate failed on h2 in 2.00 s, exit 1 (attempt 2: taken over)  (exited with code 1: boom)');
  });
});
