// Scoped credentials end to end on one machine: the coordinator over a real Redis served over
// HTTP, and `grapevine token ...` as it ships (bundled), with the token only in the environment
// or a file. What an operator sees: the token once, the list, 401 after a revoke or past a ttl,
// 403 naming the scope, and who a deploy and a broken mark name.
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import { cliAgainstCoordinator } from '../fixtures/cli-against-coordinator.js';
import { CoordinatorHarness, TOKEN, coordinatorOverRedis } from '../fixtures/coordinator-harness.js';
import { until } from '../fixtures/poll.js';
import { redisForThisFile } from '../fixtures/redis-server.js';

const testRedis = redisForThisFile();
let coordinator: CoordinatorHarness;

beforeEach(async () => {
  // The last test's event readers (a quarantine's rollback among them) end before the store is emptied.
  await coordinator?.fleetEvents.settled();
  await testRedis.client.flushdb();
  ({ coordinator } = coordinatorOverRedis(testRedis.client, pino({ level: 'silent' })));
});

const served = cliAgainstCoordinator('credentials', () => coordinator);
const { dir } = served;

/** The token travels in the environment (or a file), never on the command line. */
const grapevine = (env: Record<string, string>, ...args: string[]) =>
  execa(process.execPath, [served.cli, ...args], { env: { GRAPEVINE_COORDINATOR: served.url, ...env }, extendEnv: false, reject: false, timeout: 30_000 });
const asOperator = (...args: string[]) => grapevine({ GRAPEVINE_TOKEN: TOKEN }, ...args);

