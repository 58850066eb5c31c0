// The once-per-deploy job's rules with fakes for the lock and the container: who runs it,
// who waits, what a failure, a lost lease or a stopped deploy does, and that the deploy
// runner asks for the job before it takes a slot and stands down without one when told.
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { DeployJob, type JobProgress } from '../../agent/deploy/deploy-job.js';
import { DeployRunner } from '../../agent/deploy/deploy-runner.js';
import type { JobClaim, JobContainer, JobLease, JobLocks, JobOutcome, JobRun } from '../../shared/ports/deploy-job.js';
import type { Deploy, HostReport, JobRecord } from '../../shared/contract/schemas.js';
import { LockLostError, UnreachableError } from '../../shared/contract/errors.js';
import { withHostView } from '../fixtures/host-view.js';

const logger = pino({ level: 'silent' });
const deploy: Deploy = {
  id: 'd-job0001', role: 'web', env: 'production', tag: 'v2', image: 'registry:5000/web:v2',
  status: 'in_progress', createdAt: Date.now(), deadlineAt: Date.now() + 60_000, hosts: {},
  targets: ['h1', 'h2', 'h3'], expectedHosts: 3, slots: 1,
};
const MIGRATE = { service: 'migrate', timeoutMs: 60_000 };

function fakeLease(attempt = 1) {
  const lost = new AbortController();
  const recorded: JobOutcome[] = [];
  let released = false;
  const lease: JobLease = {
    attempt,
    signal: lost.signal,
    record: async (outcome) => (lost.signal.aborted ? false : (recorded.push(outcome), true)),
    release: async () => void (released = true),
  };
  return { lease, lost, recorded, released: () => released };
}

function setup(claims: JobClaim[], runs: Array<JobRun | Error | ((signal: AbortSignal) => Promise<JobRun>)> = []) {
  const calls: string[] = [];
  const progress: { steps: string[]; jobs: Array<JobRecord | undefined> } = { steps: [], jobs: [] };
  const host: JobProgress = { step: (s) => void progress.steps.push(s), job: (r) => void progress.jobs.push(r) };
  const locks: JobLocks = {
    claim: async ({ holder }) => {
      calls.push(`claim ${holder}`);
      const next = claims.shift();
      if (!next) throw new Error('no more claims scripted');
      return next;
    },
  };
  const container: JobContainer = {
    runJob: async (role, image, env, { signal }) => {
      calls.push(`run ${role} ${image} ${env.GRAPEVINE_DEPLOY_ID}`);
      const next = runs.shift();
      if (next instanceof Error) throw next;
      if (typeof next === 'function') return next(signal);
      return next ?? { exitCode: 0, output: 'migrated' };
    },
  };
  const job = new DeployJob({
    node: 'h1',
    jobs: { web: MIGRATE },
    locks,
    container,
    runtime: { pull: async (image) => void calls.push(`pull ${image}`) },
    fleet: { markBroken: async (_g, tag, reason) => void calls.push(`markBroken ${tag} ${reason}`) },
    pollMs: 1,
  });
  return { job, calls, progress, host };
}

const outcome = (state: 'succeeded' | 'failed', extra: Partial<JobOutcome> = {}): JobOutcome => ({
  service: 'migrate', host: 'h2', state, attempt: 1, startedAt: 1, endedAt: 2, ...extra,
});

