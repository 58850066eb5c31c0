// Each fault of issue 8 put into a rollout on a 6-host local cluster through
// `grapevine dev chaos`, while the load balancer is watched as an operator would: HAProxy's
// server states every 100 ms and ~20 requests a second. Each test asserts what the
// operator sees, and the run prints one table of figures (most out / k, seconds to the
// deploy's end, final state, requests failed).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, isRunning } from '../../dev-cluster/local-process.js';
import type { Deploy } from '../../shared/contract/schemas.js';
import { pause } from '../../shared/contract/waiting.js';
import { PRODUCTION, startCluster, type TestCluster } from '../fixtures/cluster.js';
import { until } from '../fixtures/poll.js';
import { faultRow, recordFault } from './fault-table.js';
import { watchService, type ServiceFigures } from './service-watch.js';

/** k = ceil(6/3): the most production hosts a deploy may take out of service at once. */
const K = 2;
const ROLLOUT = { timeoutMs: 180_000, intervalMs: 250 };
/** The longest a watched fault runs; the watch stops by itself after it. */
const WATCH_MAX_MS = 240_000;
/** How long Redis stays down between kill -9 and restart: a crash, not a blip. */
const REDIS_OUTAGE_MS = 3_000;
const COORDINATOR_AWAY_SECONDS = 20;
const FINAL = new Set(['succeeded', 'partial', 'failed', 'errored', 'cancelled']);

