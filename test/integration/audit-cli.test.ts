// `grapevine audit` and `grapevine history` as shipped (the bundled CLI) against the
// coordinator's app served on loopback over a real Redis: its store, and the audit log the
// app's events are written to. What a person or a script reading the output sees.
import { execa } from 'execa';
import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../shared/contract/audit-entry.js';
import { redisKeys } from '../../shared/contract/redis-keys.js';
import { RedisAuditLog } from '../../shared/redis/audit-log.js';
import { RedisCredentialStore } from '../../shared/redis/credential-store.js';
import { RedisDeployStore } from '../../shared/redis/deploy-store.js';
import { RedisFleetState } from '../../shared/redis/fleet-state.js';
import { cliAgainstCoordinator } from '../fixtures/cli-against-coordinator.js';
import { ListedMembers } from '../fixtures/coordinator-fakes.js';
import { CoordinatorHarness, TOKEN } from '../fixtures/coordinator-harness.js';
import { redisForThisFile } from '../fixtures/redis-server.js';

const silent = pino({ level: 'silent' });
const testRedis = redisForThisFile();
let coordinator: CoordinatorHarness;

beforeEach(async () => {
  const redis = testRedis.client;
  await redis.flushdb();
  const members = new ListedMembers();
  members.add('production', ['h1', 'h2', 'h3']);
  coordinator = new CoordinatorHarness({
    store: new RedisDeployStore({ redis, logger: silent }),
    fleet: new RedisFleetState({ redis, logger: silent, host: 'coordinator' }),
    credentials: new RedisCredentialStore({ redis, logger: silent }),
    members,
    // Real time: `--since` is read against the coordinator's clock, and the stream's ids are Redis's.
    auditLog: new RedisAuditLog({ redis, logger: silent, caps: { maxEntries: 1000, maxAgeMs: 86_400_000 } }),
  });
  coordinator.clock = Date.now();
});

const served = cliAgainstCoordinator('audit', () => coordinator);
const grapevine = (token: string, ...args: string[]) =>
  execa(process.execPath, [served.cli, ...args], { env: { GRAPEVINE_COORDINATOR: served.url, GRAPEVINE_TOKEN: token }, extendEnv: false, reject: false, timeout: 30_000 });

/** A rollout of v1 by `ci-web` in which each host takes slot 1 and releases it. */
async function rollout(): Promise<{ id: string; deployer: string }> {
  const deployer = await coordinator.tokenOf('deployer', 'ci-web');
  expect((await coordinator.call('POST', '/v1/releases', { role: 'web', tag: 'v1' }, { token: deployer })).status).toBe(201);
  const created = await coordinator.call('POST', '/v1/deploys', { role: 'web', env: 'production', tag: 'v1' }, { token: deployer });
  expect(created.status).toBe(201);
  const { id } = created.body;
  for (const [i, host] of ['h1', 'h2', 'h3'].entries()) {
    const at = coordinator.clock;
    const steps = [{ step: 'received' as const, at }, { step: 'slot' as const, at: at + 1 }];
    await coordinator.report(id, host, 'deploying', { counted: 3, slot: 1, epoch: i + 1, steps });
    await coordinator.report(id, host, 'succeeded', { counted: 3, slot: 1, epoch: i + 1, remaining: 2 - i, steps: [...steps, { step: 'release', at: at + 2 }] });
  }
  await coordinator.fleetEvents.settled();
  return { id, deployer };
}

