// Each fault of issue 8 put into a rollout on a local cluster (6 production and 6 staging
// hosts, staging promoted to production) through `grapevine dev chaos`, while the load
// balancer is watched as an operator would: HAProxy's server states every 100 ms and ~20
// requests a second. Each test asserts what the operator sees, ends with every host back in
// service, and records its row of the run's table (test/faults/fault-table.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Chaos } from '../../dev-cluster/chaos.js';
import { isAlive, isRunning } from '../../dev-cluster/local-process.js';
import { backendFor } from '../../dev-cluster/sample-app.js';
import type { Deploy } from '../../shared/contract/schemas.js';
import { pause } from '../../shared/contract/waiting.js';
import { startCluster, type TestCluster } from '../fixtures/cluster.js';
import { until } from '../fixtures/poll.js';
import { faultRow, recordFault } from './fault-table.js';
import { watchService, type ServiceFigures } from './service-watch.js';

const HOSTS_PER_ENV = 6;
/** k = ceil(6/3), in production and in staging alike: the most hosts of a group a deploy may take out of service at once. */
const K = 2;
const ROLLOUT = { timeoutMs: 180_000, intervalMs: 250 };
/** The longest a watched fault runs; the watch stops by itself after it. */
const WATCH_MAX_MS = 240_000;
/** How long Redis stays down between kill -9 and restart: a crash, not a blip. */
const REDIS_OUTAGE_MS = 3_000;
/** Issue 8: a deploy whose hosts all succeeded while the coordinator was down for 60 s... */
const COORDINATOR_AWAY_SECONDS = 60;
/** ...ends succeeded within 10 s of its return. */
const ENDS_AFTER_RETURN_MS = 10_000;
const FINAL = new Set(['succeeded', 'partial', 'failed', 'errored', 'cancelled']);
const BROKEN_REASON = 'fault tests: a known bad release';

