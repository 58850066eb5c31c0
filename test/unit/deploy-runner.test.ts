// The deploy's step order and its failure handling, with fakes for every adapter.
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { DeployRunner, type DeployObserver } from '../../agent/deploy/deploy-runner.js';
import type { AcquireOptions, AcquireResult, SlotLocks } from '../../shared/ports/slot-locks.js';
import type { DeployGroup, FleetState } from '../../shared/ports/fleet-state.js';
import type { ContainerRuntime } from '../../shared/ports/container-runtime.js';
import type { BackendServer, LoadBalancer } from '../../shared/ports/load-balancer.js';
import type { Deploy, HostReport } from '../../shared/contract/schemas.js';
import { DeployStepError, LockLostError, NotFoundError, UnreachableError } from '../../shared/contract/errors.js';
import { HookFailedError, type DeployHooks, type HookName } from '../../agent/deploy/hooks.js';
import { withHostView } from '../fixtures/host-view.js';
import { until } from '../fixtures/poll.js';

const logger = pino({ level: 'silent' });
const event = { v: 1 as const, role: 'web', env: 'production', id: 'd-test01' };
const deploy: Deploy = {
  id: 'd-test01', role: 'web', env: 'production', tag: 'v2', image: 'registry:5000/web:v2',
  status: 'in_progress', createdAt: 0, hosts: {},
  targets: ['h1', 'h2', 'h3', 'h4', 'h5', 'h6'], expectedHosts: 6, slots: 2,
};

type FaultPoint = 'init' | 'broken' | 'drain' | 'pull' | 'up' | 'health' | 'register';