describe('grapevine audit', () => {
  it('--json prints one entry per line, newest first, with who did each', async () => {
    const { id } = await rollout();
    const shown = await grapevine(TOKEN, 'audit', '--role', 'web', '--env', 'production', '--since', '1h', '--json');
    expect(shown.exitCode, shown.stderr).toBe(0);
    const entries = shown.stdout.split('\n').map((line) => JSON.parse(line) as AuditEntry);
    const story = entries.reverse().map((entry) => `${entry.action} ${entry.actor.replace(/\(t-[0-9a-f]{8}\)/, '(t-…)')} ${entry.host ?? ''}`.trim());
    expect(story).toEqual([
      'release.published deployer ci-web (t-…)',
      'deploy.started deployer ci-web (t-…)',
      'slot.taken h1 h1',
      'slot.released h1 h1',
      'slot.taken h2 h2',
      'slot.released h2 h2',
      'slot.taken h3 h3',
      'slot.released h3 h3',
      'deploy.finished coordinator',
    ]);
    expect(entries.filter((entry) => entry.action.startsWith('slot.')).every((entry) => entry.deployId === id)).toBe(true);
    expect(shown.stderr).toBe('');
  });

  it('prints a table for people, and says on stderr when older entries were left out', async () => {
    await rollout();
    const shown = await grapevine(TOKEN, 'audit', '--limit', '3');
    expect(shown.exitCode, shown.stderr).toBe(0);
    const lines = shown.stdout.split('\n');
    expect(lines[0]).toMatch(/^TIME\s+ACTOR\s+ACTION\s+WHAT$/);
    expect(lines.slice(1)).toHaveLength(3);
    expect(lines[1]).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z {2}coordinator\s+deploy\.finished\s+web\/production v1 d-\S+: succeeded in \d+\.\d s$/);
    expect(lines[2]).toMatch(/ h3\s+slot\.released\s+web\/production v1 d-\S+ h3: slot 1; the host succeeded$/);
    expect(shown.stderr).toBe('older entries left out: raise --limit (at most 1000) or narrow with --since');
  });

  it('is readable with a viewer token; a host token is refused and bad flags are named, with exit 2', async () => {
    await rollout();
    const viewer = await coordinator.tokenOf('viewer', 'dashboard');
    expect((await grapevine(viewer, 'audit', '--env', 'staging')).stdout).toMatch(/release\.published\s+web v1: image /);
    const asHost = await grapevine(await coordinator.hostToken('h1'), 'audit');
    expect(asHost.exitCode).toBe(2);
    expect(asHost.stderr).toMatch(/^grapevine: .*viewer/);
    for (const [args, named] of [
      [['--since', 'yesterday'], /--since must be a duration \(30m, 1h, 7d\) or an ISO 8601 time/],
      [['--limit', '5000'], /--limit must be a whole number from 1 to 1000/],
      [['--role', 'Web'], /--role/],
    ] as const) {
      const refused = await grapevine(TOKEN, 'audit', ...args);
      expect(refused.exitCode, args.join(' ')).toBe(2);
      expect(refused.stderr, args.join(' ')).toMatch(named);
      expect(refused.stdout).toBe('');
    }
    // Nothing in the stream holds a token.
    const stream = JSON.stringify(await testRedis.client.xrange(redisKeys.audit(), '-', '+'));
    expect(stream).not.toContain(viewer);
    expect(stream).not.toContain(TOKEN);
  });
});

describe('grapevine history', () => {
  it('lists the deploys of a role and environment with tag, kind, duration, who started each and the outcome', async () => {
    const { id, deployer } = await rollout();
    await coordinator.publish('web', 'v2');
    const second = await coordinator.deploy('web', 'production', 'v2');
    const rollback = await coordinator.call('POST', '/v1/rollbacks', { role: 'web', env: 'production' }, { token: deployer });
    expect(rollback.status, JSON.stringify(rollback.body)).toBe(201);

    const shown = await grapevine(TOKEN, 'history', 'web', '--env', 'production');
    expect(shown.exitCode, shown.stderr).toBe(0);
    const lines = shown.stdout.split('\n');
    expect(lines[0]).toMatch(/^DEPLOY\s+TAG\s+KIND\s+STARTED\s+DURATION\s+STARTED BY\s+OUTCOME$/);
    expect(lines[1]).toMatch(new RegExp(`^${rollback.body.id}\\s+v1\\s+rollback\\s+\\S+ \\S+Z\\s+.+ so far\\s+deployer ci-web \\(t-[0-9a-f]{8}\\)\\s+in progress \\(replaced v2\\)$`));
    expect(lines[2]).toMatch(new RegExp(`^${second.id}\\s+v2\\s+rollout\\s+.+\\s+operator bootstrap \\(config\\)\\s+in progress$`));
    expect(lines[3]).toMatch(new RegExp(`^${id}\\s+v1\\s+rollout\\s+.+\\s+\\d+\\.\\d s\\s+deployer ci-web \\(t-[0-9a-f]{8}\\)\\s+succeeded$`));

    const json = await grapevine(TOKEN, '--json', 'history', 'web', '--env', 'production', '--limit', '1');
    expect(json.exitCode, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([
      expect.objectContaining({ id: rollback.body.id, tag: 'v1', kind: 'rollback', rollbackOf: 'v2', status: 'in_progress', startedBy: expect.stringMatching(/^deployer ci-web /) }),
    ]);
    const refused = await grapevine(TOKEN, 'history', 'web');
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toMatch(/--env/);
  });
});
