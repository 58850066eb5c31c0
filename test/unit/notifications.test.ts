// What the notifications say and to whom: the notification each fleet event of a real
// (in-memory) coordinator makes, the Slack and JSON bodies, the HMAC signature a receiver
// checks, which targets hear of what, and the config's refusals. No network here: the
// deliveries are test/integration/notifier.test.ts's.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { notificationKindOf, notificationOf, type Notification } from '../../coordinator/notifications/notification.js';
import { duration } from '../../coordinator/notifications/notification-text.js';
import { slackMessage } from '../../coordinator/notifications/slack-message.js';
import { targetWants } from '../../coordinator/notifications/target-match.js';
import { verifyWebhookSignature, webhookSignature } from '../../coordinator/notifications/webhook-signature.js';
import { retryAfterMsOf } from '../../coordinator/notifications/webhook-transport.js';
import { loadCoordinatorConfig } from '../../shared/contract/config.js';
import { ConfigError } from '../../shared/contract/errors.js';
import type { FleetEvent } from '../../shared/contract/fleet-events.js';
import type { DeployRecord } from '../../shared/ports/deploy-store.js';
import { TEST_GOSSIP_KEY } from '../fixtures/agent-config-file.js';
import { ListedMembers, RecordingFleet } from '../fixtures/coordinator-fakes.js';
import { CoordinatorHarness, TOKEN } from '../fixtures/coordinator-harness.js';
import { InMemoryDeployStore } from '../fixtures/in-memory-deploy-store.js';

const PUBLIC_URL = 'https://grapevine.example.com/';

let coordinator: CoordinatorHarness;

beforeEach(() => {
  const members = new ListedMembers();
  members.add('production', ['h1', 'h2', 'h3']);
  members.add('staging', ['s1']);
  coordinator = new CoordinatorHarness({ store: new InMemoryDeployStore(), fleet: new RecordingFleet(), members, promote: { web: { from: 'staging', to: 'production' } } });
});

/** The notifications of every event the coordinator published so far, ids numbered in order. */
async function notifications(): Promise<Notification[]> {
  await coordinator.fleetEvents.settled();
  return coordinator.published.flatMap((event, index) => notificationOf(event, { id: `n-${index}`, publicUrl: PUBLIC_URL }) ?? []);
}

const record = (fields: Partial<DeployRecord>): DeployRecord => ({
  id: 'd-catchup01',
  role: 'web',
  env: 'production',
  tag: 'v2',
  image: '127.0.0.1:5000/web:v2',
  status: 'in_progress',
  createdAt: 1_700_000_000_000,
  ...fields,
});

