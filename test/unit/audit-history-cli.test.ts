// How `grapevine audit` and `grapevine history` print what the coordinator answers: one
// aligned line per entry or deploy, the what and the outcome in words, and their flags' checks.
import { describe, expect, it } from 'vitest';
import { auditLimit, auditTable, whatOf } from '../../cli/audit-command.js';
import { formatDuration, historyLimit, historyRow, historyTable } from '../../cli/history-command.js';
import type { AuditEntry } from '../../shared/contract/audit-entry.js';
import type { Deploy } from '../../shared/contract/schemas.js';

const entry = (fields: Partial<AuditEntry>): AuditEntry => ({ id: '1-0', time: '2026-12-02T11:40:50.123Z', actor: 'coordinator', action: 'deploy.finished', ...fields });

describe('grapevine audit', () => {
  it('prints time, actor, action and what, aligned, in the order the coordinator gave', () => {
    const table = auditTable([
      entry({ actor: 'h1', action: 'slot.taken', role: 'web', env: 'production', tag: 'v2', deployId: 'd-abc123', host: 'h1', detail: 'slot 1, epoch 7' }),
      entry({ time: '2026-12-02T11:40:49.000Z', actor: 'deployer ci-web (t-3f9a2c1b)', action: 'deploy.started', role: 'web', env: 'production', tag: 'v2', deployId: 'd-abc123', detail: '3 hosts, 1 at a time' }),
      entry({ time: '2026-12-02T11:40:48.000Z', actor: 'operator bootstrap (config)', action: 'token.created', detail: 'credential t-3f9a2c1b, scope deployer, name ci-web, never expires' }),
    ]);
    expect(table.split('\n')).toEqual([
      'TIME                  ACTOR                         ACTION          WHAT',
      '2026-12-02 11:40:50Z  h1                            slot.taken      web/production v2 d-abc123 h1: slot 1, epoch 7',
      '2026-12-02 11:40:49Z  deployer ci-web (t-3f9a2c1b)  deploy.started  web/production v2 d-abc123: 3 hosts, 1 at a time',
      '2026-12-02 11:40:48Z  operator bootstrap (config)   token.created   credential t-3f9a2c1b, scope deployer, name ci-web, never expires',
    ]);
    expect(auditTable([])).toBe('');
  });

  it('names a role-wide entry by its role alone and cuts a very long actor', () => {
    expect(whatOf(entry({ action: 'release.broken', role: 'web', tag: 'v3', detail: 'error rate doubled' }))).toBe('web v3: error rate doubled');
    expect(whatOf(entry({ action: 'serf.key-rotated' }))).toBe('');
    const long = auditTable([entry({ actor: `operator ${'x'.repeat(60)} (t-00000001)` })]).split('\n')[1];
    expect(long).toContain(`operator ${'x'.repeat(30)}…`);
  });

  it('takes a limit from 1 to 1000, naming a bad one', () => {
    expect(auditLimit('1')).toBe(1);
    expect(auditLimit('1000')).toBe(1000);
    for (const bad of ['0', '1001', 'ten', '1.5', '-3', '']) expect(() => auditLimit(bad), bad).toThrow(/--limit must be a whole number from 1 to 1000/);
  });
});

describe('grapevine history', () => {
  const started = Date.parse('2026-12-02T11:40:50Z');
  const deploy = (fields: Partial<Deploy>): Deploy => ({
    id: 'd-abc123',
    role: 'web',
    env: 'production',
    tag: 'v2',
    image: '127.0.0.1:5000/web@sha256:' + '0'.repeat(64),
    status: 'succeeded',
    createdAt: started,
    finishedAt: started + 32_400,
    startedBy: 'deployer ci-web (t-3f9a2c1b)',
    hosts: {},
    ...fields,
  });

  it('shows each deploy with tag, kind, start, duration, who started it and how it ended', () => {
    const now = started + 10 * 60_000;
    const rows = [
      deploy({ id: 'd-abc126', tag: 'v3', status: 'in_progress', finishedAt: undefined, startedBy: 'coordinator', promotedFrom: 'd-stg001' }),
      deploy({ id: 'd-abc125', tag: 'v1', rollbackOf: 'v3', finishedAt: started + 4 * 60_000 + 5_000 }),
      deploy({ id: 'd-abc124', tag: 'v3', status: 'failed', reason: 'host h1 failed: health check failed', finishedAt: started + 850 }),
      deploy({ id: 'd-abc123', catchUpOf: 'd-abc100', startedBy: 'h2', targets: ['h2'] }),
    ].map((d) => historyRow(d, now));
    expect(rows[0]).toMatchObject({ kind: 'promotion', status: 'in_progress', durationMs: 10 * 60_000, startedAt: '2026-12-02T11:40:50.000Z' });
    expect(rows[0]).not.toHaveProperty('finishedAt');
    expect(rows[1]).toMatchObject({ kind: 'rollback', rollbackOf: 'v3', durationMs: 245_000, finishedAt: '2026-12-02T11:44:55.000Z' });
    expect(historyTable(rows).split('\n')).toEqual([
      'DEPLOY    TAG  KIND       STARTED               DURATION          STARTED BY                    OUTCOME',
      'd-abc126  v3   promotion  2026-12-02 11:40:50Z  10 m 00 s so far  coordinator                   in progress (from d-stg001)',
      'd-abc125  v1   rollback   2026-12-02 11:40:50Z  4 m 05 s          deployer ci-web (t-3f9a2c1b)  succeeded (replaced v3)',
      'd-abc124  v3   rollout    2026-12-02 11:40:50Z  850 ms            deployer ci-web (t-3f9a2c1b)  failed: host h1 failed: health check failed',
      'd-abc123  v2   catch-up   2026-12-02 11:40:50Z  32.4 s            h2                            succeeded (after d-abc100)',
    ]);
    expect(historyTable([])).toBe('');
  });

  it('writes durations the way people read them', () => {
    expect(formatDuration(0)).toBe('0 ms');
    expect(formatDuration(32_449)).toBe('32.4 s');
    expect(formatDuration(61_000)).toBe('1 m 01 s');
    expect(formatDuration(3_725_000)).toBe('1 h 02 m');
  });

  it('takes a limit from 1 to 200, naming a bad one', () => {
    expect(historyLimit('200')).toBe(200);
    for (const bad of ['0', '201', 'all']) expect(() => historyLimit(bad), bad).toThrow(/--limit must be a whole number from 1 to 200/);
  });
});
