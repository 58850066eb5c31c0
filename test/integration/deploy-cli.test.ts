// `grapevine deploy` as it ships (bundled: the lean deploy in main.js, the rest of the program
// loaded only for other lines) against the coordinator over a real Redis, served on loopback.
// What CI and a person see: the started line and the deploy it names, the same help and
// the same refusals as before the lean path, nothing created on a refusal, and a list of
// coordinators tried in turn, and an https:// coordinator checked against the CA file given.
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { execa } from 'execa';
import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../../dev-cluster/free-port.js';
import { createLocalCa, issueServerCertificate } from '../../dev-cluster/local-ca.js';
import { cliAgainstCoordinator } from '../fixtures/cli-against-coordinator.js';
import { CoordinatorHarness, TOKEN, coordinatorOverRedis } from '../fixtures/coordinator-harness.js';
import { redisForThisFile } from '../fixtures/redis-server.js';

const testRedis = redisForThisFile();
let coordinator: CoordinatorHarness;

beforeEach(async () => {
  await coordinator?.fleetEvents.settled();
  await testRedis.client.flushdb();
  ({ coordinator } = coordinatorOverRedis(testRedis.client, pino({ level: 'silent' })));
  await coordinator.publish('web', 'v1');
});

const served = cliAgainstCoordinator('deploy-cli', () => coordinator);
/** The token in the environment, as CI passes it; extra variables override. */
const grapevine = (env: Record<string, string>, ...args: string[]) =>
  execa(process.execPath, [served.cli, ...args], { env: { GRAPEVINE_COORDINATOR: served.url, GRAPEVINE_TOKEN: TOKEN, ...env }, extendEnv: false, reject: false, timeout: 30_000 });

async function deployIds(): Promise<string[]> {
  const listed = await coordinator.call('GET', '/v1/deploys');
  expect(listed.status).toBe(200);
  return (listed.body.deploys as Array<{ id: string }>).map((deploy) => deploy.id);
}

const HELP = `Usage: grapevine deploy [options] <role>

deploy a release of ROLE to every matching host, a third at a time

Options:
  --env <env>         environment, e.g. production
  --tag <tag>         release tag (default: the newest published)
  --wait              follow the deploy and exit with its outcome
  --force             deploy even though the group is frozen (operator only)
  --strategy <kind>   rolling, canary or blue-green (default: the role's in the
                      coordinator's config)
  --cluster <name>    only the hosts of this cluster (Serf tag cluster), a third
                      of them at a time
  --max-per-zone <n>  at most N hosts of one zone (Serf tag zone) out of service
                      at once
  --zone-at-a-time    hosts of only one zone out of service at once
  -h, --help          display help for command
`;

