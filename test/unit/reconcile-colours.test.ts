// Reconcile on a host of a blue/green role: the live colour (the coordinator's answer) goes
// back in service at full weight, the other at weight 0 when it runs healthy and was not
// retired; a server found in service keeps whatever weight a switch gave it.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { GroupLanes } from '../../agent/deploy/group-lanes.js';
import { Reconciler } from '../../agent/reconcile.js';
import type { Deploy } from '../../shared/contract/schemas.js';
import type { Colour } from '../../shared/contract/strategy.js';
import type { BackendServer, LoadBalancer, RegisterOptions, ServerState } from '../../shared/ports/load-balancer.js';
import { withHostView } from '../fixtures/host-view.js';

const logger = pino({ level: 'silent' });
const V1 = '127.0.0.1:5000/web:v1';
const V2 = '127.0.0.1:5000/web:v2';
const signal = new AbortController().signal;

const deploys = [
  { id: 'd-v2', role: 'web', env: 'staging', tag: 'v2', image: V2, status: 'succeeded', createdAt: 2, hosts: {} },
  { id: 'd-v1', role: 'web', env: 'staging', tag: 'v1', image: V1, status: 'succeeded', createdAt: 1, hosts: {} },
] as unknown as Deploy[];

class FakeLoadBalancer implements LoadBalancer {
  registered: string[] = [];
  constructor(public states: Record<string, ServerState>) {}
  async drain(): Promise<void> {}
  async register(backend: string, server: string, address: string, _context?: unknown, options?: RegisterOptions): Promise<void> {
    this.registered.push(`${backend}/${server}@${address} weight ${options?.weight ?? 'default'}`);
    this.states[server] = 'ready';
  }
  async servers(): Promise<BackendServer[]> {
    return Object.entries(this.states).map(([name, state]) => ({ name, address: '', state }));
  }
}

/** v2 started on green by a blue/green deploy while blue served v1, then switched to. */
const blueGreenV2 = [
  { id: 'd-bg', role: 'web', env: 'staging', tag: 'v2', image: V2, status: 'succeeded', createdAt: 2, hosts: {}, colour: 'green', strategy: { kind: 'blue-green', phase: 'done', steps: [], current: 0, fromColour: 'blue', fromTag: 'v1' } },
  deploys[1],
] as unknown as Deploy[];

function setup(over: { live: Colour; retired?: Colour | null; states: Record<string, ServerState>; running: Partial<Record<Colour, string>>; unhealthy?: Colour[]; history?: Deploy[] }) {
  const lb = new FakeLoadBalancer(over.states);
  const reconciler = new Reconciler({
    node: 'h7',
    env: 'staging',
    lb: { web: { backend: 'web-staging', colours: { blue: { address: '10.0.0.7:8080' }, green: { address: '10.0.0.7:8081' } } } },
    coordinator: {
      listHostViews: async () => (over.history ?? deploys).map((d) => withHostView(d, 'h7')),
      groupColour: async () => ({ live: over.live, retired: over.retired ?? null }),
    },
    runtime: {
      runningImage: async (_role, colour) => (colour ? (over.running[colour] ?? null) : null),
      waitHealthy: async (_role, _context, _options, colour) => {
        if (colour && over.unhealthy?.includes(colour)) throw new Error(`${colour} is not healthy`);
      },
    },
    loadBalancer: lb,
    lanes: new GroupLanes(),
    logger,
  });
  return { reconciler, lb };
}

describe('reconcile of a role in two colours', () => {
  it('puts the live colour back at full weight and the healthy idle colour at weight 0', async () => {
    const { reconciler, lb } = setup({ live: 'green', states: { 'h7.blue': 'maint', 'h7.green': 'maint' }, running: { blue: V1, green: V2 } });
    expect(await reconciler.round(signal)).toEqual({ web: 'back_in_service' });
    expect(lb.registered).toEqual(['web-staging/h7.green@10.0.0.7:8081 weight 100', 'web-staging/h7.blue@10.0.0.7:8080 weight 0']);
  });

  it('after a switch back from a blue/green deploy, puts the live colour back with the release it went back to, not the one switched away from', async () => {
    // An HAProxy reload dropped the servers: blue, live again, runs v1.
    const back = setup({ live: 'blue', history: blueGreenV2, states: {}, running: { blue: V1, green: V2 } });
    expect(await back.reconciler.round(signal)).toEqual({ web: 'back_in_service' });
    expect(back.lb.registered).toEqual(['web-staging/h7.blue@10.0.0.7:8080 weight 100', 'web-staging/h7.green@10.0.0.7:8081 weight 0']);
    // Not switched back: green is live with the deploy's release, and blue's v2 would not be put back.
    const switched = setup({ live: 'green', history: blueGreenV2, states: {}, running: { blue: V2, green: V2 } });
    expect(await switched.reconciler.round(signal)).toEqual({ web: 'back_in_service' });
    const stale = setup({ live: 'blue', history: blueGreenV2, states: {}, running: { blue: V2, green: V2 } });
    expect(await stale.reconciler.round(signal)).toEqual({ web: 'not_desired' });
  });

  it('changes no weight of servers found in service: a switch survives an agent restart', async () => {
    const { reconciler, lb } = setup({ live: 'green', states: { 'h7.blue': 'ready', 'h7.green': 'ready' }, running: { blue: V1, green: V2 } });
    expect(await reconciler.round(signal)).toEqual({ web: 'in_service' });
    expect(lb.registered).toEqual([]);
  });

  it('leaves a retired colour out, even while its container runs', async () => {
    const { reconciler, lb } = setup({ live: 'blue', retired: 'green', states: { 'h7.blue': 'ready', 'h7.green': 'maint' }, running: { blue: V2, green: V1 } });
    await reconciler.round(signal);
    expect(lb.registered).toEqual([]);
  });

  it('leaves out an idle colour that runs nothing or is not healthy', async () => {
    const stopped = setup({ live: 'blue', states: { 'h7.blue': 'ready' }, running: { blue: V2 } });
    await stopped.reconciler.round(signal);
    expect(stopped.lb.registered).toEqual([]);
    const sick = setup({ live: 'blue', states: { 'h7.blue': 'ready', 'h7.green': 'maint' }, running: { blue: V2, green: V1 }, unhealthy: ['green'] });
    await sick.reconciler.round(signal);
    expect(sick.lb.registered).toEqual([]);
  });

  it('judges the live colour alone by the images the group should run', async () => {
    const { reconciler, lb } = setup({ live: 'blue', states: { 'h7.blue': 'maint', 'h7.green': 'ready' }, running: { blue: '127.0.0.1:5000/web:v0', green: V2 } });
    expect(await reconciler.round(signal)).toEqual({ web: 'not_desired' });
    expect(lb.registered).toEqual([]);
  });
});
