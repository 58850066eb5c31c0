// An agent puts its host back in service only when the container runs an image its group
// should run, is healthy, and the load balancer holds the server out; never during a deploy.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { GroupLanes } from '../../agent/deploy/group-lanes.js';
import { acceptedImages, Reconciler, type ReconcileOptions } from '../../agent/reconcile.js';
import { UnreachableError } from '../../shared/contract/errors.js';
import type { Deploy, DeployStatus } from '../../shared/contract/schemas.js';
import type { BackendServer, LoadBalancer, ServerState } from '../../shared/ports/load-balancer.js';
import { withHostView } from '../fixtures/host-view.js';

const logger = pino({ level: 'silent' });
const V1 = '127.0.0.1:5000/web:v1';
const V2 = '127.0.0.1:5000/web:v2';

function deploy(tag: string, status: DeployStatus): Deploy {
  return { id: `d-${tag}-${status}`, role: 'web', env: 'production', tag, image: `127.0.0.1:5000/web:${tag}`, status, createdAt: 1, hosts: {} } as unknown as Deploy;
}

class FakeLoadBalancer implements LoadBalancer {
  registered: string[] = [];
  constructor(public state: ServerState | 'missing') {}
  async drain(): Promise<void> {}
  async register(backend: string, server: string, address: string): Promise<void> {
    this.registered.push(`${backend}/${server}@${address}`);
    this.state = 'ready';
  }
  async servers(): Promise<BackendServer[]> {
    return this.state === 'missing' ? [] : [{ name: 'h2', address: '10.0.0.2:8080', state: this.state }];
  }
}

function setup(over: { state?: ServerState | 'missing'; image?: string | null; healthy?: boolean; deploys?: Deploy[]; lanes?: GroupLanes; coordinatorDown?: boolean; runningFails?: boolean } = {}) {
  const lb = new FakeLoadBalancer(over.state ?? 'maint');
  const back: string[] = [];
  const running: Array<string | null> = [];
  const options: ReconcileOptions = {
    node: 'h2',
    env: 'production',
    lb: { web: { backend: 'web', address: '10.0.0.2:8080' } },
    coordinator: {
      listHostViews: async () => {
        if (over.coordinatorDown) throw new UnreachableError('coordinator at http://127.0.0.1:1 is unreachable');
        return (over.deploys ?? [deploy('v2', 'succeeded'), deploy('v1', 'succeeded')]).map((d) => withHostView(d, 'h2'));
      },
      groupColour: async () => {
        throw new Error('asked for the colours of a role without colours');
      },
    },
    runtime: {
      runningImage: async () => (over.image === undefined ? V2 : over.image),
      waitHealthy: async () => {
        if (over.healthy === false) throw new Error('container was not healthy within 5 s');
      },
    },
    loadBalancer: lb,
    lanes: over.lanes ?? new GroupLanes(),
    logger,
    onBackInService: (group) => void back.push(`${group.role}/${group.env}/${group.node}`),
    onRunning: (group, tag) => {
      if (over.runningFails) throw new Error('metrics exploded');
      running.push(tag === null ? `${group.role}/${group.env} none` : `${group.role}/${group.env} ${tag}`);
    },
  };
  return { reconciler: new Reconciler(options), lb, back, running };
}

const signal = new AbortController().signal;

