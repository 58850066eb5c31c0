// The notifier against a real local HTTP receiver: deliveries that fail and are tried
// again in order, signed anew each time; Retry-After, redirects, refusals and timeouts; a
// full queue; a receiver that holds its answer while a deploy goes on untouched; a stop.
// The delays between tries are shortened; the rules are the production ones.
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeliveryPolicy } from '../../coordinator/notifications/delivery-queue.js';
import { Notifier } from '../../coordinator/notifications/notifier.js';
import type { FleetEvent } from '../../shared/contract/fleet-events.js';
import type { NotificationKind, NotificationTarget } from '../../shared/contract/notification-config.js';
import type { DeployRecord } from '../../shared/ports/deploy-store.js';
import { ListedMembers, RecordingFleet } from '../fixtures/coordinator-fakes.js';
import { CoordinatorHarness } from '../fixtures/coordinator-harness.js';
import { InMemoryDeployStore } from '../fixtures/in-memory-deploy-store.js';
import { until } from '../fixtures/poll.js';
import { startWebhookReceiver, type ReceivedRequest, type WebhookReceiver } from '../fixtures/webhook-receiver.js';

const SECRET = 'notifier-test-secret-0123456789';
/** The part of a Slack-style URL that is its key: it must never reach a log. */
const SECRET_PATH = '/services/T000/B000/XXXXSECRETXXXX';
const FAST: DeliveryPolicy = { capacity: 100, delaysMs: [50, 100, 200, 400], deadlineMs: 10_000, timeoutMs: 2_000 };

let receiver: WebhookReceiver;
let logLines: string[];
let failures: Array<[string, NotificationKind]>;
let notifier: Notifier | undefined;

beforeEach(async () => {
  receiver = await startWebhookReceiver();
  logLines = [];
  failures = [];
});

afterEach(async () => {
  await notifier?.stop(100);
  notifier = undefined;
  await receiver.close();
});

function target(type: 'slack' | 'json', fields: Partial<NotificationTarget> = {}): NotificationTarget {
  return { name: `${type}-hook`, type, url: new URL(`${receiver.url}${SECRET_PATH}`), ...(type === 'json' ? { secret: SECRET } : {}), ...fields };
}

function startNotifier(targets: NotificationTarget[], policy: DeliveryPolicy = FAST): Notifier {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  notifier = new Notifier({
    targets,
    publicUrl: () => 'https://grapevine.example.com',
    logger: pino({ level: 'debug' }, sink),
    onDeliveryFailed: (name, kind) => failures.push([name, kind]),
    policy,
  });
  return notifier;
}

let deployCount = 0;
function deployEvents(): { started: FleetEvent; finished: FleetEvent; id: string } {
  deployCount += 1;
  const record: DeployRecord = {
    id: `d-notify${String(deployCount).padStart(4, '0')}`,
    role: 'web',
    env: 'production',
    tag: 'v2',
    image: '127.0.0.1:5000/web:v2',
    status: 'in_progress',
    createdAt: 1_700_000_000_000,
    targets: ['h1', 'h2', 'h3'],
    slots: 1,
    startedBy: 'deployer ci (t-abc)',
  };
  return {
    id: record.id,
    started: { kind: 'deploy.started', at: record.createdAt, actor: 'deployer ci (t-abc)', deploy: record },
    finished: { kind: 'deploy.finished', at: record.createdAt + 42_000, actor: 'coordinator', deploy: { ...record, status: 'succeeded', finishedAt: record.createdAt + 42_000 } },
  };
}

const header = (request: ReceivedRequest, name: string) => String(request.headers[name]);
const bodyOf = (request: ReceivedRequest) => JSON.parse(request.body) as { id: string; kind: string; deploy?: { id: string } };

