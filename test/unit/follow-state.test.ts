// What `--wait` knows of a deploy, from a summary and the events after it: the newer of two
// reports of a host wins, the end comes from the deploy.finished event, and a summary whose
// counts differ says a report was missed. Plus the parser of the stream's text.
import { describe, expect, it } from 'vitest';
import type { DeploySummary } from '../../shared/contract/deploy-views.js';
import type { HostReport } from '../../shared/contract/schemas.js';
import { FollowState, isNewer } from '../../cli/watch/follow-state.js';
import { SseParser } from '../../cli/watch/event-stream.js';

const createdAt = 1_700_000_000_000;
const summary = (extra: Partial<DeploySummary> = {}): DeploySummary => ({
  id: 'd-follow01',
  role: 'web',
  env: 'production',
  tag: 'v2',
  image: 'r/web:v2',
  status: 'in_progress',
  createdAt,
  targets: ['h1', 'h2'],
  targetCount: 2,
  reported: 0,
  counts: {},
  ...extra,
});
const report = (host: string, state: HostReport['state'], steps: number): HostReport => ({
  host,
  state,
  steps: (['received', 'waiting', 'slot', 'pull', 'up'] as const).slice(0, steps).map((step, i) => ({ step, at: createdAt + i * 100 })),
});

describe('the state --wait follows', () => {
  it('assembles the deploy from the summary and each host report, and ends on deploy.finished', () => {
    const state = new FollowState(summary());
    expect(state.deploy()).toMatchObject({ id: 'd-follow01', status: 'in_progress', targets: ['h1', 'h2'], hosts: {} });
    expect(state.deploy()).not.toHaveProperty('counts');
    state.apply({ kind: 'host.reported', report: report('h1', 'waiting', 2) });
    state.apply({ kind: 'host.reported', report: report('h2', 'deploying', 3) });
    state.apply({ kind: 'host.reported', report: report('h1', 'succeeded', 4) });
    expect(state.ended).toBe(false);
    const { counts: _c, targetCount: _t, reported: _r, ...record } = summary({ status: 'succeeded', finishedAt: createdAt + 900 });
    state.apply({ kind: 'deploy.finished', deploy: record });
    expect(state.ended).toBe(true);
    const deploy = state.deploy();
    expect(deploy.status).toBe('succeeded');
    expect(deploy.finishedAt).toBe(createdAt + 900);
    expect(Object.fromEntries(Object.entries(deploy.hosts).map(([host, r]) => [host, r.state]))).toEqual({ h1: 'succeeded', h2: 'deploying' });
  });

  it('keeps the newer report of a host when an older one arrives late', () => {
    const state = new FollowState(summary());
    state.addReport(report('h1', 'deploying', 4));
    state.addReport(report('h1', 'waiting', 2));
    expect(state.deploy().hosts.h1?.state).toBe('deploying');
    state.addReport(report('h1', 'succeeded', 5));
    state.addReport(report('h1', 'deploying', 5));
    expect(state.deploy().hosts.h1?.state).toBe('succeeded');
  });

  it('lets the host\'s own end overtake the watchdog\'s lost, never the other way', () => {
    expect(isNewer(report('h1', 'succeeded', 5), report('h1', 'lost', 3))).toBe(true);
    expect(isNewer(report('h1', 'lost', 3), report('h1', 'deploying', 4))).toBe(true);
    expect(isNewer(report('h1', 'deploying', 5), report('h1', 'succeeded', 4))).toBe(false);
  });

  it('agrees with a summary only when every host is counted in the same state', () => {
    const state = new FollowState(summary());
    state.addReport(report('h1', 'succeeded', 5));
    expect(state.agreesWith(summary({ reported: 1, counts: { succeeded: 1 } }))).toBe(true);
    expect(state.agreesWith(summary({ reported: 2, counts: { succeeded: 1, waiting: 1 } }))).toBe(false);
    expect(state.agreesWith(summary({ reported: 1, counts: { failed: 1 } }))).toBe(false);
  });

  it('never takes the end back on a summary read before it', () => {
    const state = new FollowState(summary());
    state.refresh(summary({ status: 'failed', reason: 'h1 failed' }));
    state.refresh(summary());
    expect(state.deploy()).toMatchObject({ status: 'failed', reason: 'h1 failed' });
  });

  it('says when it changed, once per change', () => {
    const state = new FollowState(summary());
    expect(state.takeChange()).toBe(true);
    expect(state.takeChange()).toBe(false);
    state.addReport(report('h1', 'waiting', 1));
    expect(state.takeChange()).toBe(true);
  });
});

describe('the event stream parser', () => {
  it('splits messages on blank lines across chunks, skipping comments and retry', () => {
    const parser = new SseParser();
    expect(parser.push('retry: 2000\n\n: keep-alive\n\nid: 1-0\nevent: host.rep')).toEqual([]);
    expect(parser.push('orted\ndata: {"a":1}\r\n\r\nid: 2-0\nevent: deploy.finished\ndata: x\ndata: y\n\n')).toEqual([
      { id: '1-0', event: 'host.reported', data: '{"a":1}' },
      { id: '2-0', event: 'deploy.finished', data: 'x\ny' },
    ]);
  });
});