describe('the notifications of a deploy', () => {
  it('tell its start and its success, each naming the deploy, tag, role, environment and who started it, with a link to its page', async () => {
    await coordinator.publish('web', 'v2');
    const token = await coordinator.tokenOf('deployer', 'ci-web');
    const answer = await coordinator.call('POST', '/v1/deploys', { role: 'web', env: 'production', tag: 'v2' }, { token });
    expect(answer.status).toBe(201);
    const id: string = answer.body.id;
    await coordinator.succeedEverywhere(answer.body);

    const told = await notifications();
    // Publishing a release and each host's report are not news; the start and the end are, once each.
    expect(told.map((n) => n.kind)).toEqual(['deploy.started', 'deploy.succeeded']);
    const [started, succeeded] = told as [Notification, Notification];
    const startedBy = expect.stringMatching(/^deployer ci-web \(t-[a-z0-9]+\)$/);
    expect(started).toMatchObject({
      version: 1,
      kind: 'deploy.started',
      role: 'web',
      env: 'production',
      tag: 'v2',
      actor: startedBy,
      url: `https://grapevine.example.com/ui/deploys/${id}`,
      deploy: { id, status: 'in_progress', startedBy, hosts: ['h1', 'h2', 'h3'], slots: 1 },
    });
    expect(started.text).toMatch(new RegExp(`^Deploy ${id} started: web:v2 to production \\(3 hosts, 1 at a time\\), started by deployer ci-web \\(t-[a-z0-9]+\\)\\.$`));
    expect(succeeded).toMatchObject({ kind: 'deploy.succeeded', actor: 'coordinator', deploy: { id, status: 'succeeded', startedBy, durationMs: expect.any(Number) } });
    expect(succeeded.text).toMatch(new RegExp(`^Deploy ${id} succeeded: web:v2 on production \\(3 hosts\\) in \\d+ s, started by deployer ci-web`));
  });

  it('tell a failure with the failing host and its error, and the release marked broken naming that host', async () => {
    await coordinator.publish('web', 'bad');
    const deploy = await coordinator.deploy('web', 'production', 'bad');
    await coordinator.report(deploy.id, 'h2', 'failed', { counted: 3, remaining: 2, error: 'container unhealthy after 30 s' });
    await coordinator.report(deploy.id, 'h1', 'cancelled', { counted: 3, remaining: 1 });
    await coordinator.report(deploy.id, 'h3', 'cancelled', { counted: 3, remaining: 0 });

    const told = await notifications();
    expect(told.map((n) => n.kind)).toEqual(['deploy.started', 'release.broken', 'deploy.failed']);
    const broken = told[1] as Notification;
    expect(broken).toMatchObject({ role: 'web', tag: 'bad', actor: 'h2', url: 'https://grapevine.example.com/ui', release: { host: 'h2', by: 'h2', reason: 'host h2 failed: container unhealthy after 30 s' } });
    expect(broken.env).toBeUndefined();
    expect(broken.text).toBe('Release web:bad marked broken: host h2 failed: container unhealthy after 30 s. It can no longer be deployed; hosts still waiting stand down.');
    const failed = told[2] as Notification;
    expect(failed.deploy).toMatchObject({ id: deploy.id, status: 'failed', reason: 'host h2 failed: container unhealthy after 30 s' });
    expect(failed.text).toMatch(new RegExp(`^Deploy ${deploy.id} failed: web:bad on production in \\d+ s: host h2 failed: container unhealthy after 30 s, started by operator bootstrap \\(config\\)\\.$`));
  });

  it('tell who marked a release broken by hand', async () => {
    await coordinator.publish('web', 'v3');
    const token = await coordinator.tokenOf('operator', 'alice');
    expect((await coordinator.call('POST', '/v1/releases/web/v3/broken', { reason: 'errors in the logs' }, { token })).status).toBe(200);
    const [broken] = await notifications();
    expect(broken?.release).toEqual({ reason: 'errors in the logs', by: expect.stringMatching(/^operator alice \(t-/) });
    expect(broken?.text).toMatch(/^Release web:v3 marked broken by operator alice \(t-[a-z0-9]+\): errors in the logs\./);
  });

  it('tell a rollback and a promotion as such, with what they replace or come from', async () => {
    await coordinator.publish('web', 'v1');
    await coordinator.succeedEverywhere(await coordinator.deploy('web', 'production', 'v1'));
    await coordinator.publish('web', 'v2');
    const staging = await coordinator.deploy('web', 'staging', 'v2');
    await coordinator.report(staging.id, 's1', 'succeeded', { counted: 1, remaining: 0 });
    await coordinator.fleetEvents.settled();
    const promotedId = (await coordinator.getDeploy(staging.id)).promotedTo;
    expect(promotedId).toBeDefined();
    await coordinator.succeedEverywhere(await coordinator.getDeploy(promotedId as string));
    const rollback = await coordinator.call('POST', '/v1/rollbacks', { role: 'web', env: 'production' });
    expect(rollback.status, JSON.stringify(rollback.body)).toBe(201);

    const told = await notifications();
    const promotion = told.find((n) => n.kind === 'promotion.started');
    expect(promotion).toMatchObject({ env: 'production', tag: 'v2', actor: 'coordinator', deploy: { id: promotedId, promotedFrom: staging.id } });
    expect(promotion?.text).toBe(`Promotion ${promotedId} started: web:v2 to production after deploy ${staging.id} succeeded (3 hosts, 1 at a time).`);
    expect(told.find((n) => n.kind === 'deploy.succeeded' && n.deploy?.id === promotedId)?.text).toMatch(new RegExp(`^Promotion ${promotedId} succeeded: web:v2 on production`));
    const back = told.at(-1);
    expect(back).toMatchObject({ kind: 'rollback.started', tag: 'v1', deploy: { id: rollback.body.id, rollbackOf: 'v2' } });
    expect(back?.text).toMatch(new RegExp(`^Rollback ${rollback.body.id} started: web on production back from v2 to v1 \\(3 hosts, 1 at a time\\), started by operator bootstrap`));
  });

  it('tell a promotion that could not be made, with both environments', () => {
    const event: FleetEvent = { kind: 'promotion.failed', at: 1, actor: 'coordinator', deploy: { id: 'd-source01', role: 'web', env: 'staging', tag: 'v2' }, to: 'production', error: 'promotion to production failed: redis refused' };
    const told = notificationOf(event, { id: 'n-1', publicUrl: 'http://10.0.0.1:7700' });
    expect(told).toMatchObject({ kind: 'promotion.failed', env: 'staging', url: 'http://10.0.0.1:7700/ui/deploys/d-source01', promotion: { from: 'staging', to: 'production' } });
    expect(told?.text).toBe('Promotion of web:v2 from staging (deploy d-source01) to production failed: promotion to production failed: redis refused.');
  });

  it('say nothing of a catch-up that starts, succeeds or stands down, and tell one that fails or ends partial', () => {
    const catchUp = { catchUpOf: 'd-rollout01', targets: ['h3'], startedBy: 'h3' };
    const started: FleetEvent = { kind: 'deploy.started', at: 1, actor: 'h3', deploy: record(catchUp) };
    const ended = (status: DeployRecord['status'], reason?: string): FleetEvent => ({
      kind: 'deploy.finished',
      at: 2,
      actor: 'coordinator',
      deploy: record({ ...catchUp, status, finishedAt: 1_700_000_042_000, ...(reason ? { reason } : {}) }),
    });
    expect(notificationKindOf(started)).toBeUndefined();
    expect(notificationKindOf(ended('succeeded'))).toBeUndefined();
    expect(notificationKindOf(ended('cancelled', 'host h3 stood down: release broken'))).toBeUndefined();
    expect(notificationKindOf(ended('failed', 'host h3 failed: pull failed'))).toBe('deploy.failed');
    const partial = notificationOf(ended('partial', 'hosts errored: h3 (redis did not answer)'), { id: 'n-1', publicUrl: PUBLIC_URL });
    expect(partial?.kind).toBe('deploy.partial');
    expect(partial?.text).toBe('Catch-up d-catchup01 of h3 (to deploy d-rollout01) ended partial: web:v2 on production in 42 s: hosts errored: h3 (redis did not answer), started by h3.');
  });

  it('say nothing of host reports, tokens, publishes or key rotations', () => {
    const quiet: FleetEvent[] = [
      { kind: 'host.reported', at: 1, actor: 'h1', deploy: { id: 'd-abc123', role: 'web', env: 'production', tag: 'v1' }, report: { host: 'h1', state: 'succeeded', steps: [] } },
      { kind: 'token.revoked', at: 1, actor: 'operator a (t-1)', token: { id: 't-1' } },
      { kind: 'serf.key-rotated', at: 1, actor: 'operator a (t-1)' },
      { kind: 'host.forgotten', at: 1, actor: 'operator a (t-1)', role: 'web', env: 'production', host: 'h1', forced: false },
    ];
    for (const event of quiet) expect(notificationOf(event, { id: 'n', publicUrl: PUBLIC_URL }), event.kind).toBeUndefined();
  });

  it('keep a long error short in the line and whole in the body', () => {
    const reason = `host h1 failed: ${'x'.repeat(1500)}`;
    const told = notificationOf({ kind: 'deploy.finished', at: 2, actor: 'coordinator', deploy: record({ status: 'failed', reason, finishedAt: 1_700_000_001_000 }) }, { id: 'n', publicUrl: PUBLIC_URL });
    expect(told?.deploy?.reason).toBe(reason);
    expect(told?.text.length).toBeLessThan(600);
    expect(told?.text).toContain('…');
  });

  it('write durations as a person reads them', () => {
    expect([850, 42_000, 185_000, 3_600_000, 3_720_000].map(duration)).toEqual(['850 ms', '42 s', '3 min 5 s', '1 h', '1 h 2 min']);
  });
});

describe('a Slack message', () => {
  const failed = notificationOf(
    { kind: 'deploy.finished', at: 2, actor: 'coordinator', deploy: record({ id: 'd-abc123', status: 'partial', reason: 'hosts errored: h2 (<redis> & co)', startedBy: 'deployer ci (t-1)', finishedAt: 1_700_000_003_000 }) },
    { id: 'n-1', publicUrl: PUBLIC_URL },
  ) as Notification;

  it('reads on its own as plain text, with the link, and escapes what Slack reads as markup', () => {
    const message = slackMessage(failed);
    expect(message.text).toBe(
      '◐ Deploy d-abc123 ended partial: web:v2 on production in 3 s: hosts errored: h2 (&lt;redis&gt; &amp; co), started by deployer ci (t-1). https://grapevine.example.com/ui/deploys/d-abc123',
    );
  });

  it('lays the same out in blocks, with a labelled link and the deploy facts', () => {
    const [section, context] = slackMessage(failed).blocks;
    expect(section).toEqual({
      type: 'section',
      text: { type: 'mrkdwn', text: expect.stringMatching(/ended partial: .*\n<https:\/\/grapevine\.example\.com\/ui\/deploys\/d-abc123\|Open deploy d-abc123>$/) },
    });
    expect(context).toEqual({ type: 'context', elements: [{ type: 'mrkdwn', text: 'role *web* · env *production* · tag *v2* · started by deployer ci (t-1)' }] });
  });
});

describe('the HMAC signature of a JSON delivery', () => {
  const secret = 'grapevine-test-secret-0123';
  const body = '{"version":1,"kind":"deploy.started"}';

  it('is HMAC-SHA256 of "<timestamp>.<body>" in hex, as `openssl dgst -sha256 -hmac` computes it', () => {
    expect(webhookSignature(secret, 1_700_000_000, body)).toBe('sha256=3d8a128995705bbdd52068a5f829c247a7b996444a30cde6dbd7dc9570dfff81');
  });

  it('verifies for the secret, the body and a recent timestamp only', () => {
    const signature = webhookSignature(secret, 1_700_000_000, body);
    const delivery = { body, signature, timestamp: '1700000000' };
    expect(verifyWebhookSignature(secret, delivery, 1_700_000_100)).toBe(true);
    expect(verifyWebhookSignature('another-secret-0123456', delivery, 1_700_000_100)).toBe(false);
    expect(verifyWebhookSignature(secret, { ...delivery, body: body.replace('started', 'succeeded') }, 1_700_000_100)).toBe(false);
    // A replay of an old delivery with its own (valid) signature is refused past the tolerance.
    expect(verifyWebhookSignature(secret, delivery, 1_700_000_301)).toBe(false);
    expect(verifyWebhookSignature(secret, { ...delivery, timestamp: '1700000001' }, 1_700_000_100)).toBe(false);
    expect(verifyWebhookSignature(secret, { ...delivery, signature: undefined }, 1_700_000_100)).toBe(false);
    expect(verifyWebhookSignature(secret, { ...delivery, signature: 'sha256=00' }, 1_700_000_100)).toBe(false);
    expect(verifyWebhookSignature(secret, { ...delivery, timestamp: 'soon' }, 1_700_000_100)).toBe(false);
  });
});

describe('which targets hear of a notification', () => {
  const at = (kind: Notification['kind'], fields: Partial<Notification> = {}): Notification => ({
    version: 1,
    id: 'n',
    kind,
    at: 1,
    actor: 'a',
    role: 'web',
    env: 'production',
    tag: 'v1',
    text: '',
    url: '',
    ...fields,
  });

  it('every target without filters; a filter on role, environment or kind keeps the others out', () => {
    expect(targetWants({}, at('deploy.started'))).toBe(true);
    expect(targetWants({ roles: ['api', 'web'] }, at('deploy.started'))).toBe(true);
    expect(targetWants({ roles: ['api'] }, at('deploy.started'))).toBe(false);
    expect(targetWants({ envs: ['staging'] }, at('deploy.started'))).toBe(false);
    expect(targetWants({ envs: ['production'], events: ['deploy.failed', 'release.broken'] }, at('deploy.failed'))).toBe(true);
    expect(targetWants({ envs: ['production'], events: ['deploy.failed', 'release.broken'] }, at('deploy.succeeded'))).toBe(false);
  });

  it('a broken release reaches every environment of its role; a failed promotion both of its environments', () => {
    const { env: _, ...withoutEnv } = at('release.broken');
    expect(targetWants({ roles: ['web'], envs: ['staging'] }, withoutEnv as Notification)).toBe(true);
    expect(targetWants({ roles: ['api'], envs: ['staging'] }, withoutEnv as Notification)).toBe(false);
    const promotion = at('promotion.failed', { env: 'staging', promotion: { from: 'staging', to: 'production', error: 'x' } });
    expect(targetWants({ envs: ['production'] }, promotion)).toBe(true);
    expect(targetWants({ envs: ['staging'] }, promotion)).toBe(true);
    expect(targetWants({ envs: ['qa'] }, promotion)).toBe(false);
  });
});

describe('Retry-After', () => {
  it('reads as seconds or as an HTTP date, and not otherwise', () => {
    expect(retryAfterMsOf('7', 0)).toBe(7_000);
    expect(retryAfterMsOf('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(10_000);
    expect(retryAfterMsOf('later', 0)).toBeUndefined();
  });
});

describe('the notification targets in the coordinator config', () => {
  const base = { GRAPEVINE_REDIS_URL: 'redis://127.0.0.1:6379', GRAPEVINE_TOKEN: TOKEN, GRAPEVINE_SERF_RPC_AUTH: 'rpc-auth-0123' };
  let dir: string;
  const secretFile = async (name: string, text: string, mode = 0o600) => {
    const path = join(dir, name);
    await writeFile(path, `${text}\n`);
    await chmod(path, mode);
    return path;
  };
  const load = async (content: object) => {
    const path = join(dir, 'coordinator.json');
    await writeFile(path, JSON.stringify({ listen: {}, registry: '127.0.0.1:5000', serf: { bind: '127.0.0.1:7946', encryptKey: TEST_GOSSIP_KEY, dataDir: '/tmp/gvtest-serf' }, ...content }));
    return () => loadCoordinatorConfig(path, base);
  };
  const refusal = (loading: () => unknown): string => {
    try {
      loading();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message;
    }
    throw new Error('the config was accepted');
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gvtest-notify-'));
    return () => rm(dir, { recursive: true, force: true });
  });

  it('takes targets with a role or a list of them, and none by default', async () => {
    const url = await secretFile('slack.url', 'https://hooks.slack.example/services/T0/B0/secretpart');
    const secret = await secretFile('hook.secret', 'a-secret-of-enough-length');
    const loaded = (
      await load({
        publicUrl: 'https://grapevine.example.com',
        notifications: [
          { name: 'web-chat', type: 'slack', urlFile: url, role: 'web', env: ['production', 'staging'] },
          { name: 'hook', type: 'json', urlFile: url, secretFile: secret, events: ['deploy.failed'] },
        ],
      })
    )();
    expect(loaded.publicUrl).toBe('https://grapevine.example.com');
    expect(loaded.notifications).toEqual([
      { name: 'web-chat', type: 'slack', urlFile: url, role: ['web'], env: ['production', 'staging'] },
      { name: 'hook', type: 'json', urlFile: url, secretFile: secret, events: ['deploy.failed'] },
    ]);
    expect((await load({}))().notifications).toEqual([]);
  });

  it('refuses a JSON target without a secret, an unknown kind, a URL in the config, a repeated name and a public URL not http(s), naming each field', async () => {
    const url = await secretFile('hook.url', 'https://hooks.example/in');
    const message = refusal(
      await load({
        publicUrl: 'ftp://grapevine.example.com',
        notifications: [
          { name: 'hook', type: 'json', urlFile: url },
          { name: 'chat', type: 'slack', urlFile: url, events: ['deploy.exploded'] },
          { name: 'chat2', type: 'slack', url: 'https://hooks.example/in' },
        ],
      }),
    );
    expect(message).toContain('publicUrl must be an http:// or https:// URL');
    expect(message).toContain('notifications.0.secretFile is required for a json target');
    expect(message).toMatch(/notifications\.1\.events\.0 Invalid option: expected one of "deploy.started"/);
    expect(message).toContain('notifications.2 Unrecognized key: "url"');
    expect(message).toContain('notifications.2.urlFile Invalid input');
    const twice = refusal(await load({ notifications: [{ name: 'chat', type: 'slack', urlFile: url }, { name: 'chat', type: 'slack', urlFile: url }] }));
    expect(twice).toContain('notifications.1.name chat names two targets; each needs its own name');
  });

  it('refuses a file others may read, one without an http(s) URL, a short secret, a missing file, never showing what they hold', async () => {
    const open = await secretFile('open.url', 'https://hooks.example/services/OPEN-SECRET-PATH', 0o644);
    const ftp = await secretFile('ftp.url', 'ftp://hooks.example/FTP-SECRET-PATH');
    const good = await secretFile('good.url', 'https://hooks.example/services/GOOD-SECRET-PATH');
    const short = await secretFile('short.secret', 'SHORTSECRET');
    const message = refusal(
      await load({
        notifications: [
          { name: 'open', type: 'slack', urlFile: open },
          { name: 'ftp', type: 'slack', urlFile: ftp },
          { name: 'short', type: 'json', urlFile: good, secretFile: short },
          { name: 'gone', type: 'json', urlFile: join(dir, 'missing.url'), secretFile: short },
        ],
      }),
    );
    expect(message).toContain(`notifications.0.urlFile (open) (${open}) may be read or changed by other users: chmod 600`);
    expect(message).toContain(`notifications.1.urlFile (ftp) (${ftp}) must hold one http:// or https:// URL`);
    expect(message).toContain(`notifications.2.secretFile (short) (${short}) must hold a secret of at least 16 characters`);
    expect(message).toMatch(/notifications\.3\.urlFile \(gone\) \(.*missing\.url\) cannot be read: ENOENT/);
    for (const secret of ['OPEN-SECRET-PATH', 'FTP-SECRET-PATH', 'GOOD-SECRET-PATH', 'SHORTSECRET']) expect(message).not.toContain(secret);
  });
});
