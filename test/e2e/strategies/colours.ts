// Two colours per host on the staging group (4 hosts, README "Blue/green"), as an operator sees
// them in HAProxy and through the staging load balancer: a rolling deploy replaces the live
// colour on every host (its server `hN.<live>` ready at full weight, serving the new tag) and
// leaves the other colour out of traffic; a blue/green deploy starts the idle colour on every
// host at weight 0 while the live one keeps serving, the coordinator switches the whole group
// to it, and the old colour is retired (in maintenance, its app no longer answering) once kept
// for the cluster's keepOldMs. Each case starts from whatever the group runs, so parts run in
// any order; the group ends serving a good tag at full weight.
import net from 'node:net';
import { expect, it } from 'vitest';
import { backendFor } from '../../../dev-cluster/sample-app.js';
import { COLOUR_PORTS } from '../../../dev-cluster/hosts.js';
import { CoordinatorClient } from '../../../shared/coordinator-http/coordinator-client.js';
import { NotFoundError } from '../../../shared/contract/errors.js';
import type { Deploy } from '../../../shared/contract/schemas.js';
import { otherColour, type Colour } from '../../../shared/contract/strategy.js';
import { answersFrom, type TestCluster } from '../../fixtures/cluster.js';
import { until } from '../../fixtures/poll.js';

const ENV = 'staging';
const BACKEND = backendFor(ENV);
const ROLLOUT_MS = 240_000;
/** The cluster's keepOldMs (20 s) and a few reconcile and tick rounds. */
const RETIRE_MS = 60_000;
const SOCKET_TIMEOUT_MS = 3_000;

interface ServerState {
  /** HAProxy's operational state: 2 is UP. */
  op: number;
  /** Admin state bits: 0 ready; 1, 2, 4 or 0x20 maintenance; 8 or 0x10 drain. */
  admin: number;
  weight: number;
}