describe('deliveries to a JSON webhook', () => {
  it('are tried again after a failure, in order, each try signed anew under the same delivery id', async () => {
    receiver.answerWith((_, index) => (index < 2 ? { status: 500 } : { status: 200 }));
    const notifier = startNotifier([target('json')]);
    const first = deployEvents();
    const second = deployEvents();
    for (const event of [first.started, first.finished, second.started]) notifier.read(event);

    await until('five requests', () => (receiver.received.length >= 5 ? true : undefined), { timeoutMs: 10_000 });
    const got = receiver.received;
    // The first delivery three times (two 500s, then taken), then the others, in the order they happened.
    const ids = got.map((request) => header(request, 'x-grapevine-delivery'));
    expect(new Set(ids.slice(0, 3)).size).toBe(1);
    expect(got.map((request) => `${bodyOf(request).kind} ${bodyOf(request).deploy?.id}`)).toEqual([
      `deploy.started ${first.id}`,
      `deploy.started ${first.id}`,
      `deploy.started ${first.id}`,
      `deploy.succeeded ${first.id}`,
      `deploy.started ${second.id}`,
    ]);
    for (const request of got) {
      expect(receiver.verifies(request, SECRET), 'signature').toBe(true);
      expect(receiver.verifies(request, 'some-other-secret-0123456'), 'another secret').toBe(false);
      expect(bodyOf(request).id).toBe(header(request, 'x-grapevine-delivery'));
      expect(header(request, 'x-grapevine-event')).toBe(bodyOf(request).kind);
      expect(header(request, 'content-type')).toBe('application/json');
      expect(request.path).toBe(SECRET_PATH);
    }
    expect(failures).toEqual([]);
    // Each failed try is logged as such, naming the target and its origin only.
    const retries = logLines.filter((line) => line.includes('trying again'));
    expect(retries).toHaveLength(2);
    expect(retries[0]).toContain('"why":"answered 500"');
    expect(retries[0]).toContain(`"origin":"${receiver.url}"`);
    expect(logLines.join('\n')).not.toContain(SECRET_PATH);
    expect(logLines.join('\n')).not.toContain(SECRET);
  });

  it('wait as long as a 429 asks within their bound, and give up at once on a Retry-After past it', async () => {
    receiver.answerWith((_, index) => (index === 0 ? { status: 429, headers: { 'retry-after': '1' } } : index === 2 ? { status: 429, headers: { 'retry-after': '3600' } } : { status: 200 }));
    const notifier = startNotifier([target('json')]);
    const first = deployEvents();
    notifier.read(first.started);
    await until('the retried delivery', () => (receiver.received.length >= 2 ? true : undefined), { timeoutMs: 10_000 });
    const [asked, again] = receiver.received as [ReceivedRequest, ReceivedRequest];
    console.log(`[notifier] a 429 asking for 1 s was tried again after ${again.at - asked.at} ms`);
    // Never sooner than the receiver asked (the policy's own pause here is 50 ms).
    expect(again.at - asked.at).toBeGreaterThanOrEqual(1_000);

    notifier.read(first.finished);
    await until('the failure of the delivery told to wait an hour', () => (failures.length > 0 ? true : undefined), { timeoutMs: 10_000 });
    expect(receiver.received).toHaveLength(3);
    expect(failures).toEqual([['json-hook', 'deploy.succeeded']]);
    expect(logLines.some((line) => line.includes('past the 10000 ms bound') && line.includes('"why":"answered 429"'))).toBe(true);
  });

  it('give up after their bounded tries, each failure counted and logged without the URL', async () => {
    receiver.answerWith(() => ({ status: 503 }));
    const notifier = startNotifier([target('json')], { ...FAST, delaysMs: [50, 50] });
    notifier.read(deployEvents().started);
    await until('the failure', () => (failures.length > 0 ? true : undefined), { timeoutMs: 10_000 });
    expect(receiver.received).toHaveLength(3);
    expect(failures).toEqual([['json-hook', 'deploy.started']]);
    const given = logLines.filter((line) => line.includes('notification not delivered'));
    expect(given).toHaveLength(1);
    expect(given[0]).toContain('no tries left after 3');
    expect(given[0]).toContain('"target":"json-hook"');
    expect(logLines.join('\n')).not.toContain(SECRET_PATH);
  });

  it('follow no redirect and try no refusal again', async () => {
    receiver.answerWith((request) => (request.path === SECRET_PATH && bodyOf(request).kind === 'deploy.started' ? { status: 302, headers: { location: '/elsewhere' } } : { status: 404 }));
    const notifier = startNotifier([target('json')]);
    const events = deployEvents();
    notifier.read(events.started);
    notifier.read(events.finished);
    await until('both failures', () => (failures.length === 2 ? true : undefined), { timeoutMs: 10_000 });
    expect(receiver.received.map((request) => request.path)).toEqual([SECRET_PATH, SECRET_PATH]);
    expect(failures).toEqual([
      ['json-hook', 'deploy.started'],
      ['json-hook', 'deploy.succeeded'],
    ]);
    expect(logLines.some((line) => line.includes('redirects are not followed'))).toBe(true);
    expect(logLines.some((line) => line.includes('"why":"answered 404"') && line.includes('not worth another try'))).toBe(true);
  });

  it('count a request left unanswered past its timeout as a failed try', async () => {
    receiver.answerWith((_, index) => (index === 0 ? 'hold' : { status: 200 }));
    const notifier = startNotifier([target('json')], { ...FAST, timeoutMs: 300 });
    notifier.read(deployEvents().started);
    await until('the second try', () => (receiver.received.length >= 2 ? true : undefined), { timeoutMs: 10_000 });
    expect(header(receiver.received[1] as ReceivedRequest, 'x-grapevine-delivery')).toBe(header(receiver.received[0] as ReceivedRequest, 'x-grapevine-delivery'));
    await until('the delivery', () => (logLines.some((line) => line.includes('notification delivered')) ? true : undefined));
    expect(logLines.some((line) => line.includes('"why":"no answer within the timeout"'))).toBe(true);
    expect(failures).toEqual([]);
  });

  it('drop the oldest waiting notification when the queue is full, logged and counted', async () => {
    receiver.answerWith((_, index) => (index === 0 ? 'hold' : { status: 200 }));
    const notifier = startNotifier([target('json')], { ...FAST, capacity: 2, timeoutMs: 5_000 });
    const sent = [deployEvents(), deployEvents(), deployEvents(), deployEvents()];
    notifier.read(sent[0]!.started);
    await until('the held request', () => (receiver.received.length === 1 ? true : undefined));
    // One is being sent (held); two wait; the fourth pushes the oldest waiting one out.
    for (const events of sent.slice(1)) notifier.read(events.started);
    expect(failures).toEqual([['json-hook', 'deploy.started']]);
    expect(logLines.some((line) => line.includes('notification dropped: the target has too many waiting'))).toBe(true);
    receiver.release();
    await until('the rest', () => (receiver.received.length === 3 ? true : undefined));
    expect(receiver.received.map((request) => bodyOf(request).deploy?.id)).toEqual([sent[0]!.id, sent[2]!.id, sent[3]!.id]);
  });
});

