// A canary deploy driven by the coordinator's strategy runner (coordinator/strategies/), on an
// in-memory store with a stand-in load balancer whose traffic the test writes: the gate closed
// to the canary set, the step's weights, and each verdict's way out (pass opens the gate,
// fail marks the release broken and takes the canary out of traffic, marginal pauses for
// promote or abort), and a promote sent to the other coordinator held to the group's lock.
import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { StrategyRunner } from '../../coordinator/strategies/strategy-runner.js';
import type { Deploy } from '../../shared/contract/schemas.js';
import { RoleStrategyConfig } from '../../shared/contract/strategy.js';
import type { ColourState, GroupColour } from '../../shared/ports/colour-state.js';
import type { ServerTraffic, TrafficControl, WeightedServer } from '../../shared/ports/traffic.js';
import { ListedMembers, RecordingEvents, RecordingFleet } from '../fixtures/coordinator-fakes.js';
import { FleetEventBus } from '../../coordinator/fleet-event-bus.js';
import { CoordinatorHarness } from '../fixtures/coordinator-harness.js';
import { InMemoryDeployStore } from '../fixtures/in-memory-deploy-store.js';
import { CoordinatorGroupLocks } from '../../coordinator/leadership/group-lock.js';
import type { GroupLockStore } from '../../shared/ports/group-lock.js';
import type { DeployGroup } from '../../shared/ports/fleet-state.js';

const HOSTS = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6'];
const WINDOW_MS = 10_000;

/** HAProxy as the runner sees it: weights it was told, and per-second traffic the test describes. */
class StandInLoadBalancer implements TrafficControl {
  readonly weightCalls: Array<Record<string, number>> = [];
  readonly current = new Map(HOSTS.map((host) => [host, 100]));
  /** Share of each canary server's requests answered 5xx. */
  canaryErrors = 0;
  canary = new Set<string>();

  async setWeights(_backend: string, weights: Record<string, number>): Promise<void> {
    this.weightCalls.push({ ...weights });
    for (const [server, weight] of Object.entries(weights)) this.current.set(server, weight);
  }

  async weights(): Promise<WeightedServer[]> {
    return [...this.current].map(([name, weight]) => ({ name, address: `10.0.0.1:8080`, state: 'ready', weight }));
  }

  async traffic(_backend: string, fromMs: number, toMs: number): Promise<ServerTraffic[]> {
    return HOSTS.map((server) => {
      const buckets = [];
      for (let at = fromMs; at < toMs; at += 1000) {
        const errors = this.canary.has(server) ? Math.round(10 * this.canaryErrors) : 0;
        buckets.push({ at, requests: 10, errors, latencySumMs: 100, timed: 10 });
      }
      return { server, buckets };
    });
  }
}

/** The group locks' store as Redis keeps it (one token per group), shared by both coordinators of a test. */
class SharedLockStore implements GroupLockStore {
  readonly held = new Map<string, string>();
  async take(group: DeployGroup, token: string) {
    const holder = this.held.get(`${group.role}/${group.env}`);
    if (holder !== undefined) return { kind: 'held' as const, holder };
    this.held.set(`${group.role}/${group.env}`, token);
    return { kind: 'taken' as const };
  }
  async renew(group: DeployGroup, token: string) {
    return this.held.get(`${group.role}/${group.env}`) === token;
  }
  async release(group: DeployGroup, token: string) {
    if (this.held.get(`${group.role}/${group.env}`) !== token) return false;
    return this.held.delete(`${group.role}/${group.env}`);
  }
}