describe('reconcile', () => {
  it.each(['maint', 'drain', 'missing'] as const)('puts a healthy container of the desired image back in service when its server is %s', async (state) => {
    const { reconciler, lb, back } = setup({ state });
    expect(await reconciler.round(signal)).toEqual({ web: 'back_in_service' });
    expect(lb.registered).toEqual(['web/h2@10.0.0.2:8080']);
    expect(lb.state).toBe('ready');
    expect(back).toEqual(['web/production/h2']);
  });

  it('leaves alone a container that is not of the desired image', async () => {
    const { reconciler, lb, back } = setup({ image: '127.0.0.1:5000/web:v0' });
    expect(await reconciler.round(signal)).toEqual({ web: 'not_desired' });
    expect(lb.registered).toEqual([]);
    expect(back).toEqual([]);
  });

  it('leaves alone an unhealthy container, and a host where none runs', async () => {
    const unhealthy = setup({ healthy: false });
    expect(await unhealthy.reconciler.round(signal)).toEqual({ web: 'unhealthy' });
    expect(unhealthy.lb.registered).toEqual([]);
    const none = setup({ image: null });
    expect(await none.reconciler.round(signal)).toEqual({ web: 'no_container' });
    expect(none.lb.registered).toEqual([]);
  });

  it('leaves alone a server already in service, and says it serves so it counts against no slot', async () => {
    const { reconciler, lb, back } = setup({ state: 'ready' });
    expect(await reconciler.round(signal)).toEqual({ web: 'in_service' });
    expect(lb.registered).toEqual([]);
    expect(back).toEqual(['web/production/h2']);
  });

  it('changes nothing while the coordinator does not answer, and converges at the next round', async () => {
    const down = setup({ coordinatorDown: true });
    expect(await down.reconciler.round(signal)).toEqual({ web: 'unreachable' });
    expect(down.lb.registered).toEqual([]);
  });

  it('never runs during a deploy of the group: it waits for the deploy to end, and one round waits, not many', async () => {
    const lanes = new GroupLanes();
    let endDeploy!: () => void;
    const deploying = lanes.run('web/production', () => new Promise<void>((resolve) => (endDeploy = resolve)));
    const { reconciler, lb } = setup({ lanes });
    const first = reconciler.round(signal);
    expect(await reconciler.round(signal)).toEqual({ web: 'busy' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(lb.registered).toEqual([]);
    endDeploy();
    await deploying;
    expect(await first).toEqual({ web: 'back_in_service' });
    expect(lb.registered).toHaveLength(1);
  });

  it('a group may run the newest deploy\'s image, and the last succeeded one until the newest succeeds', () => {
    expect(acceptedImages([deploy('v2', 'succeeded'), deploy('v1', 'succeeded')])).toEqual(new Set([V2]));
    expect(acceptedImages([deploy('v2', 'in_progress'), deploy('v1', 'succeeded')])).toEqual(new Set([V2, V1]));
    expect(acceptedImages([deploy('v2', 'partial'), deploy('v1', 'succeeded')])).toEqual(new Set([V2, V1]));
    expect(acceptedImages([deploy('v2', 'failed'), deploy('v1', 'succeeded')])).toEqual(new Set([V1]));
    expect(acceptedImages([])).toEqual(new Set());
  });

  it('a container of the last succeeded image, out of service while a newer deploy failed, goes back in service', async () => {
    const { reconciler } = setup({ image: V1, deploys: [deploy('v2', 'failed'), deploy('v1', 'succeeded')] });
    expect(await reconciler.round(signal)).toEqual({ web: 'back_in_service' });
  });

  it('tells which release runs at every round: the tag of a recent deploy of its image, none when no container runs', async () => {
    const serving = setup({ state: 'ready' });
    await serving.reconciler.round(signal);
    expect(serving.running).toEqual(['web/production v2']);
    const none = setup({ image: null });
    await none.reconciler.round(signal);
    expect(none.running).toEqual(['web/production none']);
    // Two tags of one image: the one this host deployed with success, though another is newer.
    const v2again = { ...deploy('v2', 'cancelled'), tag: 'v2-again', hosts: { h2: { host: 'h2', state: 'cancelled', steps: [] } } } as Deploy;
    const v2done = { ...deploy('v2', 'succeeded'), hosts: { h2: { host: 'h2', state: 'succeeded', steps: [] } } } as Deploy;
    const shared = setup({ state: 'ready', deploys: [v2again, v2done] });
    await shared.reconciler.round(signal);
    expect(shared.running).toEqual(['web/production v2']);
    // An image no recent deploy names: nothing is said rather than a guess.
    const unknown = setup({ image: '127.0.0.1:5000/web:v0' });
    await unknown.reconciler.round(signal);
    expect(unknown.running).toEqual([]);
  });

  it('goes on with its round when the one told which release runs fails', async () => {
    const { reconciler, lb } = setup({ runningFails: true });
    expect(await reconciler.round(signal)).toEqual({ web: 'back_in_service' });
    expect(lb.registered).toEqual(['web/h2@10.0.0.2:8080']);
  });
});