describe('grapevine token', () => {
  it('creates a credential, prints its token once on stdout alone, lists it without the token, and revokes it', async () => {
    const created = await asOperator('token', 'create', '--scope', 'deployer', '--name', 'ci-web');
    expect(created.exitCode, created.stderr).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^gv_[A-Za-z0-9_-]{43}$/);
    expect(created.stderr).toMatch(/^created deployer credential t-[a-f0-9]{8} \(ci-web\), never expires; the token below is shown only this once$/m);
    const id = /t-[a-f0-9]{8}/.exec(created.stderr)![0];

    // Stored only as its hash.
    const stored = JSON.stringify(await testRedis.client.hgetall(redisKeys.credentials())) + (await testRedis.client.keys('gv:auth:*')).join();
    expect(stored).not.toContain(token.slice(3));

    const listed = await asOperator('token', 'list');
    expect(listed.exitCode).toBe(0);
    expect(listed.stdout).toContain(id);
    expect(listed.stdout).toMatch(new RegExp(`${id}\\s+deployer\\s+ci-web\\s+-\\s+never\\s+operator bootstrap \\(config\\)`));
    expect(listed.stdout).not.toContain(token);

    // The new token works from a file as from the environment.
    const file = join(dir, 'ci-web.token');
    writeFileSync(file, `${token}\n`, { mode: 0o600 });
    expect((await grapevine({ GRAPEVINE_TOKEN_FILE: file }, 'release', 'publish', 'web', 'v1')).exitCode).toBe(0);
    expect((await grapevine({}, '--token-file', file, 'release', 'list', 'web')).stdout).toMatch(/^v1 /);

    const revoked = await asOperator('token', 'revoke', id);
    expect(revoked.exitCode).toBe(0);
    expect(revoked.stdout.trim()).toBe(`revoked ${id}`);
    const refused = await grapevine({ GRAPEVINE_TOKEN: token }, 'release', 'list', 'web');
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr.trim()).toBe('grapevine: unknown, revoked or expired token');
    expect((await asOperator('token', 'list')).stdout).not.toContain(id);
    const again = await asOperator('token', 'revoke', id);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toContain(`no credential ${id}`);
  });

  it('expires a credential at its ttl (Redis drops its key): refused with 401 after, and gone from the list once its time has passed', async () => {
    const created = await asOperator('--json', 'token', 'create', '--scope', 'viewer', '--name', 'brief', '--ttl', '2s');
    expect(created.exitCode, created.stderr).toBe(0);
    const { credential, token } = JSON.parse(created.stdout);
    expect(credential.expiresAt - credential.createdAt).toBe(2_000);
    expect((await grapevine({ GRAPEVINE_TOKEN: token }, 'status')).exitCode).toBe(0);
    await until('the credential to expire', async () => ((await grapevine({ GRAPEVINE_TOKEN: token }, 'status')).exitCode === 2 ? true : undefined), {
      timeoutMs: 15_000,
      intervalMs: 250,
    });
    expect((await grapevine({ GRAPEVINE_TOKEN: token }, 'status')).stderr).toContain('unknown, revoked or expired token');
    // The list reads expiry by the coordinator's clock, here the harness's.
    expect((await asOperator('token', 'list')).stdout).toContain(credential.id);
    coordinator.clock = credential.expiresAt;
    expect((await asOperator('token', 'list')).stdout).not.toContain(credential.id);
  });

  it('a host credential names its host; a viewer cannot deploy; a deployer cannot mark broken; each refusal names the scope', async () => {
    const host = await asOperator('token', 'create', '--scope', 'host', '--host', 'h1');
    expect(host.stderr).toMatch(/host credential t-[a-f0-9]{8} \(h1\) for host h1/);
    await asOperator('release', 'publish', 'web', 'v1');
    const hostDeploys = await grapevine({ GRAPEVINE_TOKEN: host.stdout.trim() }, 'deploy', 'web', '--env', 'production');
    expect(hostDeploys.exitCode).toBe(2);
    expect(hostDeploys.stderr.trim()).toBe('grapevine: POST /v1/deploys needs the deployer scope; this credential (host h1) is host');

    const viewer = (await asOperator('token', 'create', '--scope', 'viewer', '--name', 'dash')).stdout.trim();
    expect((await grapevine({ GRAPEVINE_TOKEN: viewer }, 'status')).exitCode).toBe(0);
    const viewerDeploys = await grapevine({ GRAPEVINE_TOKEN: viewer }, 'deploy', 'web', '--env', 'production');
    expect(viewerDeploys.stderr.trim()).toBe('grapevine: POST /v1/deploys needs the deployer scope; this credential (viewer dash) is viewer');
    expect(coordinator.events.fired).toEqual([]);

    const deployer = await asOperator('--json', 'token', 'create', '--scope', 'deployer', '--name', 'ci-web');
    const { credential, token } = JSON.parse(deployer.stdout);
    const started = await grapevine({ GRAPEVINE_TOKEN: token }, '--json', 'deploy', 'web', '--env', 'production');
    expect(started.exitCode, started.stderr).toBe(0);
    expect(JSON.parse(started.stdout).startedBy).toBe(`deployer ci-web (${credential.id})`);
    const mark = await grapevine({ GRAPEVINE_TOKEN: token }, 'mark-broken', 'web', 'v1', '--reason', 'slow');
    expect(mark.exitCode).toBe(2);
    expect(mark.stderr.trim()).toBe('grapevine: POST /v1/releases/web/v1/broken needs the operator scope; this credential (deployer ci-web) is deployer');

    const marked = await asOperator('--json', 'mark-broken', 'web', 'v1', '--reason', 'slow');
    expect(JSON.parse(marked.stdout).broken).toMatchObject({ reason: 'slow', by: 'operator bootstrap (config)' });
  });

  it('refuses bad input before asking the coordinator, naming what is wrong', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['token', 'create', '--scope', 'admin'], /--scope must be one of viewer, deployer, operator, host, flags-reader; got admin/],
      [['token', 'create', '--scope', 'host'], /--scope host needs --host NAME/],
      [['token', 'create', '--scope', 'viewer', '--host', 'h1'], /--host is only for --scope host/],
      [['token', 'create', '--scope', 'viewer', '--ttl', '1 week'], /--ttl must be a whole number and a unit/],
      [['token', 'revoke', 'abc'], /id: .*t-<8 hex digits>/],
    ];
    for (const [args, message] of cases) {
      const answer = await asOperator(...args);
      expect(answer.exitCode, args.join(' ')).toBe(2);
      expect(answer.stderr).toMatch(message);
    }
    expect(await coordinator.credentials.list()).toEqual([]);
  });

  it('takes no token on the command line, and says where one goes when there is none', async () => {
    const onCommandLine = await grapevine({}, '--token', TOKEN, 'status');
    expect(onCommandLine.exitCode).toBe(2);
    expect(onCommandLine.stderr.trim()).toBe(
      'grapevine: --token is not taken (the command line shows in every process list): set GRAPEVINE_TOKEN or pass --token-file FILE',
    );
    const none = await grapevine({}, 'status');
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toContain('no token: set GRAPEVINE_TOKEN, or pass --token-file FILE');
    const unreadable = join(dir, 'missing.token');
    expect((await grapevine({}, '--token-file', unreadable, 'status')).stderr).toContain(`cannot read the token file ${unreadable}`);
    const empty = join(dir, 'empty.token');
    writeFileSync(empty, '\n');
    chmodSync(empty, 0o600);
    expect((await grapevine({}, '--token-file', empty, 'status')).stderr).toContain(`the token file ${empty} must hold one token on one line`);
  });
});