class InMemoryColours implements ColourState {
  readonly #groups = new Map<string, GroupColour>();
  async get({ role, env }: { role: string; env: string }) {
    return this.#groups.get(`${role}:${env}`);
  }
  async set(colour: GroupColour) {
    this.#groups.set(`${colour.role}:${colour.env}`, colour);
  }
  async all() {
    return [...this.#groups.values()];
  }
}

let coordinator: CoordinatorHarness;
let fleet: RecordingFleet;
let lb: StandInLoadBalancer;
let runner: StrategyRunner;
/** What a second coordinator needs to serve the same fleet: the same stores, its own runner and harness. */
let beside: (name: string) => CoordinatorHarness;
/** The group locks both coordinators meet at, as they would in Redis. */
let lockStore: SharedLockStore;
let clock: number;
/** The judge's marginal threshold: with two metrics of weight 1, one failing scores 50. */
let marginal: number;

beforeEach(async () => {
  fleet = new RecordingFleet();
  lb = new StandInLoadBalancer();
  clock = 1_000_000;
  const store = new InMemoryDeployStore();
  marginal = 75;
  const config = () =>
    RoleStrategyConfig.parse({
      backends: { production: 'web' },
      canary: { hosts: 2, steps: [{ percent: 25, windowMs: WINDOW_MS }], subWindowMs: 1_000, judge: { pass: 95, marginal } },
    });
  const colours = new InMemoryColours();
  const logger = pino({ level: process.env.TEST_LOG ?? 'silent' });
  // The runner tells its own bus; the API's bus (the harness's) feeds the quarantine, which this file does not look at.
  lockStore = new SharedLockStore();
  const coordinatorNamed = (name: string) => {
    const locks = new CoordinatorGroupLocks({ store: lockStore, name, logger, waitMs: 200, pollMs: 10 });
    const named = new StrategyRunner({ store, fleet, traffic: lb, colours, events: new RecordingEvents(), fleetEvents: new FleetEventBus(logger), config, logger, now: () => clock }, { locks });
    return { runner: named, coordinator: new CoordinatorHarness({ store, fleet, members: new ListedMembers(HOSTS), strategies: { runner: named, colours, config, canDriveLoadBalancer: true }, logger, groupLocks: locks }) };
  };
  ({ runner, coordinator } = coordinatorNamed('coordinator-1'));
  beside = (name) => coordinatorNamed(name).coordinator;
  await coordinator.publish('web', 'v1');
  await coordinator.publish('web', 'v2');
});

/** A canary deploy of v2 whose canary hosts have deployed, and its first step under way. */
async function canaryInItsStep(canaryErrors: number): Promise<Deploy> {
  const created = (await coordinator.call('POST', '/v1/deploys', { role: 'web', env: 'production', tag: 'v2', strategy: 'canary' })).body as Deploy;
  const canary = created.strategy?.canaryHosts ?? [];
  expect(canary).toHaveLength(2);
  expect(fleet.gates.get(`web/production/${created.id}`)).toEqual(canary);
  lb.canary = new Set(canary);
  lb.canaryErrors = canaryErrors;
  for (const [i, host] of canary.entries()) await coordinator.report(created.id, host, 'succeeded', { counted: 6, remaining: 5 - i });
  await runner.tick();
  const started = await coordinator.getDeploy(created.id);
  expect(started.strategy?.phase).toBe('analysis');
  // 25 % of the traffic on the two canary servers against four at full weight.
  const weights = lb.weightCalls.at(-1) ?? {};
  const canaryWeight = weights[canary[0] ?? ''] ?? 0;
  expect(weights).toMatchObject(Object.fromEntries(HOSTS.filter((h) => !canary.includes(h)).map((h) => [h, 100])));
  expect((2 * canaryWeight) / (2 * canaryWeight + 400)).toBeCloseTo(0.25, 1);
  clock += WINDOW_MS + 1_500;
  await runner.tick();
  return coordinator.getDeploy(created.id);
}

describe('a canary deploy driven by the strategy runner', () => {
  it('passes its step, puts every weight back to 100 and opens the gate for the rest', async () => {
    const deploy = await canaryInItsStep(0);
    expect(deploy.strategy?.phase).toBe('rollout');
    expect(deploy.strategy?.steps[0]?.analysis).toMatchObject({ verdict: 'pass', score: 100 });
    expect(lb.weightCalls.at(-1)).toEqual(Object.fromEntries(HOSTS.map((h) => [h, 100])));
    expect(fleet.gates.has(`web/production/${deploy.id}`)).toBe(false);
  });

  it('fails a canary that errs: out of traffic, release marked broken by the coordinator with the analysis, the deploy to end failed', async () => {
    const deploy = await canaryInItsStep(0.3);
    expect(deploy.strategy).toMatchObject({ phase: 'done', ended: 'failed' });
    expect(deploy.strategy?.outcome).toMatch(/^canary analysis failed at step 1 \(25 % of traffic\): score 50\/100/);
    for (const server of lb.canary) expect(lb.current.get(server)).toBe(0);
    const release = (await coordinator.call('GET', '/v1/releases/web')).body as { releases: Array<{ tag: string; broken?: { by: string; reason: string } }> };
    expect(release.releases.find((r) => r.tag === 'v2')?.broken).toMatchObject({ by: 'coordinator', reason: deploy.strategy?.outcome });
  });

  it('pauses on a marginal score until an operator promotes it, then rolls out', async () => {
    marginal = 50;
    const paused = await canaryInItsStep(0.3);
    expect(paused.strategy?.phase).toBe('paused');
    expect(paused.strategy?.steps[0]?.analysis).toMatchObject({ verdict: 'marginal', score: 50 });
    expect(fleet.gates.has(`web/production/${paused.id}`)).toBe(true);
    const deployer = await coordinator.call('POST', `/v1/deploys/${paused.id}/promote`, undefined, { token: await coordinator.tokenOf('deployer') });
    expect(deployer.status).toBe(403);
    const promoted = await coordinator.call('POST', `/v1/deploys/${paused.id}/promote`, undefined, { token: await coordinator.tokenOf('operator') });
    expect(promoted.status, JSON.stringify(promoted.body)).toBe(200);
    expect((promoted.body as Deploy).strategy).toMatchObject({ phase: 'rollout', decidedBy: expect.stringContaining('operator') });
    expect(fleet.gates.has(`web/production/${paused.id}`)).toBe(false);
  });

  it("promotes through the other coordinator only under the group's lock: 503 group_busy while the leader holds it for a step, nothing changed, then promoted", async () => {
    marginal = 50;
    const paused = await canaryInItsStep(0.3);
    const other = beside('coordinator-2');
    const operator = await other.tokenOf('operator');
    // The leader is in the middle of a step of this group.
    lockStore.held.set('web/production', 'coordinator-1/strategy-step/0a1b');
    const busy = await other.call('POST', `/v1/deploys/${paused.id}/promote`, undefined, { token: operator });
    expect(busy.status, JSON.stringify(busy.body)).toBe(503);
    expect(busy.body.error).toMatchObject({ code: 'group_busy', message: expect.stringContaining('coordinator coordinator-1 for a strategy-step') });
    expect((await coordinator.getDeploy(paused.id)).strategy?.phase).toBe('paused');
    lockStore.held.delete('web/production');
    const promoted = await other.call('POST', `/v1/deploys/${paused.id}/promote`, undefined, { token: operator });
    expect(promoted.status, JSON.stringify(promoted.body)).toBe(200);
    expect((promoted.body as Deploy).strategy).toMatchObject({ phase: 'rollout' });
    expect(lockStore.held.size).toBe(0);
  });

  it('stops a paused canary an operator aborts: out of traffic, its held hosts told to stand down', async () => {
    marginal = 50;
    const paused = await canaryInItsStep(0.3);
    const aborted = await coordinator.call('POST', `/v1/deploys/${paused.id}/abort`, undefined, { token: await coordinator.tokenOf('operator') });
    expect(aborted.status, JSON.stringify(aborted.body)).toBe(200);
    expect((aborted.body as Deploy).strategy).toMatchObject({ phase: 'done', ended: 'cancelled' });
    expect(fleet.stopped.get(`web/production/${paused.id}`)).toMatch(/^canary aborted by operator/);
    for (const server of lb.canary) expect(lb.current.get(server)).toBe(0);
    const again = await coordinator.call('POST', `/v1/deploys/${paused.id}/promote`, undefined, { token: await coordinator.tokenOf('operator') });
    expect(again.status).toBe(409);
  });
});
