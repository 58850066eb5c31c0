// A host's part in a deploy of a blue/green role: the colour it replaces (its project, server
// and address), the weight it registers at, what a failure puts back, and a deploy naming a
// colour on a host that runs the role without colours. Fakes for every adapter.
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { DeployRunner } from '../../agent/deploy/deploy-runner.js';
import type { RoleServers } from '../../agent/role-servers.js';
import type { SlotLocks } from '../../shared/ports/slot-locks.js';
import type { DeployGroup, FleetState } from '../../shared/ports/fleet-state.js';
import type { ContainerRuntime } from '../../shared/ports/container-runtime.js';
import type { BackendServer, LoadBalancer } from '../../shared/ports/load-balancer.js';
import type { Deploy, HostReport } from '../../shared/contract/schemas.js';
import { DeployStepError } from '../../shared/contract/errors.js';
import type { Colour } from '../../shared/contract/strategy.js';
import { withHostView } from '../fixtures/host-view.js';

const logger = pino({ level: 'silent' });
const event = { v: 1 as const, role: 'web', env: 'staging', id: 'd-colour1' };
const base: Deploy = {
  id: 'd-colour1', role: 'web', env: 'staging', tag: 'v2', image: 'registry:5000/web:v2',
  status: 'in_progress', createdAt: 0, hosts: {}, targets: ['h1', 'h2'], expectedHosts: 2, slots: 1,
};
const COLOURED: RoleServers = {
  backend: 'web-staging',
  colours: { blue: { address: '10.0.0.11:8080' }, green: { address: '10.0.0.11:8081' } },
};
const BLUE_GREEN: Deploy['strategy'] = { kind: 'blue-green', phase: 'staging', steps: [], current: 0 };
const PLAIN: RoleServers = { backend: 'web-staging', address: '10.0.0.11:8080' };

function setup(options: { deploy: Partial<Deploy>; lb?: RoleServers; running?: Partial<Record<Colour | 'none', string>>; failAt?: 'health' }) {
  const calls: string[] = [];
  const reports: HostReport[] = [];
  const running = new Map<string, string>(Object.entries(options.running ?? {}));
  const deploy = { ...base, ...options.deploy };
  const locks: SlotLocks = {
    async acquire() {
      calls.push('acquire');
      return { kind: 'acquired', lease: { slot: 1, epoch: 1, signal: new AbortController().signal, confirm: async () => undefined, release: async () => (calls.push('release'), true) } };
    },
  } as unknown as SlotLocks;
  const fleet: Pick<FleetState, 'initRemaining' | 'finishHost' | 'brokenReason' | 'markBroken' | 'backInService'> = {
    initRemaining: async (_group: DeployGroup, _id: string, hosts: number) => (calls.push('init'), hosts),
    finishHost: async () => (calls.push('finish'), 0),
    brokenReason: async () => null,
    markBroken: async (_group: DeployGroup, tag: string) => void calls.push(`markBroken ${tag}`),
    backInService: async () => true,
  };
  const runtime: ContainerRuntime = {
    runningImage: async (_role, colour) => running.get(colour ?? 'none') ?? null,
    pull: async () => undefined,
    up: async (_role, image, _context, colour) => {
      calls.push(`up ${colour ?? 'none'} ${image}`);
      running.set(colour ?? 'none', image);
    },
    waitHealthy: async (_role, _context, _options, colour) => {
      calls.push(`health ${colour ?? 'none'}`);
      if (options.failAt === 'health' && running.get(colour ?? 'none') === deploy.image) throw new DeployStepError('health', 'unhealthy');
    },
    stop: async (_role, _context, colour) => void calls.push(`stop ${colour ?? 'none'}`),
  };
  const loadBalancer: LoadBalancer = {
    drain: async (backend, server) => void calls.push(`drain ${backend}/${server}`),
    register: async (backend, server, address, _context, registered) => void calls.push(`register ${backend}/${server} ${address} weight ${registered?.weight ?? 'default'}`),
    servers: async (): Promise<BackendServer[]> => [],
  };
  const runner = new DeployRunner({
    node: 'h1',
    lb: { web: options.lb ?? COLOURED },
    locks, fleet: fleet as FleetState, runtime, loadBalancer,
    coordinator: { getHostView: async () => withHostView(deploy, 'h1'), report: async (_id, report) => void reports.push(report) },
    applied: { highest: async () => undefined, record: async () => undefined },
    logger,
    lookupRetriesMs: [0],
    stepRetriesMs: [0],
  });
  return { run: () => runner.run(event, new AbortController().signal), calls, reports };
}

