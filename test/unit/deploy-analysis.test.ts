// Where a deploy's time went, from its host reports: waves, waiting versus working, the slowest step.
import { describe, expect, it } from 'vitest';
import { analyzeDeploy } from '../../shared/contract/deploy-analysis.js';
import type { Deploy, HostReport, HostStep } from '../../shared/contract/schemas.js';

const T = 1_700_000_000_000;

/** A host that received at `received`, took slot `slot` at `slotAt`, and went through its steps `ms` apart. */
function host(name: string, received: number, slotAt: number, releaseAt: number, extra: Partial<HostReport> = {}): HostReport {
  const steps: Array<{ step: HostStep; at: number }> = [
    { step: 'received', at: T + received },
    ...(slotAt > received ? [{ step: 'waiting' as const, at: T + received + 10 }] : []),
    { step: 'slot', at: T + slotAt },
    { step: 'drain', at: T + slotAt + 10 },
    { step: 'pull', at: T + slotAt + 100 },
    { step: 'up', at: T + slotAt + 300 },
    { step: 'health', at: T + slotAt + 500 },
    { step: 'register', at: T + releaseAt - 100 },
    { step: 'release', at: T + releaseAt },
  ];
  return { host: name, state: 'succeeded', steps, slot: 1, endedAt: T + releaseAt + 20, ...extra };
}

function deployOf(...hosts: HostReport[]): Pick<Deploy, 'hosts' | 'job'> {
  return { hosts: Object.fromEntries(hosts.map((h) => [h.host, h])) };
}