function setup(
  options: {
    failAt?: string; brokenAt?: string; brokenBeforeSlot?: boolean; loseLockAt?: string; deploy?: Deploy;
    /** The lease's confirm fails at this confirmation (1: before drain, 2: before up, 3: before register). */
    leaseLapsesAtConfirm?: number; stopped?: boolean; releaseUnheard?: boolean; lookupFailures?: Error[];
    /** Failures thrown by the next calls at each point, one per call, before the call succeeds. */
    faults?: Partial<Record<FaultPoint, Error[]>>;
    stepRetriesMs?: number[];
    stepDeadlineMs?: number;
    now?: () => number;
    /** The highest seq already applied per `role/env`, as the agent's state directory would hold it. */
    applied?: Map<string, number>;
    /** The role's hooks: each one named runs, and throws the error given (null: it passes). */
    hooks?: Partial<Record<HookName, Error | null>>;
    /** Told of the host's end (the agent's metrics). */
    observer?: DeployObserver;
    /** The drain lasts until the pull has started (at most 2 s), then says so in `calls`. */
    drainUntilPull?: boolean;
    /** The pull runs until its signal stops it, then says so in `calls`. */
    pullHangs?: boolean;
  } = {},
) {
  const applied = options.applied ?? new Map<string, number>();
  const inject = (point: FaultPoint) => {
    const fault = options.faults?.[point]?.shift();
    if (fault) throw fault;
  };
  let brokenChecks = 0;
  const lease = new AbortController();
  const calls: string[] = [];
  let broken: string | null = options.brokenBeforeSlot ? 'bad health' : null;
  const reports: HostReport[] = [];
  const fail = (step: string) => {
    inject(step as FaultPoint);
    if (options.failAt === step) throw new DeployStepError(step, `${step} exploded`);
    if (options.brokenAt === step) broken = 'marked by an engineer';
    if (options.loseLockAt === step) {
      lease.abort(new Error('slot lock lost'));
      throw new DeployStepError(step, 'aborted');
    }
  };
  /** Where each confirmation fell: the index in `calls` of the call that came right after it. */
  const confirmedAt: number[] = [];
  const locks: SlotLocks = {
    async acquire(o: AcquireOptions): Promise<AcquireResult> {
      calls.push(`acquire ${o.slots}`);
      if (broken) return { kind: 'broken', reason: broken };
      if (options.stopped) return { kind: 'stopped' };
      return {
        kind: 'acquired',
        lease: {
          slot: 1,
          epoch: 7,
          signal: lease.signal,
          confirm: async () => {
            confirmedAt.push(calls.length);
            if (confirmedAt.length === options.leaseLapsesAtConfirm) {
              const lost = new LockLostError('slot 1 (epoch 7) is no longer held by this host');
              lease.abort(lost);
              throw lost;
            }
          },
          release: async (r) => (calls.push(r?.outOfService ? 'release (still out of service)' : 'release'), !options.releaseUnheard),
        },
      };
    },
  };
  const fleet: FleetState = {
    initRemaining: async (_g: DeployGroup, _id: string, n: number) => (calls.push(`init ${n}`), inject('init'), n),
    finishHost: async () => (calls.push('finish'), 0),
    brokenReason: async () => (brokenChecks++, inject('broken'), broken),
    markBroken: async (_g, tag, reason) => void calls.push(`markBroken ${tag} ${reason}`),
    backInService: async (_g, host) => (calls.push(`backInService ${host}`), true),
  };
  let image: string | null = 'registry:5000/web:v1';
  const runtime: ContainerRuntime = {
    runningImage: async () => image,
    pull: async (ref, context) => {
      calls.push(`pull ${ref}`);
      if (options.pullHangs) await new Promise((resolve) => context.signal?.addEventListener('abort', resolve, { once: true }));
      if (context.signal?.aborted) calls.push('pull stopped');
      fail('pull');
    },
    up: async (_role, ref) => (calls.push(`up ${ref}`), fail('up'), void (image = ref)),
    waitHealthy: async () => (calls.push('health'), image === deploy.image ? fail('health') : undefined),
    stop: async () => void calls.push('stop'),
  };
  const loadBalancer: LoadBalancer = {
    drain: async (backend, server) => {
      calls.push(`drain ${backend}/${server}`);
      fail('drain');
      if (!options.drainUntilPull) return;
      // A pull that waited for the drain never starts here: the deadline ends the drain first.
      await until('the pull to start', () => (calls.some((call) => call.startsWith('pull')) ? true : undefined), { timeoutMs: 2_000, intervalMs: 5 }).catch(() => undefined);
      calls.push('drained');
    },
    register: async (backend, server, address) => (calls.push(`register ${backend}/${server} ${address}`), inject('register')),
    servers: async (): Promise<BackendServer[]> => [],
  };
  const hooks: DeployHooks = {
    has: (_role, name) => options.hooks?.[name] !== undefined,
    run: async (name, context) => {
      calls.push(`hook ${name} ${context.deploy.tag} ${context.host} ${context.lb.address}`);
      fail(`hook ${name}`);
      const error = options.hooks?.[name];
      if (error) throw error;
    },
  };
  const runner = new DeployRunner({
    node: 'h1',
    lb: { web: { backend: 'web', address: '10.0.0.11:8080' } },
    locks, fleet, runtime, loadBalancer,
    coordinator: {
      getHostView: async () => {
        calls.push('getHostView');
        const failure = options.lookupFailures?.shift();
        if (failure) throw failure;
        return withHostView(options.deploy ?? deploy, 'h1');
      },
      report: async (_id, r) => void reports.push(r),
    },
    applied: {
      highest: async (g) => applied.get(`${g.role}/${g.env}`),
      record: async (g, seq) => void applied.set(`${g.role}/${g.env}`, Math.max(seq, applied.get(`${g.role}/${g.env}`) ?? 0)),
    },
    logger,
    lookupRetriesMs: [0, 0, 0],
    stepRetriesMs: options.stepRetriesMs ?? [0, 0, 0],
    ...(options.stepDeadlineMs === undefined ? {} : { stepDeadlineMs: options.stepDeadlineMs }),
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.hooks === undefined ? {} : { hooks }),
    ...(options.observer === undefined ? {} : { observer: options.observer }),
  });
  /** The calls each confirmation came just before. */
  const confirmedBefore = () => confirmedAt.map((index) => calls[index]);
  return { runner, calls, reports, applied, brokenChecks: () => brokenChecks, confirmedBefore };
}