describe('grapevine deploy', () => {
  it('starts the deploy, prints the one line naming it, and the coordinator has it with its targets and event', async () => {
    const started = await grapevine({}, 'deploy', 'web', '--env', 'production', '--tag', 'v1', '--max-per-zone', '1');
    expect(started.exitCode, started.stderr).toBe(0);
    expect(started.stderr).toBe('');
    const line = /^deploy (d-[a-z0-9]+) of web:v1 to production started$/.exec(started.stdout);
    expect(line, started.stdout).not.toBeNull();
    const deploy = await coordinator.getDeploy(line![1]!);
    expect(deploy).toMatchObject({ role: 'web', env: 'production', tag: 'v1', zoneRule: { kind: 'max-per-zone', max: 1 } });
    expect(deploy.targets).toEqual(['h1', 'h2', 'h3']);
    expect(coordinator.events.fired.map((event) => event.id)).toEqual([deploy.id]);
  });

  it('tries the next coordinator of the list when the first is not there', async () => {
    const nobody = `http://127.0.0.1:${await freePort()}`;
    const started = await grapevine({ GRAPEVINE_COORDINATOR: '' }, '--coordinator', `${nobody},${served.url}`, 'deploy', 'web', '--env=production');
    expect(started.exitCode, started.stderr).toBe(0);
    expect(started.stdout).toMatch(/^deploy d-[a-z0-9]+ of web:v1 to production started$/);
    expect(await deployIds()).toHaveLength(1);
  });

  it('starts a deploy on an https:// coordinator whose certificate the CA file vouches for, and refuses one it does not', async () => {
    const ca = await createLocalCa(join(served.dir, 'tls'), 'deploy-cli');
    const certificate = await issueServerCertificate(ca, 'coordinator', ['127.0.0.1']);
    const tls = { key: readFileSync(certificate.keyFile), cert: readFileSync(certificate.certFile) };
    const server = serve({ fetch: coordinator.app.fetch, hostname: '127.0.0.1', port: 0, createServer: createHttpsServer, serverOptions: tls });
    try {
      await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const started = await grapevine({ GRAPEVINE_COORDINATOR: url, GRAPEVINE_CA_FILE: ca.caFile }, 'deploy', 'web', '--env', 'production');
      expect(started.exitCode, started.stderr).toBe(0);
      expect(started.stdout).toMatch(/^deploy d-[a-z0-9]+ of web:v1 to production started$/);
      const untrusted = await grapevine({ GRAPEVINE_COORDINATOR: url }, 'deploy', 'web', '--env', 'production');
      expect(untrusted.exitCode).toBe(2);
      expect(untrusted.stderr).toMatch(new RegExp(`^grapevine: coordinator at ${url}: .*certificate.*; trusted: Node.js's public CAs`));
      expect(await deployIds()).toHaveLength(1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('prints the same help as before, and the whole deploy with --json', async () => {
    const help = await grapevine({}, 'deploy', '--help');
    expect(help.exitCode).toBe(0);
    expect(`${help.stdout}\n`).toBe(HELP);
    const json = await grapevine({}, '--json', 'deploy', 'web', '--env', 'production');
    expect(json.exitCode, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ role: 'web', env: 'production', tag: 'v1', targets: ['h1', 'h2', 'h3'] });
  });

  it('refuses bad input and a bad token with the reason and exit 2, and nothing is created', async () => {
    const refusals: Array<[Record<string, string>, string[], string]> = [
      [{}, ['deploy', 'web'], "error: required option '--env <env>' not specified"],
      [{}, ['deploy', 'web', '--env', 'production', '--bogus'], "error: unknown option '--bogus'"],
      [{}, ['deploy', 'web', '--env', 'production', '--tag'], "error: option '--tag <tag>' argument missing"],
      [{}, ['deploy', 'Web', '--env', 'production'], 'grapevine: role: (root) must be 1-32 characters of a-z, 0-9 and -, starting with a letter'],
      [{}, ['deploy', 'web', '--env', 'production', '--tag', '.v1'], 'grapevine: --tag: (root) must be a Docker tag: letters, digits, _ . - (at most 128)'],
      [{}, ['deploy', 'web', '--env', 'production', '--max-per-zone', '0'], 'grapevine: --max-per-zone must be a whole number of at least 1, got "0"'],
      [{}, ['deploy', 'web', '--env', 'production', '--max-per-zone', '1', '--zone-at-a-time'], 'grapevine: --max-per-zone and --zone-at-a-time: choose one'],
      [{ GRAPEVINE_COORDINATOR: '' }, ['deploy', 'web', '--env', 'production'], 'grapevine: no coordinator: pass --coordinator URL or set GRAPEVINE_COORDINATOR'],
      [{ GRAPEVINE_TOKEN: '' }, ['deploy', 'web', '--env', 'production'], 'grapevine: no token: set GRAPEVINE_TOKEN, or pass --token-file FILE (or set GRAPEVINE_TOKEN_FILE) naming a file that holds it'],
      [{ GRAPEVINE_TOKEN: 'not-a-token' }, ['deploy', 'web', '--env', 'production'], 'grapevine: unknown, revoked or expired token'],
      [{}, ['deploy', 'web', '--env', 'production', '--tag', 'v9'], 'grapevine: role web has no release v9; publish it first'],
    ];
    for (const [env, args, reason] of refusals) {
      const refused = await grapevine(env, ...args);
      expect(refused.exitCode, args.join(' ')).toBe(2);
      expect(refused.stderr.trim(), args.join(' ')).toBe(reason);
      expect(refused.stdout).toBe('');
    }
    expect(await deployIds()).toEqual([]);
    expect(coordinator.events.fired).toEqual([]);
  });
});
