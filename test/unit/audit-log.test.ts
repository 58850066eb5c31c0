// The audit log as the coordinator writes and serves it, on an in-memory store and log: who
// did what for each change (publish, deploy, broken mark, rollback, promotion, tokens), each
// host's slot taken and released once however its reports come, lost hosts, and
// `GET /v1/audit`'s filters and checks. The Redis stream's caps are the integration test's.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { loadCoordinatorConfig } from '../../shared/contract/config.js';
import { TEST_GOSSIP_KEY } from '../fixtures/agent-config-file.js';
import { matchesAuditFilter, sinceTime, type AuditEntry } from '../../shared/contract/audit-entry.js';
import type { HostReport } from '../../shared/contract/schemas.js';
import { auditEntriesOf } from '../../coordinator/audit/audit-entries.js';
import { SlotSightings, slotMoves } from '../../coordinator/audit/slot-sightings.js';
import { ListedMembers, RecordingFleet } from '../fixtures/coordinator-fakes.js';
import { CoordinatorHarness, START, TOKEN } from '../fixtures/coordinator-harness.js';
import { InMemoryAuditLog } from '../fixtures/in-memory-audit-log.js';
import { InMemoryDeployStore } from '../fixtures/in-memory-deploy-store.js';

const OPERATOR = 'operator bootstrap (config)';

let coordinator: CoordinatorHarness;
let audit: InMemoryAuditLog;

beforeEach(() => {
  const members = new ListedMembers();
  members.add('production', ['h1', 'h2', 'h3'], 'web,api');
  members.add('staging', ['s1']);
  audit = new InMemoryAuditLog(() => coordinator.clock);
  coordinator = new CoordinatorHarness({
    store: new InMemoryDeployStore(),
    fleet: new RecordingFleet(),
    members,
    promote: { web: { from: 'staging', to: 'production' } },
    auditLog: audit,
  });
});

/** Entries as the API serves them, oldest first (the API answers newest first). */
async function entries(query = ''): Promise<AuditEntry[]> {
  await coordinator.fleetEvents.settled();
  const answer = await coordinator.call('GET', `/v1/audit?limit=1000${query}`);
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return [...(answer.body.entries as AuditEntry[])].reverse();
}

const steps = (...names: HostReport['steps'][number]['step'][]) => names.map((step, i) => ({ step, at: START + i }));