describe('a Slack-style webhook', () => {
  it('hears of a deploy without holding it up, however slowly it answers', async () => {
    receiver.answerWith(() => 'hold');
    const members = new ListedMembers();
    members.add('production', ['h1', 'h2', 'h3']);
    const coordinator = new CoordinatorHarness({ store: new InMemoryDeployStore(), fleet: new RecordingFleet(), members });
    const notifier = startNotifier([target('slack'), target('json', { name: 'staging-only', envs: ['staging'] })], { ...FAST, timeoutMs: 30_000 });
    coordinator.fleetEvents.subscribe('notifications', notifier.read);

    await coordinator.publish('web', 'v2');
    const began = performance.now();
    const deploy = await coordinator.deploy('web', 'production', 'v2');
    await coordinator.succeedEverywhere(deploy);
    await coordinator.fleetEvents.settled();
    const tookMs = performance.now() - began;
    // The deploy started, ran and ended, and every reader returned, while the start's delivery is held unanswered.
    await until('the held start', () => (receiver.received.length === 1 ? true : undefined));
    expect(logLines.some((line) => line.includes('notification delivered'))).toBe(false);
    console.log(`[notifier] a deploy with 3 host reports took ${tookMs.toFixed(0)} ms with its webhook holding its answer`);

    receiver.release();
    await until('the end', () => (receiver.received.length === 2 ? true : undefined));
    receiver.release();
    const [started, ended] = receiver.received.map((request) => JSON.parse(request.body) as { text: string; blocks: unknown[] });
    expect(started?.text).toBe(`▶ Deploy ${deploy.id} started: web:v2 to production (3 hosts, 1 at a time), started by operator bootstrap (config). https://grapevine.example.com/ui/deploys/${deploy.id}`);
    expect(ended?.text).toMatch(new RegExp(`^✔ Deploy ${deploy.id} succeeded: web:v2 on production \\(3 hosts\\) in \\d+ s`));
    expect(started?.blocks).toHaveLength(2);
    // A Slack target is not signed; the staging-only target heard nothing of production.
    expect(receiver.received.map((request) => request.headers['x-grapevine-signature'])).toEqual([undefined, undefined]);
    await until('the end delivered', () => (logLines.filter((line) => line.includes('notification delivered')).length === 2 ? true : undefined));
    expect(receiver.received).toHaveLength(2);
  });
});

describe('stopping the notifier', () => {
  it('ends within its bound with a delivery held, saying what went unsent', async () => {
    receiver.answerWith(() => 'hold');
    const notifier = startNotifier([target('json')], { ...FAST, timeoutMs: 30_000 });
    const events = deployEvents();
    notifier.read(events.started);
    notifier.read(events.finished);
    await until('the held request', () => (receiver.received.length === 1 ? true : undefined));
    const began = performance.now();
    await notifier.stop(200);
    console.log(`[notifier] stopped in ${(performance.now() - began).toFixed(0)} ms (grace 200 ms) with a request held`);
    expect(logLines.some((line) => line.includes('stopping with notifications still to send'))).toBe(true);
    expect(logLines.some((line) => line.includes('coordinator stopping: notification'))).toBe(true);
    // Nothing is sent after the stop.
    notifier.read(deployEvents().started);
    receiver.release();
    expect(receiver.received).toHaveLength(1);
  });
});