/** `show servers state BACKEND` on HAProxy's admin socket: each server's states and weight. */
async function serverStates(socketPath: string): Promise<Map<string, ServerState>> {
  const reply = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.createConnection(socketPath);
    socket.setTimeout(SOCKET_TIMEOUT_MS, () => socket.destroy(new Error('HAProxy did not answer in time')));
    socket.on('connect', () => socket.write(`show servers state ${BACKEND}\n`));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
  const [, header, ...rows] = reply.split('\n');
  const columns = (header ?? '').replace(/^#\s*/, '').split(' ');
  const at = (name: string) => columns.indexOf(name);
  const states = new Map<string, ServerState>();
  for (const row of rows) {
    const cells = row.split(' ');
    if (cells.length < columns.length) continue;
    states.set(cells[at('srv_name')]!, { op: Number(cells[at('srv_op_state')]), admin: Number(cells[at('srv_admin_state')]), weight: Number(cells[at('srv_uweight')]) });
  }
  return states;
}

const ready = (state: ServerState | undefined) => state !== undefined && state.op === 2 && state.admin === 0;
const inMaintenance = (state: ServerState | undefined) => state !== undefined && (state.admin & (0x01 | 0x02 | 0x04 | 0x20)) !== 0;

export function colourChecks(cluster: () => TestCluster): void {
  const hosts = () => cluster().hostsOf(ENV);
  const states = () => serverStates(cluster().cluster.state.runtimeSocket);
  const client = () => {
    const env = cluster().cluster.cliEnv();
    return new CoordinatorClient({ url: env.GRAPEVINE_COORDINATOR!, token: env.GRAPEVINE_TOKEN!, caFile: env.GRAPEVINE_CA_FILE });
  };
  /** The colour the coordinator sends the group's traffic to (blue until a blue/green deploy switched it). */
  const live = async (): Promise<Colour> => (await client().groupColour('web', ENV)).live;
  /** The tag the group does not serve now: each case deploys something new. */
  const nextTag = async (): Promise<'v1' | 'v2'> => {
    const answers = await cluster().lbAnswers(8, ENV).catch(() => new Set<string>());
    return [...answers].some((answer) => answer.startsWith('200 v1 ')) ? 'v2' : 'v1';
  };
  const addressOf = (host: string) => cluster().cluster.state.hosts.find((h) => h.name === host)!.address;
  /** What the colour's app answers on the host's own address, bypassing HAProxy; null when nothing listens. */
  const appAnswer = async (host: string, colour: Colour): Promise<string | null> => {
    try {
      const response = await fetch(`http://${addressOf(host)}:${COLOUR_PORTS[colour]}/`, { signal: AbortSignal.timeout(2_000) });
      return `${response.status} ${(await response.text()).trim()}`;
    } catch {
      return null;
    }
  };

  it('a rolling deploy replaces the live colour on every host: its server ready at full weight, serving the new tag', async () => {
    const colours = new Set<Colour>();
    for (const tag of ['v1', 'v2'] as const) {
      const startedAt = Date.now();
      const { exitCode, deploy, stderr } = await cluster().deploy('web', ENV, tag);
      console.log(`colours: rolling deploy of ${tag} to ${hosts().length} coloured hosts (${deploy.colour ?? 'blue'}) took ${Date.now() - startedAt} ms`);
      expect(exitCode, stderr).toBe(0);
      // The colour each host replaced, as the deploy records it: blue until a blue/green deploy switched the group.
      colours.add(deploy.colour ?? 'blue');
      expect(Object.values(deploy.hosts).map((host) => host.state)).toEqual(hosts().map(() => 'succeeded'));
    }
    expect(colours.size).toBe(1);
    const [colour] = [...colours] as [Colour];
    const servers = await states();
    for (const host of hosts()) {
      const server = servers.get(`${host}.${colour}`);
      expect(ready(server), `${host}.${colour}: ${JSON.stringify(server)}`).toBe(true);
      expect(server?.weight).toBe(100);
      // The other colour gets no traffic: not in rotation, or at weight 0.
      const other = servers.get(`${host}.${otherColour(colour)}`);
      expect(other === undefined || !ready(other) || other.weight === 0, `${host}.${otherColour(colour)}: ${JSON.stringify(other)}`).toBe(true);
      expect(servers.has(host), `a server named ${host} alone`).toBe(false);
      expect(await appAnswer(host, colour)).toBe(`200 v2 ${host}`);
    }
    expect(await cluster().lbAnswers(40, ENV)).toEqual(answersFrom('v2', hosts()));
  }, ROLLOUT_MS * 2);

  it('a blue/green deploy starts the idle colour at weight 0 while the live one serves, switches the group, then retires the old colour', async (context) => {
    // The coordinator's side (its strategy runner and the colour route) must be there to switch.
    const route = await client().groupColour('web', ENV).catch((error: unknown) => error);
    if (route instanceof NotFoundError) context.skip('the coordinator serves no group colours (GET /v1/groups/:role/:env/colour): its blue/green side is not in this build');
    const from = await live();
    const to = otherColour(from);
    const tag = await nextTag();
    // Served by the live colour before: during the deploy every answer is still from it.
    const before = await cluster().lbAnswers(8, ENV);
    const createdAt = Date.now();
    const created = await client().createDeploy({ role: 'web', env: ENV, tag, strategy: 'blue-green' });
    expect(created.colour).toBe(to);
    expect(created.strategy?.kind).toBe('blue-green');

    // Each new server as first seen ready, with the live colour's weight at that moment.
    const firstSeen = new Map<string, { weight: number; liveWeight: number }>();
    let ended: Deploy | undefined;
    const answersDuring = new Set<string>();
    await until('the blue/green deploy to end', async () => {
      const servers = await states();
      for (const host of hosts()) {
        const server = servers.get(`${host}.${to}`);
        if (ready(server) && !firstSeen.has(host)) firstSeen.set(host, { weight: server!.weight, liveWeight: servers.get(`${host}.${from}`)?.weight ?? -1 });
      }
      if (firstSeen.size < hosts().length) for (const answer of await cluster().lbAnswers(2, ENV)) answersDuring.add(answer);
      const deploy = await client().getDeploy(created.id);
      if (deploy.status !== 'in_progress') ended = deploy;
      return ended;
    }, { timeoutMs: ROLLOUT_MS, intervalMs: 100 });

    expect(ended?.status, ended?.strategy?.outcome).toBe('succeeded');
    const switchedAt = Date.now();
    console.log(`colours: blue/green deploy of ${tag} (${from} -> ${to}) on ${hosts().length} hosts: created to ended (switched) ${switchedAt - createdAt} ms`);
    const beforeSwitch = [...firstSeen.values()].filter((seen) => seen.liveWeight === 100);
    // The hosts that finished first wait at weight 0 for the others: seen so, whatever the timing of the last.
    expect(beforeSwitch.length, JSON.stringify([...firstSeen])).toBeGreaterThan(0);
    expect(beforeSwitch.every((seen) => seen.weight === 0), JSON.stringify([...firstSeen])).toBe(true);
    // Until the idle colour was up everywhere, the live colour served everything it served before.
    for (const answer of answersDuring) expect(before.has(answer), `answered ${answer} during the deploy`).toBe(true);

    expect(await live()).toBe(to);
    const switched = await states();
    for (const host of hosts()) {
      expect(ready(switched.get(`${host}.${to}`)) && switched.get(`${host}.${to}`)?.weight, `${host}.${to}`).toBe(100);
      expect(switched.get(`${host}.${from}`)?.weight, `${host}.${from}`).toBe(0);
    }
    expect(await cluster().lbAnswers(40, ENV)).toEqual(answersFrom(tag, hosts()));

    // Kept for keepOldMs, then retired: in maintenance, its containers stopped.
    await until('the old colour to be retired on every host', async () => {
      const servers = await states();
      const left: string[] = [];
      for (const host of hosts()) {
        if (!inMaintenance(servers.get(`${host}.${from}`)) || (await appAnswer(host, from)) !== null) left.push(host);
      }
      if (left.length === 0) return true;
      throw new Error(`old colour ${from} still in service or answering on ${left.join(', ')}`);
    }, { timeoutMs: RETIRE_MS, intervalMs: 500 });
    console.log(`colours: old colour ${from} retired on every host ${Date.now() - switchedAt} ms after the switch was seen (keepOldMs 20000)`);
    expect((await client().groupColour('web', ENV)).retired).toBe(from);
    expect(await cluster().lbAnswers(40, ENV)).toEqual(answersFrom(tag, hosts()));
  }, ROLLOUT_MS + RETIRE_MS + 60_000);
}
