// Zone-aware slots on a local cluster of 6 production hosts in zones a, b and c (two each):
// a real rolling deploy with --max-per-zone 1 never has more than one host of a zone out of
// HAProxy's rotation, as sampled from HAProxy's runtime socket all along, and ends succeeded;
// the rule shows in the deploy record and `status`, the zone in `members`, and a cap below 1
// is refused with nothing stored.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendFor } from '../../dev-cluster/sample-app.js';
import { answersFrom, readyServers, startCluster, type TestCluster } from '../fixtures/cluster.js';
import { endedDeploy } from '../fixtures/wait-output.js';

const ZONES = ['a', 'b', 'c'];
/** h1..h6 round-robin: h1 and h4 in a, h2 and h5 in b, h3 and h6 in c. */
const zoneOf = (host: string) => ZONES[(Number(host.slice(1)) - 1) % ZONES.length]!;

describe('six production hosts in three zones', () => {
  let fleet: TestCluster;

  beforeAll(async () => {
    fleet = await startCluster({ name: 'gvzone-e2e', subnet: '10.244.0', production: 6, zones: ZONES, startDelay: 1 });
  }, 240_000);
  afterAll(async () => {
    await fleet?.[Symbol.asyncDispose]();
  });

  it('members shows each host its zone', async () => {
    const members = await fleet.cli(['members', '--env', 'production']);
    expect(members.exitCode, members.stderr).toBe(0);
    for (const host of fleet.hostsOf('production')) expect(members.stdout).toMatch(new RegExp(`^${host} .* zone=${zoneOf(host)}$`, 'm'));
  });

  it('a rolling deploy with --max-per-zone 1 takes at most one host of a zone out of HAProxy at once, and succeeds', async () => {
    const first = await fleet.deploy('web', 'production', 'v1');
    expect(first.exitCode, first.stderr).toBe(0);
    await fleet.untilAllInService('production');

    const hosts = fleet.hostsOf('production');
    const socket = fleet.state().runtimeSocket;
    let mostDownInAZone = 0;
    let mostDown = 0;
    let samples = 0;
    let sampling = true;
    const sampler = (async () => {
      // Bounded: the deploy itself ends well within this many samples.
      for (let i = 0; sampling && i < 100_000; i++) {
        const ready = await readyServers(socket, backendFor('production'));
        if (!ready) continue;
        samples++;
        const down = hosts.filter((host) => !ready.has(host));
        mostDown = Math.max(mostDown, down.length);
        for (const zone of ZONES) mostDownInAZone = Math.max(mostDownInAZone, down.filter((host) => zoneOf(host) === zone).length);
      }
    })();
    const startedAt = Date.now();
    const result = await fleet.cli(['deploy', 'web', '--env', 'production', '--tag', 'v2', '--max-per-zone', '1', '--wait', '--json']);
    sampling = false;
    await sampler;
    console.log(`max-per-zone 1, 6 hosts in 3 zones (k = 2): ${Date.now() - startedAt} ms; ${samples} HAProxy samples, most down at once ${mostDown}, most down in one zone ${mostDownInAZone}`);
    expect(result.exitCode, result.stderr).toBe(0);
    const deploy = endedDeploy(result.stdout);
    expect(deploy.status).toBe('succeeded');
    expect(deploy.zoneRule).toEqual({ kind: 'max-per-zone', max: 1 });
    expect(Object.values(deploy.hosts).map((h) => h.state)).toEqual(hosts.map(() => 'succeeded'));
    expect(mostDownInAZone).toBe(1);
    expect(mostDown).toBeLessThanOrEqual(2);
    expect(await fleet.lbAnswers(24)).toEqual(answersFrom('v2', hosts));

    const status = await fleet.cli(['status', deploy.id]);
    expect(status.exitCode, status.stderr).toBe(0);
    expect(status.stdout).toContain('zones: at most 1 host out per zone');
  }, 120_000);

  it('a cap below 1 is refused, naming the field, and nothing is stored', async () => {
    const before = await fleet.cli(['status', '--json']);
    const cli = await fleet.cli(['deploy', 'web', '--env', 'production', '--tag', 'v1', '--max-per-zone', '0']);
    expect(cli.exitCode).toBe(2);
    expect(cli.stderr).toContain('--max-per-zone');

    const env = fleet.cluster.cliEnv();
    const coordinator = env.GRAPEVINE_COORDINATOR!.split(',')[0]!;
    const answer = await fetch(`${coordinator}/v1/deploys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${env.GRAPEVINE_TOKEN}` },
      body: JSON.stringify({ role: 'web', env: 'production', tag: 'v1', maxPerZone: 0 }),
    });
    expect(answer.status).toBe(400);
    const body = (await answer.json()) as { error: { code: string; message: string } };
    expect(body.error.message).toContain('maxPerZone');
    const after = await fleet.cli(['status', '--json']);
    expect(after.stdout).toBe(before.stdout);
  });
});