describe('deploy analysis', () => {
  it('one slot: each host is its own wave, and waits for the hosts before it', () => {
    const analysis = analyzeDeploy(deployOf(host('h1', 0, 50, 4_000), host('h2', 5, 4_000, 8_000), host('h3', 8, 8_000, 12_000)), T + 12_100);
    expect(analysis.waves.map((w) => ({ hosts: w.hosts, durationMs: w.durationMs }))).toEqual([
      { hosts: ['h1'], durationMs: 3_950 },
      { hosts: ['h2'], durationMs: 4_000 },
      { hosts: ['h3'], durationMs: 4_000 },
    ]);
    expect(analysis.hosts.map((h) => [h.host, h.wave, h.waitingMs, h.workingMs])).toEqual([
      ['h1', 1, 50, 3_970],
      ['h2', 2, 3_995, 4_020],
      ['h3', 3, 7_992, 4_020],
    ]);
    expect(analysis.waitingMs).toBe(50 + 3_995 + 7_992);
    expect(analysis.workingMs).toBe(3_970 + 4_020 + 4_020);
    // Each host's health step lasts from health to register: releaseAt - 100 - (slotAt + 500).
    expect(analysis.slowestStep).toEqual({ host: 'h2', step: 'health', ms: 3_400 });
  });

  it('two slots, staggered: a host that takes a freed slot starts the next wave', () => {
    const analysis = analyzeDeploy(
      deployOf(
        host('h1', 0, 10, 5_000, { slot: 1, epoch: 1 }),
        host('h2', 0, 20, 6_000, { slot: 2, epoch: 2 }),
        host('h3', 0, 5_000, 10_000, { slot: 1, epoch: 3 }),
        host('h4', 0, 6_000, 11_000, { slot: 2, epoch: 4 }),
        host('h5', 0, 10_000, 14_000, { slot: 1, epoch: 5 }),
      ),
      T + 20_000,
    );
    expect(analysis.waves.map((w) => w.hosts)).toEqual([['h1', 'h2'], ['h3', 'h4'], ['h5']]);
    expect(analysis.waves[0]).toMatchObject({ number: 1, startedAt: T + 10, endedAt: T + 6_000, durationMs: 5_990 });
    expect(analysis.waves[1]).toMatchObject({ startedAt: T + 5_000, endedAt: T + 11_000 });
  });

  it("a slot granted again starts a new wave, whatever the hosts' clocks say", () => {
    // h2's clock runs 300 ms behind: by the clocks it took slot 1 before h1 let it go.
    const skewed = analyzeDeploy(deployOf(host('h1', 0, 100, 4_000, { slot: 1, epoch: 7 }), host('h2', 0, 3_800, 8_000, { slot: 1, epoch: 8 })), T + 9_000);
    expect(skewed.waves.map((w) => w.hosts)).toEqual([['h1'], ['h2']]);
    // Two slots held at once, by the clocks, are one wave.
    const together = analyzeDeploy(deployOf(host('h1', 0, 100, 4_000, { slot: 1 }), host('h2', 0, 3_800, 8_000, { slot: 2 })), T + 9_000);
    expect(together.waves.map((w) => w.hosts)).toEqual([['h1', 'h2']]);
  });

  it("orders grants by their fencing epoch, not by hosts' clocks", () => {
    // h2's clock runs far behind: its slot time reads before h1's, but its grant came after h1's.
    const analysis = analyzeDeploy(deployOf(host('h1', 0, 100, 4_000, { slot: 1, epoch: 7 }), host('h2', 0, 50, 3_000, { slot: 1, epoch: 8 })), T + 9_000);
    expect(analysis.waves.map((w) => w.hosts)).toEqual([['h1'], ['h2']]);
    expect(analysis.hosts.map((h) => h.wave)).toEqual([1, 2]);
  });

  it('a host that stood down while waiting spent all its time waiting and is in no wave', () => {
    const failed = host('h1', 0, 50, 3_000, { state: 'failed', error: 'health: unhealthy' });
    const stoodDown: HostReport = {
      host: 'h2',
      state: 'cancelled',
      error: 'release bad is broken',
      steps: [{ step: 'received', at: T + 20 }, { step: 'waiting', at: T + 40 }],
      endedAt: T + 3_100,
    };
    const analysis = analyzeDeploy(deployOf(failed, stoodDown), T + 3_200);
    expect(analysis.waves.map((w) => w.hosts)).toEqual([['h1']]);
    const h2 = analysis.hosts.find((h) => h.host === 'h2')!;
    expect(h2).toMatchObject({ waitingMs: 3_080, workingMs: 0 });
    expect(h2.wave).toBeUndefined();
    expect(h2.slotAt).toBeUndefined();
    // Waiting is not a step of work: the slowest step is h1's.
    expect(analysis.slowestStep?.host).toBe('h1');
  });

  it("a host still deploying runs to `now`, and its slot is held until now", () => {
    const going: HostReport = {
      host: 'h1',
      state: 'deploying',
      slot: 1,
      steps: [{ step: 'received', at: T }, { step: 'slot', at: T + 100 }, { step: 'pull', at: T + 200 }],
    };
    const analysis = analyzeDeploy(deployOf(going), T + 5_200);
    expect(analysis.hosts[0]).toMatchObject({ waitingMs: 100, workingMs: 5_100, endedAt: T + 5_200, freedAt: T + 5_200 });
    expect(analysis.slowestStep).toEqual({ host: 'h1', step: 'pull', ms: 5_000 });
    expect(analysis.waves).toEqual([{ number: 1, hosts: ['h1'], startedAt: T + 100, endedAt: T + 5_200, durationMs: 5_100 }]);
  });

  it('counts the job as work on the host that ran it, and as waiting on the others', () => {
    const runner: HostReport = {
      host: 'h1',
      state: 'succeeded',
      slot: 1,
      steps: [{ step: 'received', at: T }, { step: 'job', at: T + 10 }, { step: 'slot', at: T + 9_010 }, { step: 'release', at: T + 10_000 }],
      endedAt: T + 10_010,
    };
    const waiter: HostReport = {
      host: 'h2',
      state: 'succeeded',
      slot: 2,
      steps: [{ step: 'received', at: T }, { step: 'job', at: T + 10 }, { step: 'slot', at: T + 9_020 }, { step: 'release', at: T + 10_000 }],
      endedAt: T + 10_010,
    };
    const job = { service: 'migrate', host: 'h1', state: 'succeeded' as const, attempt: 1, startedAt: T + 10, endedAt: T + 9_000 };
    expect(analyzeDeploy({ ...deployOf(runner, waiter), job }, T + 10_010).slowestStep).toEqual({ host: 'h1', step: 'job', ms: 9_000 });
    expect(analyzeDeploy(deployOf(runner, waiter), T + 10_010).slowestStep).toEqual({ host: 'h1', step: 'slot', ms: 990 });
  });

  it('lists hosts in name order, h2 before h10, and has nothing to say of a deploy no host reported', () => {
    const analysis = analyzeDeploy(deployOf(host('h10', 0, 10, 100, { slot: 3 }), host('h2', 0, 10, 100, { slot: 2 }), host('h1', 0, 10, 100)), T + 200);
    expect(analysis.hosts.map((h) => h.host)).toEqual(['h1', 'h2', 'h10']);
    expect(analysis.waves[0]?.hosts).toEqual(['h1', 'h2', 'h10']);
    expect(analyzeDeploy({ hosts: {} }, T)).toEqual({ hosts: [], waves: [], waitingMs: 0, workingMs: 0, slowestStep: undefined });
  });
});
