// Notifications on the insight cluster: a local webhook receiver, started before the
// cluster, stands in for a team's chat (a Slack-style target) and a deploy tracker (a signed
// JSON target); the coordinator is told of both through its config, their URLs and secret
// in 0600 files. What the receiver gets is filtered by deploy id and tag, since the other
// parts deploy on the same cluster. The releases are this part's own tags (v2's and bad's
// images), so no other part's broken mark or deploy changes what it sees.
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import type { DevNotificationTarget } from '../../../dev-cluster/dev-cluster.js';
import type { Deploy } from '../../../shared/contract/schemas.js';
import type { TestCluster } from '../../fixtures/cluster.js';
import { until } from '../../fixtures/poll.js';
import { startWebhookReceiver, type ReceivedRequest, type WebhookReceiver } from '../../fixtures/webhook-receiver.js';

const GOOD_TAG = 'notify-ok';
const BAD_TAG = 'notify-bad';
/** A message is queued when the event happens and sent at once; this bounds the wait past the deploy's end. */
const DELIVERY_TIMEOUT_MS = 30_000;

export interface NotificationReceiver {
  receiver: WebhookReceiver;
  /** The targets to hand to startCluster's `notifications`. */
  targets: DevNotificationTarget[];
  /** The JSON target's HMAC secret. */
  secret: string;
  slackPath: string;
  jsonPath: string;
}

/** The receiver, on loopback (the dev coordinator is a local process), with one target of each type. */
export async function startNotificationReceiver(): Promise<NotificationReceiver> {
  const receiver = await startWebhookReceiver('127.0.0.1');
  // As a Slack webhook's, the path is the secret part of the URL.
  const slackPath = `/services/${randomBytes(12).toString('hex')}`;
  const jsonPath = '/hooks/grapevine';
  const secret = randomBytes(24).toString('base64url');
  return {
    receiver,
    secret,
    slackPath,
    jsonPath,
    targets: [
      { name: 'team-chat', type: 'slack', url: `${receiver.url}${slackPath}` },
      { name: 'deploy-tracker', type: 'json', url: `${receiver.url}${jsonPath}`, secret, role: ['web'] },
    ],
  };
}

interface JsonNotification {
  version: number;
  id: string;
  kind: string;
  actor: string;
  role: string;
  env?: string;
  tag: string;
  text: string;
  url: string;
  deploy?: { id: string; status?: string; startedBy?: string; reason?: string; hosts?: string[] };
  release?: { reason: string; by: string; host?: string };
}