describe('what the audit log records', () => {
  it('names who published, deployed, marked broken and rolled back, and each host slot taken and released once', async () => {
    const deployer = await coordinator.tokenOf('deployer', 'ci-web');
    const operator = await coordinator.tokenOf('operator', 'alice');
    const asDeployer = { token: deployer };
    expect((await coordinator.call('POST', '/v1/releases', { role: 'web', tag: 'v1' }, asDeployer)).status).toBe(201);
    expect((await coordinator.call('POST', '/v1/releases', { role: 'web', tag: 'v2' }, asDeployer)).status).toBe(201);
    const first = (await coordinator.call('POST', '/v1/deploys', { role: 'web', env: 'production', tag: 'v1' }, asDeployer)).body;
    await coordinator.succeedEverywhere(first);
    const second = (await coordinator.call('POST', '/v1/deploys', { role: 'web', env: 'production', tag: 'v2' }, asDeployer)).body;

    // h1 reports step by step, and again after its end; h2's agent coalesced everything into one report; h3 stood down.
    await coordinator.report(second.id, 'h1', 'deploying', { counted: 3, steps: steps('received', 'waiting') });
    await coordinator.report(second.id, 'h1', 'deploying', { counted: 3, slot: 1, epoch: 7, steps: steps('received', 'waiting', 'slot') });
    await coordinator.report(second.id, 'h1', 'deploying', { counted: 3, slot: 1, epoch: 7, steps: steps('received', 'waiting', 'slot', 'drain', 'pull') });
    await coordinator.report(second.id, 'h1', 'succeeded', { counted: 3, slot: 1, epoch: 7, remaining: 2, steps: steps('received', 'waiting', 'slot', 'drain', 'pull', 'up', 'health', 'register', 'release') });
    await coordinator.report(second.id, 'h1', 'succeeded', { counted: 3, slot: 1, epoch: 7, remaining: 2, steps: steps('received', 'waiting', 'slot', 'drain', 'pull', 'up', 'health', 'register', 'release') });
    await coordinator.report(second.id, 'h2', 'failed', { counted: 3, slot: 1, epoch: 8, remaining: 1, error: 'health check failed', steps: steps('received', 'slot', 'drain', 'pull', 'up', 'health', 'release') });
    await coordinator.report(second.id, 'h3', 'cancelled', { counted: 3, remaining: 0, steps: steps('received', 'waiting') });

    expect((await coordinator.call('POST', '/v1/releases/web/v1/broken', { reason: 'leaks memory' }, { token: operator })).status).toBe(200);

    const log = await entries();
    const ofSecond = log.filter((entry) => entry.deployId === second.id);
    expect(ofSecond.map((entry) => [entry.action, entry.actor, entry.host])).toEqual([
      ['deploy.started', expect.stringMatching(/^deployer ci-web \(t-/), undefined],
      ['slot.taken', 'h1', 'h1'],
      ['slot.released', 'h1', 'h1'],
      ['slot.taken', 'h2', 'h2'],
      ['slot.released', 'h2', 'h2'],
      ['deploy.finished', 'coordinator', undefined],
    ]);
    expect(ofSecond[0]).toMatchObject({ role: 'web', env: 'production', tag: 'v2', detail: '3 hosts, 1 at a time' });
    expect(ofSecond[1]).toMatchObject({ detail: 'slot 1, epoch 7' });
    expect(ofSecond[2]).toMatchObject({ detail: 'slot 1; the host succeeded' });
    expect(ofSecond[4]).toMatchObject({ detail: 'slot 1; the host failed' });
    expect(ofSecond[5]?.detail).toMatch(/^failed in \d+\.\d s: host h2 failed: health check failed/);

    const broken = log.filter((entry) => entry.action === 'release.broken');
    expect(broken.map((entry) => [entry.actor, entry.tag, entry.detail])).toEqual([
      ['h2', 'v2', 'host h2 failed: health check failed'],
      [expect.stringMatching(/^operator alice \(t-/), 'v1', 'leaks memory'],
    ]);
    expect(log.filter((entry) => entry.action === 'release.published').map((entry) => [entry.actor, entry.tag, entry.detail])).toEqual([
      [expect.stringMatching(/^deployer ci-web /), 'v1', expect.stringMatching(/^image 127\.0\.0\.1:5000\/web@sha256:/)],
      [expect.stringMatching(/^deployer ci-web /), 'v2', expect.stringMatching(/^image 127\.0\.0\.1:5000\/web@sha256:/)],
    ]);
    // Flat: every field a string, times in ISO 8601.
    for (const entry of log) {
      for (const value of Object.values(entry)) expect(typeof value).toBe('string');
      expect(entry.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    }
  });

  it('tells a rollback and a promotion apart from a rollout, with who started each', async () => {
    const deployer = await coordinator.tokenOf('deployer', 'ci-web');
    await coordinator.publish('web', 'v1');
    await coordinator.publish('web', 'v2');
    await coordinator.succeedEverywhere(await coordinator.deploy('web', 'production', 'v1'));
    const staging = await coordinator.deploy('web', 'staging', 'v2');
    await coordinator.report(staging.id, 's1', 'succeeded', { counted: 1, remaining: 0 });
    await coordinator.fleetEvents.settled();
    const promoted = (await coordinator.getDeploy(staging.id)).promotedTo;
    expect(promoted).toBeDefined();
    const rollback = await coordinator.call('POST', '/v1/rollbacks', { role: 'web', env: 'production' }, { token: deployer });
    expect(rollback.status, JSON.stringify(rollback.body)).toBe(201);

    const started = (await entries()).filter((entry) => entry.action.endsWith('.started'));
    expect(started.map((entry) => [entry.action, entry.env, entry.tag, entry.actor])).toEqual([
      ['deploy.started', 'production', 'v1', OPERATOR],
      ['deploy.started', 'staging', 'v2', OPERATOR],
      ['promotion.started', 'production', 'v2', 'coordinator'],
      ['rollback.started', 'production', 'v1', expect.stringMatching(/^deployer ci-web /)],
    ]);
    expect(started[2]).toMatchObject({ deployId: promoted, detail: `promoted from ${staging.id}; 3 hosts, 1 at a time` });
    expect(started[3]?.detail).toBe('rollback of v2; 3 hosts, 1 at a time');
  });

  it('records tokens by id, scope and name, never the token', async () => {
    const created = await coordinator.call('POST', '/v1/tokens', { scope: 'deployer', name: 'ci-web', ttl: '1h' });
    expect(created.status).toBe(201);
    const { id } = created.body.credential;
    expect((await coordinator.call('DELETE', `/v1/tokens/${id}`)).status).toBe(200);
    const log = await entries();
    expect(log.map((entry) => [entry.action, entry.actor, entry.detail])).toEqual([
      ['token.created', OPERATOR, `credential ${id}, scope deployer, name ci-web, expires ${new Date(created.body.credential.expiresAt).toISOString()}`],
      ['token.revoked', OPERATOR, `credential ${id}, scope deployer, name ci-web`],
    ]);
    expect(JSON.stringify(audit.entries)).not.toContain(created.body.token);
    expect(JSON.stringify(audit.entries)).not.toContain(TOKEN);
  });

  it('records a host the watchdog counts lost, with the slot it held', async () => {
    await coordinator.publish('web', 'v1');
    const { id } = await coordinator.deploy('web', 'production', 'v1');
    await coordinator.fleet.initRemaining({ role: 'web', env: 'production' }, id, 3);
    await coordinator.report(id, 'h1', 'deploying', { counted: 3, slot: 2, epoch: 4, steps: steps('received', 'slot') });
    coordinator.members.setStatus('h1', 'failed');
    expect((await coordinator.watchdog(60_000).tick()).lost).toEqual([`${id}/h1`]);
    const log = (await entries()).filter((entry) => entry.host === 'h1');
    expect(log.map((entry) => [entry.action, entry.actor, entry.detail])).toEqual([
      ['slot.taken', 'h1', 'slot 2, epoch 4'],
      ['host.lost', 'coordinator', expect.stringMatching(/^Serf reports the host failed; it held slot 2, whose lease lapses by itself/)],
    ]);
  });
});

describe('GET /v1/audit', () => {
  beforeEach(async () => {
    await coordinator.publish('web', 'v1');
    await coordinator.publish('api', 'v1');
    await coordinator.deploy('web', 'production', 'v1');
    await coordinator.deploy('web', 'staging', 'v1');
    await coordinator.deploy('api', 'production', 'v1');
    await coordinator.call('POST', '/v1/tokens', { scope: 'viewer', name: 'dash' });
    await coordinator.fleetEvents.settled();
  });

  const actions = async (query: string, token?: string) => {
    const answer = await coordinator.call('GET', `/v1/audit${query}`, undefined, token === undefined ? {} : { token });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    return { more: answer.body.more as boolean, listed: (answer.body.entries as AuditEntry[]).map((entry) => `${entry.action} ${entry.role ?? '-'}/${entry.env ?? '-'}`) };
  };

  it('answers newest first; filters by role and environment (a role-wide publish is kept with its role); limit says when there is more', async () => {
    expect((await actions('')).listed).toEqual([
      'token.created -/-',
      'deploy.started api/production',
      'deploy.started web/staging',
      'deploy.started web/production',
      'release.published api/-',
      'release.published web/-',
    ]);
    expect((await actions('?role=web&env=production')).listed).toEqual(['deploy.started web/production', 'release.published web/-']);
    expect((await actions('?env=staging')).listed).toEqual(['deploy.started web/staging', 'release.published api/-', 'release.published web/-']);
    expect(await actions('?role=web&limit=2')).toEqual({ more: true, listed: ['deploy.started web/staging', 'deploy.started web/production'] });
    expect((await actions('?role=web&limit=3')).more).toBe(false);
    expect((await actions('?role=&env=')).listed).toHaveLength(6);
  });

  it('takes since as a duration back from its clock or as an ISO time', async () => {
    // The harness's clock moved 1 s per read; the deploys came after the publishes.
    const publishedApi = audit.entries.find((entry) => entry.action === 'release.published' && entry.role === 'api');
    const after = Number(publishedApi?.id.split('-')[0]) + 1;
    expect((await actions(`?since=${new Date(after).toISOString()}`)).listed).toEqual([
      'token.created -/-',
      'deploy.started api/production',
      'deploy.started web/staging',
      'deploy.started web/production',
    ]);
    expect((await actions('?since=1d')).listed).toHaveLength(6);
    expect((await actions(`?since=${new Date(coordinator.clock + 60_000).toISOString()}`)).listed).toEqual([]);
  });

  it('is for viewers and up: a host credential is refused; bad input is named', async () => {
    const viewer = await coordinator.tokenOf('viewer', 'dash');
    expect((await actions('', viewer)).listed).toHaveLength(6);
    expect((await coordinator.call('GET', '/v1/audit', undefined, { token: await coordinator.hostToken('h1') })).status).toBe(403);
    expect((await coordinator.call('GET', '/v1/audit', undefined, { token: null })).status).toBe(401);
    for (const [query, named] of [
      ['?since=yesterday', /since must be a duration \(30m, 1h, 7d\) or an ISO 8601 time/],
      ['?since=2026-12-01T09:00', /since must be a duration/],
      ['?limit=0', /limit/],
      ['?limit=1001', /limit/],
      ['?limit=ten', /limit/],
      ['?role=Web', /role must be/],
    ] as const) {
      const answer = await coordinator.call('GET', `/v1/audit${query}`);
      expect(answer.status, query).toBe(400);
      expect(answer.body.error.message, query).toMatch(named);
    }
  });
});

describe('slot sightings', () => {
  const report = (state: HostReport['state'], ...names: HostReport['steps'][number]['step'][]): HostReport => ({ host: 'h1', state, steps: steps(...names), slot: 1 });

  it('tell taken at the first report with a slot, released at the first with a release or an end after a slot', () => {
    expect(slotMoves(undefined, report('waiting', 'received', 'waiting'))).toEqual({ taken: false, released: false });
    expect(slotMoves(undefined, report('deploying', 'received', 'slot'))).toEqual({ taken: true, released: false });
    expect(slotMoves('taken', report('deploying', 'received', 'slot', 'drain'))).toEqual({ taken: false, released: false });
    expect(slotMoves('taken', report('deploying', 'received', 'slot', 'release'))).toEqual({ taken: false, released: true });
    expect(slotMoves('taken', report('errored', 'received', 'slot', 'drain'))).toEqual({ taken: false, released: true });
    expect(slotMoves(undefined, report('succeeded', 'received', 'slot', 'release'))).toEqual({ taken: true, released: true });
    expect(slotMoves('released', report('succeeded', 'received', 'slot', 'release'))).toEqual({ taken: false, released: false });
    // A host that stood down never held a slot; the watchdog's lost report repeats old steps.
    expect(slotMoves(undefined, report('cancelled', 'received', 'waiting'))).toEqual({ taken: false, released: false });
    expect(slotMoves('taken', report('lost', 'received', 'slot'))).toEqual({ taken: false, released: false });
  });

  it('remember a bounded number of hosts, the least recently heard forgotten first', () => {
    const sightings = new SlotSightings(3);
    for (const host of ['h1', 'h2', 'h3', 'h4', 'h5']) sightings.sight('d-1aaaaaa', { host, state: 'deploying', steps: steps('received', 'slot') });
    expect(sightings.size).toBe(3);
    // h1 was forgotten: its next report tells its slot taken again (the duplicate a restart also makes).
    expect(sightings.sight('d-1aaaaaa', { host: 'h1', state: 'deploying', steps: steps('received', 'slot') })).toEqual({ taken: true, released: false });
    expect(sightings.sight('d-1aaaaaa', { host: 'h5', state: 'deploying', steps: steps('received', 'slot') })).toEqual({ taken: false, released: false });
    expect(sightings.size).toBe(3);
  });

  it('make no entry of a report that moves no slot', () => {
    const event = { kind: 'host.reported' as const, at: START, actor: 'h1', deploy: { id: 'd-1aaaaaa', role: 'web', env: 'production', tag: 'v1' }, report: report('deploying', 'received', 'waiting') };
    expect(auditEntriesOf(event, new SlotSightings())).toEqual([]);
  });
});

describe('since and filters', () => {
  const now = Date.parse('2026-12-02T12:00:00Z');

  it('reads a duration back from now, or an ISO time with its offset, or a date', () => {
    expect(sinceTime('30m', now)).toBe(now - 30 * 60_000);
    expect(sinceTime(' 1h ', now)).toBe(now - 3_600_000);
    expect(sinceTime('7d', now)).toBe(now - 7 * 86_400_000);
    expect(sinceTime('2026-12-01T09:00:00Z', now)).toBe(Date.parse('2026-12-01T09:00:00Z'));
    expect(sinceTime('2026-12-01T09:00:00.250+02:00', now)).toBe(Date.parse('2026-12-01T07:00:00.250Z'));
    expect(sinceTime('2026-12-01', now)).toBe(Date.parse('2026-12-01T00:00:00Z'));
    for (const bad of ['', 'now', '1w', '0h', '-1h', '2026-12-01T09:00:00', '2026-13-45', '1700000000000']) {
      expect(() => sinceTime(bad, now, '--since'), bad).toThrow(/--since must be/);
    }
  });

  it('keeps role-wide entries under an environment filter, and entries of no role only unfiltered', () => {
    const entry = (fields: Partial<AuditEntry>) => ({ time: '', actor: 'a', action: 'x', ...fields });
    expect(matchesAuditFilter(entry({ role: 'web', env: 'production' }), { env: 'production' })).toBe(true);
    expect(matchesAuditFilter(entry({ role: 'web', env: 'staging' }), { env: 'production' })).toBe(false);
    expect(matchesAuditFilter(entry({ role: 'web' }), { role: 'web', env: 'production' })).toBe(true);
    expect(matchesAuditFilter(entry({ role: 'api' }), { role: 'web' })).toBe(false);
    expect(matchesAuditFilter(entry({}), { env: 'production' })).toBe(false);
    expect(matchesAuditFilter(entry({}), {})).toBe(true);
  });
});

describe("the coordinator config's audit caps", () => {
  const load = async (audit?: unknown) => {
    const dir = await mkdtemp(join(tmpdir(), 'gvtest-audit-config-'));
    try {
      const path = join(dir, 'coordinator.json');
      const serf = { bind: '127.0.0.1:7946', encryptKey: TEST_GOSSIP_KEY, dataDir: '/tmp/gvtest-serf' };
      await writeFile(path, JSON.stringify({ listen: {}, registry: '127.0.0.1:5000', serf, ...(audit === undefined ? {} : { audit }) }));
      return loadCoordinatorConfig(path, { GRAPEVINE_REDIS_URL: 'redis://127.0.0.1:6379', GRAPEVINE_TOKEN: TOKEN, GRAPEVINE_SERF_RPC_AUTH: 'rpc-auth-0123' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  it('defaults to 100000 entries and 90 days, either settable alone', async () => {
    expect((await load()).audit).toEqual({ maxEntries: 100_000, maxAgeDays: 90 });
    expect((await load({ maxAgeDays: 30 })).audit).toEqual({ maxEntries: 100_000, maxAgeDays: 30 });
  });

  it('refuses a cap out of range or a misspelt one, naming it', async () => {
    await expect(load({ maxEntries: 10 })).rejects.toThrow(/audit\.maxEntries/);
    await expect(load({ maxAgeDays: 0.5 })).rejects.toThrow(/audit\.maxAgeDays/);
    await expect(load({ maxAge: 30 })).rejects.toThrow(/audit.*maxAge/);
  });
});
