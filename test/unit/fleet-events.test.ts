// The fleet events the coordinator publishes as a deploy goes: what the event stream, the
// audit log, the notifications and the metrics are built from. Each change is told once,
// with who made it.
import { beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { ListedMembers, RecordingFleet } from '../fixtures/coordinator-fakes.js';
import { CoordinatorHarness } from '../fixtures/coordinator-harness.js';
import { InMemoryDeployStore } from '../fixtures/in-memory-deploy-store.js';
import { FleetEventBus } from '../../coordinator/fleet-event-bus.js';
import type { FleetEvent } from '../../shared/contract/fleet-events.js';

let coordinator: CoordinatorHarness;

beforeEach(() => {
  coordinator = new CoordinatorHarness({
    store: new InMemoryDeployStore(),
    fleet: new RecordingFleet(),
    members: fleetMembers(),
    promote: { web: { from: 'staging', to: 'production' } },
  });
});

function fleetMembers(): ListedMembers {
  const members = new ListedMembers();
  members.add('production', ['h1', 'h2', 'h3']);
  members.add('staging', ['s1']);
  return members;
}

const kinds = async () => {
  await coordinator.fleetEvents.settled();
  return coordinator.published.map((event) => event.kind);
};

describe('fleet events of a deploy', () => {
  it('tell a publish, the start with who started it, each report and one finish', async () => {
    await coordinator.publish('web', 'v1');
    const deploy = await coordinator.deploy('web', 'production');
    await coordinator.report(deploy.id, 'h1', 'succeeded', { counted: 3, remaining: 2 });
    await coordinator.report(deploy.id, 'h2', 'succeeded', { counted: 3, remaining: 1 });
    await coordinator.report(deploy.id, 'h3', 'succeeded', { counted: 3, remaining: 0 });
    // A late report after the end is told, the end is not told twice.
    await coordinator.report(deploy.id, 'h3', 'succeeded', { counted: 3, remaining: 0 });
    expect(await kinds()).toEqual([
      'release.published',
      'deploy.started',
      'host.reported',
      'host.reported',
      'host.reported',
      'deploy.finished',
      'host.reported',
    ]);
    const [published, started, firstReport] = coordinator.published;
    // The harness's calls carry the config's token unless told otherwise.
    expect(published).toMatchObject({ actor: 'operator bootstrap (config)', release: { role: 'web', tag: 'v1' } });
    expect(started).toMatchObject({ actor: 'operator bootstrap (config)', deploy: { id: deploy.id, targets: ['h1', 'h2', 'h3'] } });
    expect(firstReport).toMatchObject({ actor: 'h1', deploy: { id: deploy.id, role: 'web', env: 'production', tag: 'v1' }, report: { host: 'h1', state: 'succeeded' } });
    expect(coordinator.published.find((event) => event.kind === 'deploy.finished')).toMatchObject({ deploy: { id: deploy.id, status: 'succeeded' } });
  });

  it('tell a release broken once, naming the first host that failed, and the failed end', async () => {
    await coordinator.publish('web', 'v1');
    const deploy = await coordinator.deploy('web', 'production');
    await coordinator.report(deploy.id, 'h1', 'failed', { counted: 3, remaining: 2, error: 'health check failed' });
    await coordinator.report(deploy.id, 'h2', 'failed', { counted: 3, remaining: 1, error: 'health check failed too' });
    await coordinator.report(deploy.id, 'h3', 'cancelled', { counted: 3, remaining: 0 });
    await coordinator.fleetEvents.settled();
    const broken = coordinator.published.filter((event) => event.kind === 'release.broken');
    expect(broken).toEqual([{ kind: 'release.broken', at: expect.any(Number), actor: 'h1', role: 'web', tag: 'v1', reason: 'host h1 failed: health check failed' }]);
    expect(coordinator.published.at(-1)).toMatchObject({ kind: 'deploy.finished', deploy: { status: 'failed', reason: expect.stringContaining('host h1 failed') } });
  });

  it('tell a release broken once when its failing host reports the failure twice, its mark set before either report', async () => {
    const fleet = new RecordingFleet();
    coordinator = new CoordinatorHarness({ store: new InMemoryDeployStore(), fleet, members: fleetMembers() });
    await coordinator.publish('web', 'v1');
    const deploy = await coordinator.deploy('web', 'production');
    // The agent marks the release in Redis, then reports as it fails and again with its end.
    fleet.markAs('h2', { role: 'web', env: 'production' }, 'v1', 'health check failed');
    await coordinator.report(deploy.id, 'h2', 'failed', { counted: 3, remaining: 2, error: 'health check failed' });
    await coordinator.report(deploy.id, 'h2', 'failed', { counted: 3, remaining: 2, error: 'health check failed', endedAt: Date.now() });
    await coordinator.fleetEvents.settled();
    const broken = coordinator.published.filter((event) => event.kind === 'release.broken');
    expect(broken).toEqual([{ kind: 'release.broken', at: expect.any(Number), actor: 'h2', role: 'web', tag: 'v1', reason: 'host h2 failed: health check failed' }]);
  });

  it('tell an operator marking a release broken with the credential, once', async () => {
    await coordinator.publish('web', 'v1');
    const token = await coordinator.tokenOf('operator', 'alice');
    for (let i = 0; i < 2; i += 1) {
      const answer = await coordinator.call('POST', '/v1/releases/web/v1/broken', { reason: 'errors in the logs' }, { token });
      expect(answer.status).toBe(200);
    }
    await coordinator.fleetEvents.settled();
    expect(coordinator.published.filter((event) => event.kind === 'release.broken')).toEqual([
      expect.objectContaining({ actor: expect.stringMatching(/^operator alice /), role: 'web', tag: 'v1', reason: 'errors in the logs' }),
    ]);
  });

  it('tell a promotion as a deploy the coordinator started from the succeeded one', async () => {
    await coordinator.publish('web', 'v1');
    const staging = await coordinator.deploy('web', 'staging');
    await coordinator.report(staging.id, 's1', 'succeeded', { counted: 1, remaining: 0 });
    await coordinator.fleetEvents.settled();
    const promoted = coordinator.published.filter((event) => event.kind === 'deploy.started').at(-1);
    expect(promoted).toMatchObject({ actor: 'coordinator', deploy: { env: 'production', promotedFrom: staging.id } });
  });
});

describe('the bus', () => {
  it('never lets a failing or slow reader hold up the publisher or the other readers', async () => {
    const bus = new FleetEventBus(pino({ level: 'silent' }));
    const seen: string[] = [];
    let release!: () => void;
    bus.subscribe('throws', () => {
      throw new Error('reader broke');
    });
    bus.subscribe('slow', () => new Promise<void>((resolve) => (release = resolve)));
    bus.subscribe('records', (event: FleetEvent) => void seen.push(event.kind));
    bus.publish({ kind: 'serf.key-rotated', at: 1, actor: 'operator someone (t-1)' });
    // publish returned before any reader ran.
    expect(seen).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual(['serf.key-rotated']);
    release();
    await bus.settled();
  });
});