export function notificationChecks(cluster: () => TestCluster, notifications: () => NotificationReceiver): void {
  const slackTexts = () => notifications().receiver.received.filter((r) => r.path === notifications().slackPath).map((r) => (JSON.parse(r.body) as { text: string }).text);
  const jsonRequests = () => notifications().receiver.received.filter((r) => r.path === notifications().jsonPath);
  const jsonOf = (request: ReceivedRequest) => JSON.parse(request.body) as JsonNotification;
  const ofDeploy = (id: string) => jsonRequests().filter((r) => jsonOf(r).deploy?.id === id);

  async function publish(tag: string, imageTag: string): Promise<void> {
    const published = await cluster().cli(['release', 'publish', 'web', tag, '--image', `${cluster().cluster.state.registry}/web:${imageTag}`]);
    expect(published.exitCode, published.stderr).toBe(0);
  }

  /** Waits (bounded) until `check` holds for what the receiver got; returns how long that took after `since`. */
  async function delivered(what: string, check: () => boolean, since: number): Promise<number> {
    await until(what, () => (check() ? true : undefined), { timeoutMs: DELIVERY_TIMEOUT_MS, intervalMs: 100 });
    return Date.now() - since;
  }

  it('tells a good deploy once when it starts and once when it succeeds, in chat and signed JSON, with its page', async () => {
    await publish(GOOD_TAG, 'v2');
    const { exitCode, deploy, stderr } = await cluster().deploy('web', 'production', GOOD_TAG);
    expect(exitCode, stderr).toBe(0);
    const ended = Date.now();
    const { id } = deploy;
    const waitedMs = await delivered(`both targets told of ${id}'s end`, () => ofDeploy(id).length >= 2 && slackTexts().filter((text) => text.includes(id)).length >= 2, ended);
    const endAt = ofDeploy(id)[1]?.at ?? Number.NaN;
    console.log(`[notifications] ${id}: the end reached the JSON target ${endAt - (deploy.finishedAt ?? Number.NaN)} ms after the coordinator ended the deploy; both targets had it ${waitedMs} ms after \`deploy --wait\` returned`);

    const page = `${cluster().state().coordinatorUrl}/ui/deploys/${id}`;
    const json = ofDeploy(id);
    expect(json.map((r) => jsonOf(r).kind)).toEqual(['deploy.started', 'deploy.succeeded']);
    for (const request of json) {
      expect(notifications().receiver.verifies(request, notifications().secret), 'HMAC signature').toBe(true);
      expect(jsonOf(request)).toMatchObject({ version: 1, role: 'web', env: 'production', tag: GOOD_TAG, url: page, deploy: { id, startedBy: 'operator bootstrap (config)' } });
      expect(request.headers['x-grapevine-delivery']).toBe(jsonOf(request).id);
    }
    expect(jsonOf(json[1] as ReceivedRequest).deploy).toMatchObject({ status: 'succeeded', hosts: cluster().hostsOf('production') });

    const chat = slackTexts().filter((text) => text.includes(id));
    expect(chat).toHaveLength(2);
    expect(chat[0]).toBe(`▶ Deploy ${id} started: web:${GOOD_TAG} to production (3 hosts, 1 at a time), started by operator bootstrap (config). ${page}`);
    expect(chat[1]).toMatch(new RegExp(`^✔ Deploy ${id} succeeded: web:${GOOD_TAG} on production \\(3 hosts\\) in [^,]+, started by operator bootstrap \\(config\\)\\. ${escapeRegExp(page)}$`));
    // A Slack webhook is not signed: its URL is its secret.
    expect(notifications().receiver.received.filter((r) => r.path === notifications().slackPath).every((r) => r.headers['x-grapevine-signature'] === undefined)).toBe(true);
  });

  it('tells a bad release: the deploy failed and the release marked broken, naming the failing host', async () => {
    await publish(BAD_TAG, 'bad');
    const bad = await cluster().deploy('web', 'staging', BAD_TAG);
    expect(bad.exitCode).toBe(1);
    expect(bad.deploy.status).toBe('failed');
    const ended = Date.now();
    const failing = failedHost(bad.deploy);
    const { id } = bad.deploy;
    const brokenOf = () => jsonRequests().filter((r) => jsonOf(r).kind === 'release.broken' && jsonOf(r).tag === BAD_TAG);
    const waitedMs = await delivered(`the failure of ${id} and the broken mark of ${BAD_TAG}`, () => ofDeploy(id).length >= 2 && brokenOf().length >= 1 && slackTexts().filter((text) => text.includes(BAD_TAG)).length >= 3, ended);
    const failedAt = ofDeploy(id)[1]?.at ?? Number.NaN;
    console.log(`[notifications] ${id}: the failure reached the JSON target ${failedAt - (bad.deploy.finishedAt ?? Number.NaN)} ms after the coordinator ended the deploy; both targets had it and the broken mark ${waitedMs} ms after \`deploy --wait\` returned`);

    expect(ofDeploy(id).map((r) => jsonOf(r).kind)).toEqual(['deploy.started', 'deploy.failed']);
    const failed = jsonOf(ofDeploy(id)[1] as ReceivedRequest);
    expect(failed.deploy?.reason).toContain(`host ${failing} failed`);
    expect(failed.text).toContain(`host ${failing} failed`);
    const broken = brokenOf();
    expect(broken).toHaveLength(1);
    expect(jsonOf(broken[0] as ReceivedRequest)).toMatchObject({ role: 'web', tag: BAD_TAG, actor: failing, release: { host: failing, by: failing, reason: expect.stringContaining(`host ${failing} failed`) } });
    for (const request of [...ofDeploy(id), ...broken]) expect(notifications().receiver.verifies(request, notifications().secret), 'HMAC signature').toBe(true);

    const chat = slackTexts().filter((text) => text.includes(BAD_TAG));
    expect(chat.filter((text) => text.startsWith(`✖ Deploy ${id} failed: web:${BAD_TAG} on staging`) && text.includes(`host ${failing} failed`))).toHaveLength(1);
    expect(chat.filter((text) => text.startsWith(`⚠ Release web:${BAD_TAG} marked broken: host ${failing} failed`))).toHaveLength(1);

    // Staging is left on a good release for the parts after this one.
    const good = await cluster().deploy('web', 'staging', GOOD_TAG);
    expect(good.exitCode, good.stderr).toBe(0);
  });
}

/** The host the failed deploy names as failing: the one whose report says so. */
function failedHost(deploy: Deploy): string {
  const failed = Object.values(deploy.hosts).filter((host) => host.state === 'failed').map((host) => host.host);
  expect(failed).toHaveLength(1);
  return failed[0] as string;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