describe('deploy runner', () => {
  it('counts, takes a slot, drains, pulls, starts, waits for health, registers, releases and counts itself out', async () => {
    const { runner, calls, reports } = setup();
    const report = (await runner.run(event, new AbortController().signal))!;
    expect(calls).toEqual([
      'getHostView', 'init 6', 'acquire 2', 'drain web/h1', 'pull registry:5000/web:v2', 'up registry:5000/web:v2', 'health',
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
      'getHostView', 'init 6', 'acquire 2', 'drain web/h1', 'pull registry:5000/web:v2', 'up registry:5000/web:v2', 'health',
      'markBroken v2 health: health exploded',
      'up registry:5000/web:v1', 'health', 'register web/h1 10.0.0.11:8080', 'release', 'finish',
    ]);
  });

  it('a host that could not register its previous version back releases its slot still counted out of service', async () => {
    const { runner, calls } = setup({ failAt: 'health', faults: { register: [new UnreachableError('haproxy gone')] } });
    const report = (await runner.run(event, new AbortController().signal))!;
    expect(report.state).toBe('failed');
    // The slot goes back, but the host keeps counting against k: another may not drain in its place.
    expect(calls.slice(-5)).toEqual(['up registry:5000/web:v1', 'health', 'register web/h1 10.0.0.11:8080', 'release (still out of service)', 'finish']);
    expect(calls).not.toContain('release');
  });

  it('a host that served and serves again leaves the out-of-service count with its release, never before it registers', async () => {
    const { runner, calls } = setup();
    await runner.run(event, new AbortController().signal);
    expect(calls.indexOf('release')).toBeGreaterThan(calls.indexOf('register web/h1 10.0.0.11:8080'));
    expect(calls.indexOf('acquire 2')).toBeLessThan(calls.indexOf('drain web/h1'));
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
    expect(calls).toEqual(['getHostView', 'init 6', 'acquire 2', 'finish']);
  });

  it('ends errored without marking the release broken when its slot lease is lost mid-step, and puts itself back', async () => {
    const { runner, calls } = setup({ loseLockAt: 'pull' });
    const report = (await runner.run(event, new AbortController().signal))!;
    // The pull runs beside the drain: the lease lost there ends the drain, the host's step then.
    expect(report).toMatchObject({ state: 'errored', error: 'drain: lost its slot lease: slot lock lost' });
    expect(calls.some((c) => c.startsWith('markBroken'))).toBe(false);
    expect(calls.slice(-3)).toEqual(['register web/h1 10.0.0.11:8080', 'release', 'finish']);
  });

  it('confirms its lease before it drains, starts the new version and registers, and before nothing else', async () => {
    const { runner, confirmedBefore } = setup();
    await runner.run(event, new AbortController().signal);
    expect(confirmedBefore()).toEqual(['drain web/h1', 'up registry:5000/web:v2', 'register web/h1 10.0.0.11:8080']);
  });

  it('a lease it cannot confirm before starting the new version stops it there: nothing started, the previous version registered again', async () => {
    const { runner, calls } = setup({ leaseLapsesAtConfirm: 2 });
    const report = (await runner.run(event, new AbortController().signal))!;
    expect(report).toMatchObject({ state: 'errored', error: 'up: lost its slot lease: slot 1 (epoch 7) is no longer held by this host', slot: 1, epoch: 7 });
    expect(calls.filter((c) => c.startsWith('up'))).toEqual([]);
    expect(calls.some((c) => c.startsWith('markBroken'))).toBe(false);
    expect(calls.slice(-3)).toEqual(['register web/h1 10.0.0.11:8080', 'release', 'finish']);
  });

  it('a lease it cannot confirm before registering leaves the new version unregistered until the previous one is back', async () => {
    const { runner, calls } = setup({ leaseLapsesAtConfirm: 3 });
    const report = (await runner.run(event, new AbortController().signal))!;
    expect(report.state).toBe('errored');
    // The new version started, then the host stopped at register and put the previous one back before registering.
    expect(calls.slice(-6)).toEqual(['health', 'up registry:5000/web:v1', 'health', 'register web/h1 10.0.0.11:8080', 'release', 'finish']);
  });

  it('stands down when the deploy was stopped (past its deadline) while it waited', async () => {
    const { runner, calls } = setup({ stopped: true });
    const report = (await runner.run(event, new AbortController().signal))!;
    expect(report).toMatchObject({ state: 'cancelled', remaining: 0 });
    expect(report.error).toBe(`deploy ${event.id} was stopped (past its deadline) before this host took a slot`);
    expect(calls).toEqual(['getHostView', 'init 6', 'acquire 2', 'finish']);
  });

  it('a serving host whose release Redis did not take says it is back in service another way', async () => {
    const { runner, calls } = setup({ releaseUnheard: true });
    const report = (await runner.run(event, new AbortController().signal))!;
    expect(report.state).toBe('succeeded');
    expect(calls.slice(-3)).toEqual(['release', 'backInService h1', 'finish']);
  });

  it('ignores a replayed event of a deploy that is over, or that this host finished', async () => {
    for (const over of [
      { ...deploy, status: 'succeeded' as const },
      { ...deploy, hosts: { h1: { host: 'h1', state: 'succeeded' as const, steps: [] } } },
    ]) {
      const { runner, calls, reports } = setup({ deploy: over });
      expect(await runner.run(event, new AbortController().signal)).toBeNull();
      expect(calls).toEqual(['getHostView']);
      expect(reports).toEqual([]);
    }
  });

  it('leaves alone a deploy it is not a target of (it joined after the deploy started): no count, no slot, no report', async () => {
    const { runner, calls, reports } = setup({ deploy: { ...deploy, targets: ['h2', 'h3'] } });
    expect(await runner.run(event, new AbortController().signal)).toBeNull();
    expect(calls).toEqual(['getHostView']);
    expect(reports).toEqual([]);
  });

  it('stands down before starting the new version when the release is marked broken while it drains, stopping the pull beside the drain', async () => {
    const { runner, calls } = setup({ brokenAt: 'drain', pullHangs: true });
    const report = (await runner.run(event, new AbortController().signal))!;
    expect(report.state).toBe('cancelled');
    expect(calls).toContain('pull stopped');
    expect(calls.some((c) => c.startsWith('up'))).toBe(false);
    expect(calls.slice(-3)).toEqual(['register web/h1 10.0.0.11:8080', 'release', 'finish']);
  });

  it('pulls beside the drain: the pull starts before the drain ends, and the new version starts after both', async () => {
    const { runner, calls } = setup({ drainUntilPull: true });
    const report = (await runner.run(event, new AbortController().signal))!;
    expect(report.state).toBe('succeeded');
    expect(calls.slice(3, 7)).toEqual(['drain web/h1', 'pull registry:5000/web:v2', 'drained', 'up registry:5000/web:v2']);
    expect(report.steps.map((s) => s.step)).toEqual(['received', 'slot', 'drain', 'pull', 'up', 'health', 'register', 'release']);
  });

  it('asks again when the coordinator does not answer the first lookup, then takes part', async () => {
    const reset = () => new UnreachableError('coordinator at http://10.0.0.1:7700 is unreachable (read ECONNRESET)');
    const { runner, calls } = setup({ lookupFailures: [reset(), reset()] });
    const report = (await runner.run(event, new AbortController().signal))!;
    expect(report.state).toBe('succeeded');
    expect(calls.slice(0, 4)).toEqual(['getHostView', 'getHostView', 'getHostView', 'init 6']);
  });

  it('gives up after its retries, and at once on an answer that will not change', async () => {
    const unreachable = setup({ lookupFailures: Array.from({ length: 4 }, () => new UnreachableError('coordinator is unreachable')) });
    expect(await unreachable.runner.run(event, new AbortController().signal)).toBeNull();
    expect(unreachable.calls).toEqual(['getHostView', 'getHostView', 'getHostView', 'getHostView']);
    // It says so, so that the deploy need not wait for it until its deadline.
    expect(unreachable.reports).toEqual([
      expect.objectContaining({ host: 'h1', state: 'errored', error: 'could not read deploy d-test01: coordinator is unreachable' }),
    ]);

    const unknown = setup({ lookupFailures: [new NotFoundError('deploy d-test01 not found')] });
    expect(await unknown.runner.run(event, new AbortController().signal)).toBeNull();
    expect(unknown.calls).toEqual(['getHostView']);
    expect(unknown.reports).toEqual([]);
  });

  it("takes the deploy's own slot count and target list, fixed by the coordinator, and counts nothing itself", async () => {
    const { runner, calls } = setup({ deploy: { ...deploy, targets: ['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'h7'], slots: 3 } });
    const report = await runner.run(event, new AbortController().signal);
    expect(report?.state).toBe('succeeded');
    expect(report?.counted).toBe(7);
    expect(calls.slice(0, 3)).toEqual(['getHostView', 'init 7', 'acquire 3']);
  });

  it('gives a deploy recorded without its slots a third of its targets', async () => {
    const { targets, slots: _ignored, ...older } = deploy;
    const { runner, calls } = setup({ deploy: { ...older, targets: [...(targets ?? []), 'h7'] } });
    await runner.run(event, new AbortController().signal);
    expect(calls.slice(0, 3)).toEqual(['getHostView', 'init 7', 'acquire 3']);
  });
});

describe('deploy runner: only a bad release breaks a release', () => {
  const signal = () => new AbortController().signal;
  const redisDown = () => new UnreachableError('redis at 127.0.0.1:6379 is unreachable: connect ECONNREFUSED 127.0.0.1:6379');
  // As the docker adapter raises them: what did not answer is an UnreachableError under the step's error.
  const registryDown = () => {
    const cause = new UnreachableError('docker POST /images/create: 500 Get "https://registry:5000/v2/": dial tcp 10.0.0.5:5000: connect: connection refused');
    return new DeployStepError('pull', `cannot pull registry:5000/web:v2: ${cause.message}`, { cause });
  };
  const daemonDown = () => {
    const cause = new UnreachableError('docker compose up (project h1-web) could not reach the Docker engine: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?');
    return new DeployStepError('up', `cannot start registry:5000/web:v2: ${cause.message}`, { cause });
  };

  it('retries a Redis blip during the drain and goes on to succeed, breaking nothing', async () => {
    const { runner, calls, brokenChecks } = setup({ faults: { broken: [redisDown(), redisDown()] } });
    const report = (await runner.run(event, signal()))!;
    expect(report.state).toBe('succeeded');
    expect(report.error).toBeUndefined();
    expect(brokenChecks()).toBe(5);
    expect(calls.filter((c) => c.startsWith('drain'))).toEqual(['drain web/h1']);
    expect(calls.some((c) => c.startsWith('markBroken'))).toBe(false);
  });

  it('retries an HAProxy that does not answer the drain', async () => {
    const { runner, calls } = setup({ faults: { drain: [new UnreachableError('HAProxy runtime API at unix:/run/haproxy.sock failed: ENOENT')] } });
    expect((await runner.run(event, signal()))!.state).toBe('succeeded');
    expect(calls.filter((c) => c.startsWith('drain'))).toEqual(['drain web/h1', 'drain web/h1']);
  });

  it('ends errored when the registry stays unreachable past the step deadline: previous version kept and back in service, release not broken', async () => {
    let clock = 0;
    const { runner, calls, reports } = setup({
      faults: { pull: Array.from({ length: 20 }, registryDown) },
      stepRetriesMs: Array.from({ length: 20 }, () => 0),
      stepDeadlineMs: 5_000,
      now: () => (clock += 1_000),
    });
    const report = (await runner.run(event, signal()))!;
    expect(report).toMatchObject({ state: 'errored', remaining: 0 });
    expect(report.error).toMatch(/^pull: cannot pull .*connection refused/);
    const pulls = calls.filter((c) => c.startsWith('pull')).length;
    expect(pulls).toBeGreaterThan(1);
    expect(pulls).toBeLessThan(20);
    expect(calls.some((c) => c.startsWith('markBroken'))).toBe(false);
    expect(calls.filter((c) => c.startsWith('up'))).toEqual([]);
    expect(calls.slice(-3)).toEqual(['register web/h1 10.0.0.11:8080', 'release', 'finish']);
    expect(reports.at(-1)?.state).toBe('errored');
  });

  it('puts the previous version back when the Docker daemon stays down after it began replacing', async () => {
    const { runner, calls } = setup({ faults: { up: [daemonDown(), daemonDown(), daemonDown()] }, stepRetriesMs: [0, 0] });
    const report = (await runner.run(event, signal()))!;
    expect(report.state).toBe('errored');
    expect(report.error).toContain('Is the docker daemon running?');
    expect(calls.slice(calls.indexOf('up registry:5000/web:v2'))).toEqual([
      'up registry:5000/web:v2', 'up registry:5000/web:v2', 'up registry:5000/web:v2',
      'up registry:5000/web:v1', 'health', 'register web/h1 10.0.0.11:8080', 'release', 'finish',
    ]);
    expect(calls.some((c) => c.startsWith('markBroken'))).toBe(false);
  });

  it('marks the release broken at once when the registry answers that the tag is unknown', async () => {
    const { runner, calls } = setup({
      faults: { pull: [new DeployStepError('pull', 'cannot pull registry:5000/web:v2: the engine failed to pull registry:5000/web:v2: manifest unknown')] },
    });
    const report = (await runner.run(event, signal()))!;
    expect(report.state).toBe('failed');
    expect(calls.filter((c) => c.startsWith('pull'))).toHaveLength(1);
    expect(calls).toContain('markBroken v2 pull: cannot pull registry:5000/web:v2: the engine failed to pull registry:5000/web:v2: manifest unknown');
  });

  it('a health check that cannot watch the engine is the daemon\'s fault, not the release\'s', async () => {
    const watchLost = () =>
      new DeployStepError('health', 'could not watch container 0123456789ab: docker engine unreachable', {
        cause: new UnreachableError('docker engine at /var/run/docker.sock: connect ENOENT'),
      });
    const { runner, calls } = setup({ faults: { health: [watchLost(), watchLost(), watchLost(), watchLost()] } });
    const report = (await runner.run(event, signal()))!;
    expect(report.state).toBe('errored');
    expect(calls.some((c) => c.startsWith('markBroken'))).toBe(false);
  });

  it('ends errored, not failed, when Redis is down before it even takes a slot', async () => {
    const { runner, calls } = setup({ faults: { init: [redisDown(), redisDown(), redisDown(), redisDown()] } });
    const report = (await runner.run(event, signal()))!;
    expect(report.state).toBe('errored');
    expect(report.error).toContain('ECONNREFUSED');
    expect(calls.filter((c) => c.startsWith('init'))).toHaveLength(4);
    expect(calls.some((c) => c.startsWith('acquire') || c.startsWith('markBroken'))).toBe(false);
  });
});

describe('deploy runner: nothing deploys backwards', () => {
  const signal = () => new AbortController().signal;

  it('does not run a deploy older than one it applied, but ends its part so the deploy can end', async () => {
    const { runner, calls, reports, applied } = setup({ deploy: { ...deploy, seq: 3 }, applied: new Map([['web/production', 5]]) });
    const report = await runner.run(event, signal());
    // The host runs v1, not the deploy's v2: it stood aside, counted itself out, and touched nothing.
    expect(report?.state).toBe('cancelled');
    expect(report?.error).toBe('seq 5, a newer deploy of web to production, was applied here first; running this one (seq 3) would deploy backwards');
    expect(calls).toEqual(['getHostView', 'finish']);
    expect(reports.at(-1)?.state).toBe('cancelled');
    expect(applied.get('web/production')).toBe(5);
  });

  it('records the seq of a deploy it ended, whatever the end, and never lowers it', async () => {
    const ok = setup({ deploy: { ...deploy, seq: 7 }, applied: new Map([['web/production', 6], ['web/staging', 9]]) });
    expect((await ok.runner.run(event, signal()))?.state).toBe('succeeded');
    expect(ok.applied).toEqual(new Map([['web/production', 7], ['web/staging', 9]]));

    const failed = setup({ deploy: { ...deploy, seq: 8 }, failAt: 'health' });
    expect((await failed.runner.run(event, signal()))?.state).toBe('failed');
    expect(failed.applied.get('web/production')).toBe(8);
  });

  it('takes part in a deploy of the same or a newer seq, and in one recorded without a seq', async () => {
    for (const seq of [5, 6, undefined]) {
      const { runner, applied } = setup({ deploy: { ...deploy, ...(seq === undefined ? {} : { seq }) }, applied: new Map([['web/production', 5]]) });
      expect((await runner.run(event, signal()))?.state).toBe('succeeded');
      expect(applied.get('web/production')).toBe(seq ?? 5);
    }
  });
});

describe('deploy runner: hooks', () => {
  const allHooks = { 'before-drain': null, 'after-up': null, 'after-register': null };
  const smokeFailed = () => new HookFailedError('after-register', 'failed (exit 3)', 'smoke test: expected v2, got v1 h1');

  it('runs before-drain before the drain, after-up once healthy and before registering, after-register once registered; each shows as a step', async () => {
    const { runner, calls } = setup({ hooks: allHooks });
    const report = (await runner.run(event, new AbortController().signal))!;
    expect(report.state).toBe('succeeded');
    expect(calls).toEqual([
      'getHostView', 'init 6', 'acquire 2', 'hook before-drain v2 h1 10.0.0.11:8080', 'drain web/h1', 'pull registry:5000/web:v2',
      'up registry:5000/web:v2', 'health', 'hook after-up v2 h1 10.0.0.11:8080', 'register web/h1 10.0.0.11:8080',
      'hook after-register v2 h1 10.0.0.11:8080', 'release', 'finish',
    ]);
    expect(report.steps.map((s) => s.step)).toEqual([
      'received', 'slot', 'before-drain', 'drain', 'pull', 'up', 'health', 'after-up', 'register', 'after-register', 'release',
    ]);
  });

  it('runs only the hooks the role has, and shows no step for the others', async () => {
    const { runner, calls } = setup({ hooks: { 'after-register': null } });
    const report = (await runner.run(event, new AbortController().signal))!;
    expect(calls.filter((c) => c.startsWith('hook'))).toEqual(['hook after-register v2 h1 10.0.0.11:8080']);
    expect(report.steps.map((s) => s.step)).not.toContain('before-drain');
    expect(report.steps.map((s) => s.step)).toContain('after-register');
  });

  it('confirms its lease before the before-drain hook: a host whose slot lapsed runs nothing', async () => {
    const held = setup({ hooks: allHooks });
    await held.runner.run(event, new AbortController().signal);
    expect(held.confirmedBefore()).toEqual([
      'hook before-drain v2 h1 10.0.0.11:8080', 'drain web/h1', 'up registry:5000/web:v2', 'register web/h1 10.0.0.11:8080',
    ]);
    const lapsed = setup({ hooks: allHooks, leaseLapsesAtConfirm: 1 });
    const report = (await lapsed.runner.run(event, new AbortController().signal))!;
    expect(report).toMatchObject({ state: 'errored', error: 'before-drain: lost its slot lease: slot 1 (epoch 7) is no longer held by this host' });
    expect(lapsed.calls.filter((c) => c.startsWith('hook') || c.startsWith('drain'))).toEqual([]);
  });

  it('a failing after-register smoke test fails the host as a release fault: drained at once, broken with the hook output, previous version back', async () => {
    const { runner, calls } = setup({ hooks: { 'after-register': smokeFailed() } });
    const report = (await runner.run(event, new AbortController().signal))!;
    const reason = 'hook after-register failed (exit 3): smoke test: expected v2, got v1 h1';
    expect(report).toMatchObject({ state: 'failed', error: reason });
    expect(calls.slice(-9)).toEqual([
      'register web/h1 10.0.0.11:8080', 'hook after-register v2 h1 10.0.0.11:8080', 'drain web/h1', `markBroken v2 ${reason}`,
      'up registry:5000/web:v1', 'health', 'register web/h1 10.0.0.11:8080', 'release', 'finish',
    ]);
  });

  it('a before-drain hook that times out fails the host before it drains: nothing pulled or started, release broken', async () => {
    const timedOut = new HookFailedError('before-drain', 'timed out after 60 s', 'waiting for the queue to empty');
    const { runner, calls } = setup({ hooks: { 'before-drain': timedOut } });
    const report = (await runner.run(event, new AbortController().signal))!;
    expect(report).toMatchObject({ state: 'failed', error: 'hook before-drain timed out after 60 s: waiting for the queue to empty' });
    expect(calls.some((c) => c.startsWith('drain') || c.startsWith('pull') || c.startsWith('up'))).toBe(false);
    expect(calls.filter((c) => c.startsWith('markBroken'))).toHaveLength(1);
    expect(calls.slice(-3)).toEqual(['register web/h1 10.0.0.11:8080', 'release', 'finish']);
  });

  it('a failing after-up hook keeps the new version out of the load balancer and puts the previous one back', async () => {
    const { runner, calls } = setup({ hooks: { 'after-up': new HookFailedError('after-up', 'failed (exit 1)', '') } });
    const report = (await runner.run(event, new AbortController().signal))!;
    expect(report).toMatchObject({ state: 'failed', error: 'hook after-up failed (exit 1)' });
    expect(calls.slice(-7)).toEqual([
      'hook after-up v2 h1 10.0.0.11:8080', 'markBroken v2 hook after-up failed (exit 1)',
      'up registry:5000/web:v1', 'health', 'register web/h1 10.0.0.11:8080', 'release', 'finish',
    ]);
    expect(calls.filter((c) => c.startsWith('register'))).toHaveLength(1);
  });

  it('a hook stopped because the slot lease was lost errs without breaking the release', async () => {
    const { runner, calls } = setup({ hooks: allHooks, loseLockAt: 'hook after-up' });
    const report = (await runner.run(event, new AbortController().signal))!;
    expect(report).toMatchObject({ state: 'errored', error: 'after-up: lost its slot lease: slot lock lost' });
    expect(calls.some((c) => c.startsWith('markBroken'))).toBe(false);
  });

  it('tells its observer of its end once, with the final report, before the coordinator has taken it', async () => {
    const told: Array<{ tag: string; state: string; endedAt: number | undefined; reportsSent: number }> = [];
    let sent = () => 0;
    const { runner, reports } = setup({
      observer: { deployEnded: (d, r) => void told.push({ tag: d.tag, state: r.state, endedAt: r.endedAt, reportsSent: sent() }) },
    });
    sent = () => reports.filter((r) => r.endedAt !== undefined).length;
    const report = (await runner.run(event, new AbortController().signal))!;
    expect(told).toEqual([{ tag: 'v2', state: 'succeeded', endedAt: report.endedAt, reportsSent: 0 }]);
    expect(report.endedAt).toEqual(expect.any(Number));
  });

  it('an observer that throws changes nothing in the deploy', async () => {
    const { runner, calls } = setup({ observer: { deployEnded: () => { throw new Error('metrics exploded'); } } });
    const report = (await runner.run(event, new AbortController().signal))!;
    expect(report).toMatchObject({ state: 'succeeded', remaining: 0 });
    expect(calls.slice(-3)).toEqual(['register web/h1 10.0.0.11:8080', 'release', 'finish']);
  });
});