describe('the once-per-deploy job', () => {
  it('runs the job with the new image when this host takes the lease, records it and proceeds', async () => {
    const { lease, recorded } = fakeLease();
    const { job, calls, progress, host } = setup([{ kind: 'claimed', lease }]);
    expect(await job.beforeSlot(deploy, host, new AbortController().signal, logger)).toEqual({ kind: 'proceed' });
    expect(calls).toEqual(['claim h1', `pull ${deploy.image}`, `run web ${deploy.image} ${deploy.id}`]);
    expect(recorded).toMatchObject([{ state: 'succeeded', host: 'h1', service: 'migrate', attempt: 1, exitCode: 0, output: 'migrated' }]);
    expect(progress.steps).toEqual(['job']);
    expect(progress.jobs.map((j) => j?.state)).toEqual(['running', 'succeeded']);
  });

  it('a failing job is recorded with its output, marks the release broken and fails this host', async () => {
    const { lease, recorded } = fakeLease();
    const { job, calls, host } = setup([{ kind: 'claimed', lease }], [{ exitCode: 1, output: 'applying 0042\nERROR: column exists' }]);
    const gate = await job.beforeSlot(deploy, host, new AbortController().signal, logger);
    expect(gate).toEqual({ kind: 'stand-down', state: 'failed', reason: 'job migrate failed: exited with code 1: applying 0042 | ERROR: column exists' });
    expect(recorded).toMatchObject([{ state: 'failed', exitCode: 1, output: 'applying 0042\nERROR: column exists' }]);
    expect(calls.at(-1)).toBe(`markBroken v2 ${(gate as { reason: string }).reason}`);
  });

  it('waits while another host runs the job, then proceeds on its success without running it', async () => {
    const { job, calls, progress, host } = setup([{ kind: 'running', holder: 'h2' }, { kind: 'running', holder: 'h2' }, { kind: 'done', outcome: outcome('succeeded') }]);
    expect(await job.beforeSlot(deploy, host, new AbortController().signal, logger)).toEqual({ kind: 'proceed' });
    expect(calls).toEqual(['claim h1', 'claim h1', 'claim h1']);
    expect(progress.jobs).toEqual([]);
  });

  it("stands down (cancelled) naming the job and its runner when another host's job failed", async () => {
    const { job, calls, host } = setup([{ kind: 'done', outcome: outcome('failed', { error: 'exited with code 1: boom' }) }]);
    expect(await job.beforeSlot(deploy, host, new AbortController().signal, logger)).toEqual({
      kind: 'stand-down', state: 'cancelled', reason: 'job migrate failed on h2: exited with code 1: boom',
    });
    expect(calls).toEqual(['claim h1']);
  });

  it('a host whose lease is lost while the job runs records nothing and waits for the host that took it over', async () => {
    const first = fakeLease();
    const losing = async (signal: AbortSignal): Promise<JobRun> => {
      first.lost.abort(new LockLostError('the job lease lapsed'));
      signal.throwIfAborted();
      return { exitCode: 0, output: '' };
    };
    const { job, calls, progress, host } = setup([{ kind: 'claimed', lease: first.lease }, { kind: 'running', holder: 'h3' }, { kind: 'done', outcome: outcome('succeeded', { host: 'h3', attempt: 2 }) }], [losing]);
    expect(await job.beforeSlot(deploy, host, new AbortController().signal, logger)).toEqual({ kind: 'proceed' });
    expect(first.recorded).toEqual([]);
    expect(calls.filter((c) => c.startsWith('claim'))).toHaveLength(3);
    expect(progress.jobs.map((j) => j?.state)).toEqual(['running', undefined]);
  });

  it('Docker not answering is no verdict on the job: the lease is freed for another host and this host errs', async () => {
    const { lease, recorded, released } = fakeLease();
    const { job, calls, host } = setup([{ kind: 'claimed', lease }], [new UnreachableError('docker compose run could not reach the Docker engine')]);
    const gate = await job.beforeSlot(deploy, host, new AbortController().signal, logger);
    expect(gate).toMatchObject({ kind: 'stand-down', state: 'errored' });
    expect(recorded).toEqual([]);
    expect(released()).toBe(true);
    expect(calls.some((c) => c.startsWith('markBroken'))).toBe(false);
  });

  it('stands down when the release is broken or the deploy stopped while it waited', async () => {
    for (const kind of ['broken', 'stopped'] as const) {
      const { job, host } = setup([{ kind: 'running', holder: 'h2' }, { kind }]);
      const gate = await job.beforeSlot(deploy, host, new AbortController().signal, logger);
      expect(gate).toMatchObject({ kind: 'stand-down', state: 'cancelled' });
      expect((gate as { reason: string }).reason).toMatch(kind === 'broken' ? /release v2 is broken/ : /stopped/);
    }
  });

  it('skips the job of a deploy that does not run it (a rollback without --run-job), and of a role without one', async () => {
    const { job, calls, progress, host } = setup([]);
    expect(await job.beforeSlot({ ...deploy, runJob: false, rollbackOf: 'v3' }, host, new AbortController().signal, logger)).toEqual({ kind: 'proceed' });
    expect(await job.beforeSlot({ ...deploy, role: 'api' }, host, new AbortController().signal, logger)).toEqual({ kind: 'proceed' });
    expect(calls).toEqual([]);
    expect(progress.steps).toEqual([]);
  });
});

describe('the deploy runner and the job', () => {
  function runnerWith(gate: Awaited<ReturnType<DeployJob['beforeSlot']>>) {
    const calls: string[] = [];
    const reports: HostReport[] = [];
    const runner = new DeployRunner({
      node: 'h1',
      lb: { web: { backend: 'web', address: '10.0.0.11:8080' } },
      locks: { acquire: async () => (calls.push('acquire'), { kind: 'stopped' }) },
      fleet: {
        initRemaining: async (_g, _id, n) => (calls.push('init'), n),
        finishHost: async () => (calls.push('finish'), 2),
        brokenReason: async () => null,
        markBroken: async () => undefined,
        backInService: async () => true,
      },
      runtime: { runningImage: async () => null, pull: async () => undefined, up: async () => undefined, waitHealthy: async () => undefined, stop: async () => undefined },
      loadBalancer: { drain: async () => undefined, register: async () => undefined, servers: async () => [] },
      coordinator: { getHostView: async () => withHostView(deploy, 'h1'), report: async (_id, r) => void reports.push(r) },
      applied: { highest: async () => undefined, record: async () => undefined },
      logger,
      job: { beforeSlot: async () => (calls.push('job'), gate) },
    });
    return { runner, calls, reports };
  }

  it('asks for the job after counting the host in and before it takes a slot', async () => {
    const { runner, calls } = runnerWith({ kind: 'proceed' });
    await runner.run({ v: 1, role: 'web', env: 'production', id: deploy.id }, new AbortController().signal);
    expect(calls).toEqual(['init', 'job', 'acquire', 'finish']);
  });

  it('a job that failed ends the host with the state and reason the job gives, without a slot, counted out', async () => {
    const { runner, calls } = runnerWith({ kind: 'stand-down', state: 'failed', reason: 'job migrate failed: exited with code 1: boom' });
    const report = await runner.run({ v: 1, role: 'web', env: 'production', id: deploy.id }, new AbortController().signal);
    expect(calls).toEqual(['init', 'job', 'finish']);
    expect(report).toMatchObject({ state: 'failed', error: 'job migrate failed: exited with code 1: boom', remaining: 2 });
    expect(report?.steps.map((s) => s.step)).not.toContain('slot');
  });
});