describe('Grapevine keeps its promises under faults', () => {
  let fleet: TestCluster;
  const client = () => fleet.cluster.client();
  const state = () => fleet.state();
  const chaos = (...args: string[]) => fleet.chaos(...args);
  const watch = (env = 'production') =>
    watchService({
      runtimeSocket: state().runtimeSocket,
      backend: backendFor(env),
      servers: fleet.hostsOf(env),
      url: env === 'production' ? state().lbUrl : state().stagingLbUrl,
      maxMs: WATCH_MAX_MS,
    });
  /** The tag each environment runs now: each rollout replaces every host of its group. */
  const running: Record<string, string> = { production: 'v1', staging: 'v1' };
  const otherTag = (env: string) => (running[env] === 'v1' ? 'v2' : 'v1');
  const startRollout = async (env = 'production', tag = otherTag(env)): Promise<string> => {
    const started = await fleet.cli(['deploy', 'web', '--env', env, '--tag', tag, '--json']);
    expect(started.exitCode, started.stderr).toBe(0);
    running[env] = tag;
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
  /** The first moment the coordinator answers its health check again, as this test saw it. */
  const untilCoordinatorAnswers = (timeoutMs: number) =>
    until('the coordinator to answer again', async () => {
      const answered = await fetch(`${state().coordinatorUrl}/healthz`, { signal: AbortSignal.timeout(1_000) });
      return answered.ok ? Date.now() : undefined;
    }, { timeoutMs, intervalMs: 100 });

  beforeAll(async () => {
    // A slow start keeps each host's deploy in progress long enough to put a fault into it.
    fleet = await startCluster({ name: 'gvtest-faults', subnet: '10.218.0', production: HOSTS_PER_ENV, staging: HOSTS_PER_ENV, startDelay: 1.5, promote: true });
    // Staging first: its success promotes v1 to production, as a release reaches production.
    const v1 = await fleet.deploy('web', 'staging', 'v1');
    expect(v1.deploy.status, v1.stderr).toBe('succeeded');
    const promotedTo = await until('the staging deploy of v1 to be promoted', async () => (await client().getDeploy(v1.deploy.id)).promotedTo, ROLLOUT);
    expect((await ended(promotedTo)).status).toBe('succeeded');
    const broken = await fleet.cli(['mark-broken', 'web', 'bad', '--reason', BROKEN_REASON]);
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
    expect(after.find((r) => r.tag === 'bad')?.broken?.reason).toBe(BROKEN_REASON);
    const refused = await fleet.cli(['deploy', 'web', '--env', 'production', '--tag', 'bad', '--json']);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain('broken');
    expect(figures.mostOut).toBeLessThanOrEqual(K);
    await fleet.untilAllInService('production');
  });

  it('Redis gone as a host passes its health check: the host and the deploy succeed, the release is not marked broken, nobody is left out of service', async () => {
    const watching = watch();
    let deploy: Deploy | undefined;
    let figures: ServiceFigures | undefined;
    let host = '';
    let killedAt = 0;
    let restartedAt = 0;
    const tag = otherTag('production');
    try {
      const id = await startRollout('production', tag);
      // The host's report says it is checking its new container's health: its slot, drain,
      // pull and start are behind it, and what follows (register, release, leaving the
      // out-of-service set, its report) runs while Redis is gone.
      host = await until(`a host of ${id} checking its health`, async () => {
        const current = await client().getDeploy(id);
        return Object.values(current.hosts).find((h) => h.state === 'deploying' && h.steps.some((s) => s.step === 'health'))?.host;
      }, { timeoutMs: ROLLOUT.timeoutMs, intervalMs: 50 });
      // dev chaos's own kill-redis, called in this process: the CLI's start-up would let the
      // host's health check pass before Redis is gone.
      await new Chaos(state().dir).killRedis();
      killedAt = Date.now();
      await pause(REDIS_OUTAGE_MS);
      await chaos('restart-redis');
      restartedAt = Date.now();
      deploy = await ended(id);
    } finally {
      figures = record(`Redis killed for ${REDIS_OUTAGE_MS / 1000} s as a host (${host || '-'}) passed its health check`, await watching.stop(), deploy);
    }
    // Redis went away while the host checked its health: every Redis call after it (the broken
    // check, confirming its lease before it registers, its release and leaving the
    // out-of-service set, its count-out) met the outage and was retried, not blamed on the release.
    const stepAt = (step: string) => deploy?.hosts[host]?.steps.find((s) => s.step === step)?.at ?? 0;
    console.log(
      `Redis outage: ${host} began its health check ${((killedAt - stepAt('health')) / 1000).toFixed(1)} s before Redis was killed; ` +
        `registered ${((stepAt('register') - restartedAt) / 1000).toFixed(1)} s and released ${((stepAt('release') - restartedAt) / 1000).toFixed(1)} s after it was back`,
    );
    expect(stepAt('health')).toBeGreaterThan(0);
    expect(stepAt('health')).toBeLessThan(killedAt);
    expect(stepAt('release')).toBeGreaterThan(killedAt);
    expect(deploy.hosts[host], JSON.stringify(deploy.hosts[host])).toMatchObject({ state: 'succeeded' });
    expect(deploy, JSON.stringify(deploy.hosts)).toMatchObject({ status: 'succeeded' });
    const release = (await client().listReleases('web')).find((r) => r.tag === tag);
    expect(release?.broken, `${tag} marked broken`).toBeUndefined();
    expect(figures.mostOut).toBeLessThanOrEqual(K);
    await fleet.untilAllInService('production');
  });

  it('the coordinator stopped for 60 s while a staging deploy\'s hosts deploy: it ends succeeded within 10 s of the coordinator\'s return, nobody is lost, and the promotion to production fires and succeeds', async () => {
    const tag = otherTag('production');
    expect(running.staging, 'staging must run another tag, so that the deploy replaces every host').not.toBe(tag);
    const watching = watch('staging');
    let deploy: Deploy | undefined;
    let figures: ServiceFigures | undefined;
    let returnedAt = 0;
    let healsAt = 0;
    try {
      const id = await startRollout('staging', tag);
      await untilMidRollout(id);
      healsAt = (await chaos('stop-coordinator', '--for', String(COORDINATOR_AWAY_SECONDS))).healsAt ?? 0;
      returnedAt = await untilCoordinatorAnswers((COORDINATOR_AWAY_SECONDS + 40) * 1_000);
      deploy = await ended(id);
    } finally {
      figures = record(`coordinator stopped for ${COORDINATOR_AWAY_SECONDS} s while a staging deploy's hosts deployed`, await watching.stop(), deploy);
    }
    const afterReturnMs = (deploy.finishedAt ?? Infinity) - returnedAt;
    console.log(
      `coordinator away ${COORDINATOR_AWAY_SECONDS} s: answered again ${((returnedAt - healsAt) / 1000).toFixed(1)} s after its restart was due; ` +
        `the deploy ended ${(afterReturnMs / 1000).toFixed(1)} s after it answered (promise: within ${ENDS_AFTER_RETURN_MS / 1000} s)`,
    );
    // Agents keep each report until the coordinator acknowledges it, so the hosts that
    // succeeded while it was away are counted once it is back.
    expect(deploy, JSON.stringify(deploy.hosts)).toMatchObject({ status: 'succeeded' });
    expect(Object.keys(deploy.hosts).sort()).toEqual(fleet.hostsOf('staging').sort());
    for (const report of Object.values(deploy.hosts)) {
      expect(report.endedAt, `${report.host} ended while the coordinator was away`).toBeLessThan(returnedAt);
    }
    expect(afterReturnMs).toBeLessThanOrEqual(ENDS_AFTER_RETURN_MS);
    expect(figures.mostOut).toBeLessThanOrEqual(K);

    // Its success promotes the tag to production: a deploy the coordinator makes and fires after its return.
    const promoted = await until(`deploy ${deploy.id} to be promoted`, async () => {
      const current = await client().getDeploy(deploy!.id);
      if (current.promotion) throw new Error(`the promotion failed: ${current.promotion.error}`);
      return current.promotedTo;
    }, ROLLOUT);
    running.production = tag;
    const production = await ended(promoted);
    expect(production).toMatchObject({ status: 'succeeded', env: 'production', tag, promotedFrom: deploy.id });
    console.log(`promotion: ${deploy.id} -> ${production.id}, ${production.status} after ${((production.finishedAt! - production.createdAt) / 1000).toFixed(1)} s`);

    // It rejoined its Serf cluster by itself: it sees every host.
    const all = state().hosts.length;
    await until(`the coordinator to see the ${all} hosts alive`, async () => {
      const alive = await fleet.cluster.serf().members({ status: 'alive', tags: { roles: '.+' } });
      return alive.length === all ? true : undefined;
    }, { timeoutMs: 30_000, intervalMs: 250 });
    await fleet.untilAllInService('staging');
    await fleet.untilAllInService('production');
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
    await fleet.untilAllInService('production');
  });
});
