// What `--wait` prints once a deploy ended: where its time went, then its one-line outcome,
// on stdout whether or not it is a terminal; with --json, NDJSON and nothing else.
import { describe, expect, it } from 'vitest';
import { criticalPathLines } from '../../cli/watch/critical-path-lines.js';
import { PolledDeployFeed } from '../../cli/watch/deploy-feed.js';
import { followToEnd } from '../../cli/watch/follow-to-end.js';
import type { Deploy, HostReport } from '../../shared/contract/schemas.js';

const T = 1_700_000_000_000;

function succeeded(host: string, received: number, slotAt: number, healthAt: number, releaseAt: number, slot: number, epoch: number): HostReport {
  return {
    host,
    state: 'succeeded',
    slot,
    epoch,
    steps: [
      { step: 'received', at: T + received },
      { step: 'waiting', at: T + received + 5 },
      { step: 'slot', at: T + slotAt },
      { step: 'pull', at: T + slotAt + 20 },
      { step: 'health', at: T + healthAt },
      { step: 'release', at: T + releaseAt },
    ],
    endedAt: T + releaseAt + 10,
  };
}

const deploy: Deploy = {
  id: 'd-0c1d2e3f',
  role: 'web',
  env: 'production',
  tag: 'v2',
  image: 'registry:5000/web:v2',
  status: 'succeeded',
  createdAt: T,
  finishedAt: T + 8_100,
  slots: 2,
  targets: ['h1', 'h2', 'h3'],
  hosts: {
    h1: succeeded('h1', 50, 60, 500, 4_000, 1, 1),
    h2: succeeded('h2', 55, 70, 600, 3_500, 2, 2),
    h3: succeeded('h3', 60, 3_500, 4_100, 8_000, 2, 3),
  },
};

describe('the critical path summary', () => {
  it('names the hosts of each wave with its duration, each host waiting versus working, and the slowest step', () => {
    expect(criticalPathLines(deploy)).toEqual([
      'waves: 2 (k=2 of 3 hosts)',
      '  wave 1      3.94 s  h1, h2',
      '  wave 2      4.50 s  h3',
      'time per host (waiting: before its slot; working: with it)',
      '  host  wave   waiting   working',
      '  h1       1    0.01 s    3.95 s',
      '  h2       1    0.01 s    3.44 s',
      '  h3       2    3.44 s    4.51 s',
      '  total         3.46 s   11.90 s',
      'slowest step: health on h3, 3.90 s',
    ]);
  });

  it('says so when no host took a slot, and prints nothing for a deploy no host reported', () => {
    const stoodDown: Deploy = {
      ...deploy,
      status: 'cancelled',
      hosts: { h1: { host: 'h1', state: 'cancelled', error: 'release v2 is broken', steps: [{ step: 'received', at: T }], endedAt: T + 1_000 } },
    };
    const lines = criticalPathLines(stoodDown);
    expect(lines[0]).toBe('waves: none (no host took a slot)');
    expect(lines).toContain('  h1       -    1.00 s    0.00 s');
    expect(lines[lines.length - 1]).toBe('slowest step: none (no host took a slot)');
    expect(criticalPathLines({ ...deploy, hosts: {} })).toEqual([]);
  });
});

describe('what --wait prints once the deploy ended', () => {
  const follow = async (json: boolean) => {
    let written = '';
    const stdout = { write: (text: string) => ((written += text), true) } as unknown as NodeJS.WriteStream;
    const final = await followToEnd(new PolledDeployFeed({ getDeploy: async () => deploy }, 1), deploy.id, { stdout, json, terminal: false, color: false }, 5_000);
    return { final, lines: written.split('\n').slice(0, -1) };
  };

  it('off a terminal: plain lines in time order, then the summary, then the one-line outcome', async () => {
    const { final, lines } = await follow(false);
    expect(final).toBe(deploy);
    expect(lines[0]).toBe('  +0.05s h1           received');
    expect(lines).toContain('  +8.00s h3           release');
    const summary = lines.indexOf('waves: 2 (k=2 of 3 hosts)');
    expect(summary).toBeGreaterThan(lines.indexOf('  +8.01s h3           SUCCEEDED'));
    expect(lines.slice(summary, -1)).toEqual(criticalPathLines(deploy));
    expect(lines[lines.length - 1]).toBe('deploy d-0c1d2e3f of web:v2 to production succeeded in 8.10 s: 3 succeeded');
  });

  it('with --json: nothing but one JSON object per line, the ended deploy last', async () => {
    const { lines } = await follow(true);
    const events = lines.map((line) => JSON.parse(line) as { event: string; deploy: unknown });
    expect(events).toHaveLength(3 * 6 + 3 + 1);
    expect(events[events.length - 1]).toEqual({ event: 'deploy.finished', deploy });
  });
});