describe('Grapevine keeps its promises under faults', () => {
  let fleet: TestCluster;
  const client = () => fleet.cluster.client();
  const state = () => fleet.state();
  const chaos = (...args: string[]) => fleet.chaos(...args);
  const watch = () =>
    watchService({ runtimeSocket: state().runtimeSocket, backend: 'web', servers: PRODUCTION, url: state().lbUrl, maxMs: WATCH_MAX_MS });
  /** The tag production does not run now, so each rollout replaces every host. */
  let current = 'v1';
  const startRollout = async (): Promise<string> => {
    const tag = current === 'v1' ? 'v2' : 'v1';
    const started = await fleet.cli(['deploy', 'web', '--env', 'production', '--tag', tag, '--json']);
    expect(started.exitCode, started.stderr).toBe(0);
    current = tag;
    return (JSON.parse(started.stdout) as Deploy).id;
  };
  /** Mid-rollout: a host holds a slot. */
  const untilMidRollout = (id: string) =>
    until(`deploy ${id} to have a host holding a slot`, async () => {
      const deploy = await client().getDeploy(id);
      return Object.values(deploy.hosts).some((host) => host.steps.some((s) => s.step === 'slot')) ? true : undefined;
    }, ROLLOUT);
  const ended = (id: string) =>
    until(`deploy ${id} to end`, async () => {
      const deploy = await client().getDeploy(id);
      return deploy.status === 'in_progress' ? undefined : deploy;
    }, ROLLOUT);
  /** Adds the fault's row to the run's table; returns the figures to assert on. */
  const record = (fault: string, figures: ServiceFigures, deploy: Deploy | undefined) => {
    recordFault(faultRow(fault, K, figures, deploy));
    return figures;
  };

  beforeAll(async () => {
    // A slow start keeps each host's deploy in progress long enough to put a fault into it.
    fleet = await startCluster({ name: 'gvtest-faults', subnet: '10.218.0', production: 6, startDelay: 1.5 });
    const v1 = await fleet.deploy('web', 'production', 'v1');
    expect(v1.deploy.status, v1.stderr).toBe('succeeded');
    const broken = await fleet.cli(['mark-broken', 'web', 'bad', '--reason', 'fault tests: a known bad release']);
    expect(broken.exitCode, broken.stderr).toBe(0);
  });
  afterAll(async () => {
    await fleet?.[Symbol.asyncDispose]();
  });

  it('kill -9 of Redis and a restart mid-rollout: nothing is lost, the deploy ends, a broken tag is still refused, at most k out', async () => {
    const before = await client().listReleases('web');
    const watching = watch();
    let deploy: Deploy | undefined;
    let figures: ServiceFigures | undefined;
    try {
      const id = await startRollout();
      await untilMidRollout(id);
      await chaos('kill-redis');
      // The outage is the fault itself, held for a set time; nothing is being waited for.
      await pause(REDIS_OUTAGE_MS);
      await chaos('restart-redis');
      deploy = await ended(id);
    } finally {
      figures = record('kill -9 of Redis and a restart, mid-rollout', await watching.stop(), deploy);
    }
    expect(FINAL.has(deploy.status), deploy.status).toBe(true);
    if (deploy.status !== 'succeeded') expect(deploy.reason).toBeTruthy();
    const after = await client().listReleases('web');
    expect(after.map((r) => r.tag).sort()).toEqual(before.map((r) => r.tag).sort());
    expect(after.find((r) => r.tag === 'bad')?.broken?.reason).toBe('fault tests: a known bad release');
    const refused = await fleet.cli(['deploy', 'web', '--env', 'production', '--tag', 'bad', '--json']);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain('broken');
    expect(figures.mostOut).toBeLessThanOrEqual(K);
  });

  it('the coordinator stopped for 20 s mid-rollout: the deploy ends succeeded, nobody is called lost, and it deploys again once back', async () => {
    const watching = watch();
    let deploy: Deploy | undefined;
    let figures: ServiceFigures | undefined;
    try {
      const id = await startRollout();
      await untilMidRollout(id);
      await chaos('stop-coordinator', '--for', String(COORDINATOR_AWAY_SECONDS));
      await until('the coordinator to answer again', async () => {
        try {
          return (await fetch(`${state().coordinatorUrl}/healthz`, { signal: AbortSignal.timeout(1_000) })).ok ? true : undefined;
        } catch {
          return undefined;
        }
      }, { timeoutMs: (COORDINATOR_AWAY_SECONDS + 40) * 1_000, intervalMs: 250 });
      deploy = await ended(id);
    } finally {
      figures = record(`coordinator stopped for ${COORDINATOR_AWAY_SECONDS} s, mid-rollout`, await watching.stop(), deploy);
    }
    // Agents keep each report until the coordinator acknowledges it, so the hosts that
    // succeeded while it was away are counted once it is back.
    expect(deploy, JSON.stringify(deploy.hosts)).toMatchObject({ status: 'succeeded' });
    expect(Object.values(deploy.hosts).filter((host) => host.state === 'lost')).toEqual([]);
    expect(figures.mostOut).toBeLessThanOrEqual(K);

    // It rejoined its Serf cluster by itself: it sees every host, and a new deploy is accepted.
    await until('the coordinator to see the six hosts alive', async () => {
      const alive = await fleet.cluster.serf().members({ status: 'alive', tags: { roles: '.+' } });
      return alive.length === PRODUCTION.length ? true : undefined;
    }, { timeoutMs: 30_000, intervalMs: 250 });
    const next = current === 'v1' ? 'v2' : 'v1';
    const again = await fleet.deploy('web', 'production', next);
    current = next;
    expect(again.deploy.status, again.stderr).toBe('succeeded');
  });

  it('the coordinator exits within 5 s of SIGTERM while Redis is down', async () => {
    await chaos('kill-redis');
    const coordinator = state().processes.coordinator!;
    expect(isRunning(coordinator)).toBe(true);
    const sentAt = Date.now();
    process.kill(coordinator.pid, 'SIGTERM');
    await until('the coordinator to exit after SIGTERM', () => (isAlive(coordinator.pid) ? undefined : true), { timeoutMs: 5_000, intervalMs: 50 });
    recordFault({ fault: 'SIGTERM to the coordinator with Redis down', finalState: `exited after ${((Date.now() - sentAt) / 1000).toFixed(1)} s` });
    await chaos('restart-redis');
    await chaos('restart-coordinator');
  });
});
