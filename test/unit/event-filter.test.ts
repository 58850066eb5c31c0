// Which events a reader of `GET /v1/events` gets, as pure rules.
import { describe, expect, it } from 'vitest';
import { eventMatches } from '../../coordinator/events/event-filter.js';
import type { FleetEvent } from '../../shared/contract/fleet-events.js';
import type { DeployRecord } from '../../shared/ports/deploy-store.js';

const base = { at: 1, actor: 'test' };
const record = (id: string, env: string, extra: Partial<DeployRecord> = {}): DeployRecord => ({
  id, role: 'web', env, tag: 'v2', image: 'r/web:v2', status: 'in_progress', createdAt: 1, ...extra,
});
const followed = { id: 'd-aaaaaa', role: 'web', tag: 'v2' };
const events: Record<string, FleetEvent> = {
  started: { ...base, kind: 'deploy.started', deploy: record('d-aaaaaa', 'staging') },
  promotion: { ...base, kind: 'deploy.started', deploy: record('d-bbbbbb', 'production', { promotedFrom: 'd-aaaaaa' }) },
  otherReport: { ...base, kind: 'host.reported', deploy: { id: 'd-cccccc', role: 'web', env: 'staging', tag: 'v2' }, report: { host: 'h1', state: 'waiting', steps: [] } },
  brokenV2: { ...base, kind: 'release.broken', role: 'web', tag: 'v2', reason: 'x' },
  brokenV1: { ...base, kind: 'release.broken', role: 'web', tag: 'v1', reason: 'x' },
  apiBroken: { ...base, kind: 'release.broken', role: 'api', tag: 'v2', reason: 'x' },
  forgotten: { ...base, kind: 'host.forgotten', role: 'web', env: 'production', host: 'h9', forced: false },
  token: { ...base, kind: 'token.revoked', token: { id: 't-1' } },
  keys: { ...base, kind: 'serf.key-rotated' },
};
const matching = (filter: Parameters<typeof eventMatches>[1]) => Object.keys(events).filter((name) => eventMatches(events[name]!, filter));

describe('event filters', () => {
  it('without a filter: everything to an operator, all but credential and key changes to others', () => {
    expect(matching({ operator: true })).toEqual(Object.keys(events));
    expect(matching({ operator: false })).toEqual(Object.keys(events).filter((name) => name !== 'token' && name !== 'keys'));
  });

  it('a deploy: its own events, the deploy it promoted to, and its release\'s broken mark', () => {
    expect(matching({ operator: true, deploy: followed })).toEqual(['started', 'promotion', 'brokenV2']);
  });

  it('an environment: its deploys and hosts, and every release (a release has no environment), never fleet-wide changes', () => {
    expect(matching({ operator: true, env: 'production' })).toEqual(['promotion', 'brokenV2', 'brokenV1', 'apiBroken', 'forgotten']);
    expect(matching({ operator: true, role: 'web', env: 'staging' })).toEqual(['started', 'otherReport', 'brokenV2', 'brokenV1']);
  });
});