describe('deploy runner on a blue/green role', () => {
  it('a deploy naming green replaces green alone: its project, server and address; blue is never drained', async () => {
    const { run, calls } = setup({ deploy: { colour: 'green' }, running: { blue: 'registry:5000/web:v1' } });
    const report = (await run())!;
    expect(report.state).toBe('succeeded');
    expect(calls).toEqual([
      'init', 'acquire', 'drain web-staging/h1.green', 'up green registry:5000/web:v2', 'health green',
      'register web-staging/h1.green 10.0.0.11:8081 weight 100', 'release', 'finish',
    ]);
  });

  it('a blue/green deploy registers the new colour at weight 0: the coordinator moves the traffic', async () => {
    const { run, calls } = setup({ deploy: { colour: 'green', strategy: BLUE_GREEN } });
    expect((await run())!.state).toBe('succeeded');
    expect(calls).toContain('register web-staging/h1.green 10.0.0.11:8081 weight 0');
  });

  it('a deploy without a colour on a role with colours replaces blue, the live colour until a first switch', async () => {
    const { run, calls } = setup({ deploy: {} });
    expect((await run())!.state).toBe('succeeded');
    expect(calls).toEqual([
      'init', 'acquire', 'drain web-staging/h1.blue', 'up blue registry:5000/web:v2', 'health blue',
      'register web-staging/h1.blue 10.0.0.11:8080 weight 100', 'release', 'finish',
    ]);
  });

  it('a deploy naming a colour on a host running the role without colours ends errored and counted out, before any slot, naming the setting', async () => {
    const { run, calls, reports } = setup({ deploy: { colour: 'green' }, lb: PLAIN });
    const report = (await run())!;
    expect(report.state).toBe('errored');
    expect(report.error).toContain('replaces the green colour of role web');
    expect(report.error).toContain('roles.web.colours is not set');
    expect(calls).toEqual(['init', 'finish']);
    expect(reports.at(-1)?.state).toBe('errored');
  });

  it('a failed colour that ran nothing before is stopped again and left out of the backend', async () => {
    const { run, calls } = setup({ deploy: { colour: 'green', strategy: BLUE_GREEN }, failAt: 'health' });
    expect((await run())!.state).toBe('failed');
    expect(calls.slice(-4)).toEqual(['markBroken v2', 'stop green', 'release', 'finish']);
    expect(calls.filter((call) => call.startsWith('register'))).toEqual([]);
  });

  it('a failed colour that ran an older release gets it back, at the weight the deploy would have used', async () => {
    const { run, calls } = setup({ deploy: { colour: 'green', strategy: BLUE_GREEN }, running: { green: 'registry:5000/web:v1' }, failAt: 'health' });
    expect((await run())!.state).toBe('failed');
    expect(calls.slice(-6)).toEqual([
      'markBroken v2', 'up green registry:5000/web:v1', 'health green', 'register web-staging/h1.green 10.0.0.11:8081 weight 0', 'release', 'finish',
    ]);
  });

  it('a role without colours is deployed as before: its one server at full weight', async () => {
    const { run, calls } = setup({ deploy: {}, lb: PLAIN });
    expect((await run())!.state).toBe('succeeded');
    expect(calls).toContain('up none registry:5000/web:v2');
    expect(calls).toContain('register web-staging/h1 10.0.0.11:8080 weight 100');
  });
});
