// The deploy's step order and its failure handling, with fakes for every adapter.
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { DeployRunner } from '../../agent/deploy/deploy-runner.js';
import type { AcquireOptions, AcquireResult, SlotLocks } from '../../shared/ports/slot-locks.js';
import type { DeployGroup, FleetState } from '../../shared/ports/fleet-state.js';
import type { ContainerRuntime } from '../../shared/ports/container-runtime.js';
import type { BackendServer, LoadBalancer } from '../../shared/ports/load-balancer.js';
import type { Deploy, HostReport } from '../../shared/contract/schemas.js';
import { DeployStepError, NotFoundError, UnreachableError } from '../../shared/contract/errors.js';

const logger = pino({ level: 'silent' });
const event = { v: 1 as const, role: 'web', env: 'production', id: 'd-test01' };
const deploy: Deploy = {
  id: 'd-test01', role: 'web', env: 'production', tag: 'v2', image: 'registry:5000/web:v2',
  status: 'in_progress', createdAt: 0, hosts: {},
  targets: ['h1', 'h2', 'h3', 'h4', 'h5', 'h6'], expectedHosts: 6, slots: 2,
};

function setup(
  options: { failAt?: string; brokenAt?: string; brokenBeforeSlot?: boolean; loseLockAt?: string; deploy?: Deploy; lookupFailures?: Error[] } = {},
) {
  const lease = new AbortController();
  const calls: string[] = [];
  let broken: string | null = options.brokenBeforeSlot ? 'bad health' : null;
  const reports: HostReport[] = [];
  const fail = (step: string) => {
    if (options.failAt === step) throw new DeployStepError(step, `${step} exploded`);
    if (options.brokenAt === step) broken = 'marked by an engineer';
    if (options.loseLockAt === step) {
      lease.abort(new Error('slot lock lost'));
      throw new DeployStepError(step, 'aborted');
    }
  };
  const locks: SlotLocks = {
    async acquire(o: AcquireOptions): Promise<AcquireResult> {
      calls.push(`acquire ${o.slots}`);
      if (broken) return { kind: 'broken', reason: broken };
      return { kind: 'acquired', lease: { slot: 1, signal: lease.signal, release: async () => void calls.push('release') } };
    },
  };
  const fleet: FleetState = {
    initRemaining: async (_g: DeployGroup, _id: string, n: number) => (calls.push(`init ${n}`), n),
    finishHost: async () => (calls.push('finish'), 0),
    brokenReason: async () => broken,
    markBroken: async (_g, tag, reason) => void calls.push(`markBroken ${tag} ${reason}`),
  };
  let image: string | null = 'registry:5000/web:v1';
  const runtime: ContainerRuntime = {
    runningImage: async () => image,
    pull: async (ref) => (calls.push(`pull ${ref}`), fail('pull')),
    up: async (_role, ref) => (calls.push(`up ${ref}`), fail('up'), void (image = ref)),
    waitHealthy: async () => (calls.push('health'), image === deploy.image ? fail('health') : undefined),
  };
  const loadBalancer: LoadBalancer = {
    drain: async (backend, server) => (calls.push(`drain ${backend}/${server}`), fail('drain')),
    register: async (backend, server, address) => void calls.push(`register ${backend}/${server} ${address}`),
    servers: async (): Promise<BackendServer[]> => [],
  };
  const runner = new DeployRunner({
    node: 'h1',
    lb: { web: { backend: 'web', address: '10.0.0.11:8080' } },
    locks, fleet, runtime, loadBalancer,
    coordinator: {
      getDeploy: async () => {
        calls.push('getDeploy');
        const failure = options.lookupFailures?.shift();
        if (failure) throw failure;
        return options.deploy ?? deploy;
      },
      report: async (_id, r) => void reports.push(r),
    },
    logger,
    lookupRetriesMs: [0, 0, 0],
  });
  return { runner, calls, reports };
}

