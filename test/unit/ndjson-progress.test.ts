// `--json --wait`: one JSON event per line, each host step and end once and in time order,
// the ended deploy last, from the successive records the CLI reads.
import { describe, expect, it } from 'vitest';
import { followDeploy } from '../../cli/deploy-watch.js';
import { PolledDeployFeed } from '../../cli/watch/deploy-feed.js';
import { NdjsonProgress, type ProgressEvent } from '../../cli/watch/ndjson-progress.js';
import type { Deploy } from '../../shared/contract/schemas.js';

const T = 1_700_000_000_000;

function record(status: Deploy['status'], hosts: Deploy['hosts'], extra: Partial<Deploy> = {}): Deploy {
  return { id: 'd-ndjson01', role: 'web', env: 'production', tag: 'v2', image: 'registry:5000/web:v2', status, createdAt: T, hosts, ...extra };
}

/** Follows `records` (one per poll, the last repeated) with the clock at `now`; returns the lines written. */
async function linesOf(records: Deploy[], now: number): Promise<string[]> {
  let poll = 0;
  const reader = { getDeploy: async () => records[Math.min(poll++, records.length - 1)]! };
  const lines: string[] = [];
  await followDeploy(new PolledDeployFeed(reader, 1), 'd-ndjson01', new NdjsonProgress((line) => lines.push(line), () => now), 10_000);
  return lines;
}

describe('NDJSON progress', () => {
  it('gives each host step and end once, in time order, then the ended deploy as the last line', async () => {
    const first = record('in_progress', {
      h1: { host: 'h1', state: 'deploying', slot: 1, steps: [{ step: 'received', at: T + 100 }, { step: 'slot', at: T + 300 }] },
    });
    // h2's report, with an earlier step than h1's slot, reached the coordinator later.
    const second = record('in_progress', {
      ...first.hosts,
      h2: { host: 'h2', state: 'waiting', steps: [{ step: 'received', at: T + 200 }, { step: 'waiting', at: T + 250 }] },
    });
    const ended = record(
      'failed',
      {
        h1: { host: 'h1', state: 'failed', slot: 1, error: 'health: unhealthy', steps: [{ step: 'received', at: T + 100 }, { step: 'slot', at: T + 300 }, { step: 'release', at: T + 2_000 }], endedAt: T + 2_100 },
        h2: { host: 'h2', state: 'cancelled', error: 'release v2 is broken', steps: [{ step: 'received', at: T + 200 }, { step: 'waiting', at: T + 250 }], endedAt: T + 2_050 },
      },
      { finishedAt: T + 2_200, reason: 'h1 failed' },
    );
    // Every poll repeats a record: nothing is given twice.
    const lines = await linesOf([first, first, second, second, ended], T + 300);
    const events = lines.map((line) => JSON.parse(line) as ProgressEvent);
    expect(events).toEqual([
      { event: 'host.step', deploy: 'd-ndjson01', host: 'h1', step: 'received', at: T + 100 },
      { event: 'host.step', deploy: 'd-ndjson01', host: 'h2', step: 'received', at: T + 200 },
      { event: 'host.step', deploy: 'd-ndjson01', host: 'h2', step: 'waiting', at: T + 250 },
      { event: 'host.step', deploy: 'd-ndjson01', host: 'h1', step: 'slot', at: T + 300, slot: 1 },
      { event: 'host.step', deploy: 'd-ndjson01', host: 'h1', step: 'release', at: T + 2_000 },
      { event: 'host.ended', deploy: 'd-ndjson01', host: 'h2', state: 'cancelled', at: T + 2_050, error: 'release v2 is broken' },
      { event: 'host.ended', deploy: 'd-ndjson01', host: 'h1', state: 'failed', at: T + 2_100, error: 'health: unhealthy' },
      { event: 'deploy.finished', deploy: ended },
    ]);
    // One object per line: no line breaks inside one.
    expect(lines.every((line) => !line.includes('\n'))).toBe(true);
  });

  it('gives events while the deploy runs once they are a second old', async () => {
    const running = record('in_progress', {
      h1: { host: 'h1', state: 'deploying', slot: 1, steps: [{ step: 'received', at: T + 100 }, { step: 'slot', at: T + 1_500 }] },
    });
    const lines: string[] = [];
    const view = new NdjsonProgress((line) => lines.push(line), () => T + 2_000);
    view.update(running);
    expect(lines.map((line) => (JSON.parse(line) as { step: string }).step)).toEqual(['received']);
    view.update(running);
    expect(lines).toHaveLength(1);
    view.end({ ...running, status: 'succeeded' });
    expect(lines.map((line) => JSON.parse(line) as { event: string; step?: string }).map((e) => e.step ?? e.event)).toEqual(['received', 'slot', 'deploy.finished']);
  });

  it('for a deploy that had ended before the watch began, gives every event and then the deploy', async () => {
    const ended = record('succeeded', {
      h1: { host: 'h1', state: 'succeeded', steps: [{ step: 'received', at: T + 100 }], endedAt: T + 900 },
    });
    const lines = await linesOf([ended], T);
    expect(lines.map((line) => (JSON.parse(line) as { event: string }).event)).toEqual(['host.step', 'host.ended', 'deploy.finished']);
  });
});