describe('deploy runner', () => {
  it('counts, takes a slot, drains, pulls, starts, waits for health, registers, releases and counts itself out', async () => {
    const { runner, calls, reports } = setup();
    const report = (await runner.run(event, new AbortController().signal))!;
    expect(calls).toEqual([
      'getDeploy', 'init 6', 'acquire 2', 'drain web/h1', 'pull registry:5000/web:v2', 'up registry:5000/web:v2', 'health',
      'register web/h1 10.0.0.11:8080', 'release', 'finish',
    ]);
    expect(report).toMatchObject({ host: 'h1', state: 'succeeded', slot: 1, counted: 6, remaining: 0 });
    expect(report.steps.map((s) => s.step)).toEqual(['received', 'slot', 'drain', 'pull', 'up', 'health', 'register', 'release']);
    expect(reports.at(-1)).toEqual(report);
  });

  it('on a failed health check marks the release broken, puts the previous tag back and re-registers', async () => {
    const { runner, calls } = setup({ failAt: 'health' });
    const report = (await runner.run(event, new AbortController().signal))!;
    expect(report.state).toBe('failed');
    expect(report.error).toContain('health exploded');
    expect(calls).toEqual([
      'getDeploy', 'init 6', 'acquire 2', 'drain web/h1', 'pull registry:5000/web:v2', 'up registry:5000/web:v2', 'health',
      'markBroken v2 health: health exploded',
      'up registry:5000/web:v1', 'health', 'register web/h1 10.0.0.11:8080', 'release', 'finish',
    ]);
  });

  it('a failed pull leaves the running container alone and re-registers it', async () => {
    const { runner, calls } = setup({ failAt: 'pull' });
    const report = (await runner.run(event, new AbortController().signal))!;
    expect(report.state).toBe('failed');
    expect(calls.filter((c) => c.startsWith('up'))).toEqual([]);
    expect(calls.slice(-3)).toEqual(['register web/h1 10.0.0.11:8080', 'release', 'finish']);
  });

  it('stands down without touching anything when the release is broken while it waits', async () => {
    const { runner, calls } = setup({ brokenBeforeSlot: true });
    const report = (await runner.run(event, new AbortController().signal))!;
    expect(report).toMatchObject({ state: 'cancelled', remaining: 0 });
    expect(report.error).toContain('bad health');
    expect(calls).toEqual(['getDeploy', 'init 6', 'acquire 2', 'finish']);
  });

  it('stands down without marking the release broken when it loses its slot lock', async () => {
    const { runner, calls } = setup({ loseLockAt: 'pull' });
    const report = (await runner.run(event, new AbortController().signal))!;
    expect(report).toMatchObject({ state: 'cancelled', error: 'interrupted: slot lock lost' });
    expect(calls.some((c) => c.startsWith('markBroken'))).toBe(false);
    expect(calls.slice(-3)).toEqual(['register web/h1 10.0.0.11:8080', 'release', 'finish']);
  });

  it('ignores a replayed event of a deploy that is over, or that this host finished', async () => {
    for (const over of [
      { ...deploy, status: 'succeeded' as const },
      { ...deploy, hosts: { h1: { host: 'h1', state: 'succeeded' as const, steps: [] } } },
    ]) {
      const { runner, calls, reports } = setup({ deploy: over });
      expect(await runner.run(event, new AbortController().signal)).toBeNull();
      expect(calls).toEqual(['getDeploy']);
      expect(reports).toEqual([]);
    }
  });

  it('stands down before pulling when the release is marked broken after it drained', async () => {
    const { runner, calls } = setup({ brokenAt: 'drain' });
    const report = (await runner.run(event, new AbortController().signal))!;
    expect(report.state).toBe('cancelled');
    expect(calls.some((c) => c.startsWith('pull'))).toBe(false);
    expect(calls.slice(-3)).toEqual(['register web/h1 10.0.0.11:8080', 'release', 'finish']);
  });

  it('asks again when the coordinator does not answer the first lookup, then takes part', async () => {
    const reset = () => new UnreachableError('coordinator at http://10.0.0.1:7700 is unreachable (read ECONNRESET)');
    const { runner, calls } = setup({ lookupFailures: [reset(), reset()] });
    const report = (await runner.run(event, new AbortController().signal))!;
    expect(report.state).toBe('succeeded');
    expect(calls.slice(0, 4)).toEqual(['getDeploy', 'getDeploy', 'getDeploy', 'init 6']);
  });

  it('gives up after its retries, and at once on an answer that will not change', async () => {
    const unreachable = setup({ lookupFailures: Array.from({ length: 4 }, () => new UnreachableError('coordinator is unreachable')) });
    expect(await unreachable.runner.run(event, new AbortController().signal)).toBeNull();
    expect(unreachable.calls).toEqual(['getDeploy', 'getDeploy', 'getDeploy', 'getDeploy']);

    const unknown = setup({ lookupFailures: [new NotFoundError('deploy d-test01 not found')] });
    expect(await unknown.runner.run(event, new AbortController().signal)).toBeNull();
    expect(unknown.calls).toEqual(['getDeploy']);
  });

  it("takes the deploy's own slot count and target list, fixed by the coordinator, and counts nothing itself", async () => {
    const { runner, calls } = setup({ deploy: { ...deploy, targets: ['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'h7'], slots: 3 } });
    const report = await runner.run(event, new AbortController().signal);
    expect(report?.state).toBe('succeeded');
    expect(report?.counted).toBe(7);
    expect(calls.slice(0, 3)).toEqual(['getDeploy', 'init 7', 'acquire 3']);
  });

  it('gives a deploy recorded without its slots a third of its targets', async () => {
    const { targets, slots: _ignored, ...older } = deploy;
    const { runner, calls } = setup({ deploy: { ...older, targets: [...(targets ?? []), 'h7'] } });
    await runner.run(event, new AbortController().signal);
    expect(calls.slice(0, 3)).toEqual(['getDeploy', 'init 7', 'acquire 3']);
  });
});
