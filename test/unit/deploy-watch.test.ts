// The live progress `deploy --wait` prints: one line per host step and end, in time order.
import { describe, expect, it } from 'vitest';
import { ProgressLines, watchDeploy } from '../../cli/deploy-watch.js';
import type { Deploy } from '../../shared/contract/schemas.js';

const createdAt = 1_700_000_000_000;

function deployWith(hosts: Deploy['hosts']): Deploy {
  return { id: 'd-watch01', role: 'web', env: 'production', tag: 'bad', image: 'registry:5000/web:bad', status: 'failed', createdAt, hosts };
}

describe('deploy progress lines', () => {
  it('prints a host that stood down at the time it ended, not at its last step', () => {
    const deploy = deployWith({
      h1: {
        host: 'h1',
        state: 'failed',
        error: 'health: unhealthy',
        steps: [
          { step: 'received', at: createdAt + 100 },
          { step: 'slot', at: createdAt + 150 },
          { step: 'release', at: createdAt + 2_500 },
        ],
        endedAt: createdAt + 2_700,
      },
      h2: {
        host: 'h2',
        state: 'cancelled',
        error: 'release bad is broken',
        steps: [
          { step: 'received', at: createdAt + 120 },
          { step: 'waiting', at: createdAt + 200 },
        ],
        endedAt: createdAt + 2_600,
      },
    });
    expect(new ProgressLines().take(deploy, Number.POSITIVE_INFINITY)).toEqual([
      '  +0.10s h1           received',
      '  +0.12s h2           received',
      '  +0.15s h1           slot',
      '  +0.20s h2           waiting',
      '  +2.50s h1           release',
      '  +2.60s h2           CANCELLED: release bad is broken',
      '  +2.70s h1           FAILED: health: unhealthy',
    ]);
  });

  it('prints each line once across polls', () => {
    const lines = new ProgressLines();
    const first = deployWith({ h1: { host: 'h1', state: 'waiting', steps: [{ step: 'received', at: createdAt + 100 }] } });
    expect(lines.take(first, Number.POSITIVE_INFINITY)).toEqual(['  +0.10s h1           received']);
    const later = deployWith({
      h1: { host: 'h1', state: 'waiting', steps: [{ step: 'received', at: createdAt + 100 }, { step: 'waiting', at: createdAt + 150 }] },
    });
    expect(lines.take(later, Number.POSITIVE_INFINITY)).toEqual(['  +0.15s h1           waiting']);
  });

  it('holds lines back until they are old enough, then prints every host in time order', async () => {
    const polls: Deploy[] = [
      // First look: h1 reached its slot; h2's report, with an earlier step, is still on its way.
      { ...deployWith({ h1: { host: 'h1', state: 'deploying', steps: [{ step: 'received', at: createdAt + 100 }, { step: 'slot', at: createdAt + 300 }] } }), status: 'in_progress' },
      {
        ...deployWith({
          h1: { host: 'h1', state: 'deploying', steps: [{ step: 'received', at: createdAt + 100 }, { step: 'slot', at: createdAt + 300 }] },
          h2: { host: 'h2', state: 'waiting', steps: [{ step: 'received', at: createdAt + 200 }] },
        }),
        status: 'in_progress',
      },
      {
        ...deployWith({
          h1: { host: 'h1', state: 'succeeded', steps: [{ step: 'received', at: createdAt + 100 }, { step: 'slot', at: createdAt + 300 }], endedAt: createdAt + 900 },
          h2: { host: 'h2', state: 'succeeded', steps: [{ step: 'received', at: createdAt + 200 }], endedAt: createdAt + 950 },
        }),
        status: 'succeeded',
      },
    ];
    let poll = 0;
    const reader = { getDeploy: async () => polls[Math.min(poll++, polls.length - 1)]! };
    const printed: string[] = [];
    // The clock stands just past h1's slot: nothing is old enough until the deploy ends.
    await watchDeploy(reader, 'd-watch01', (line) => printed.push(line), 10_000, () => createdAt + 300);
    expect(printed).toEqual([
      '  +0.10s h1           received',
      '  +0.20s h2           received',
      '  +0.30s h1           slot',
      '  +0.90s h1           SUCCEEDED',
      '  +0.95s h2           SUCCEEDED',
    ]);
  });
});

describe('plain progress of a large deploy', () => {
  it('names only the hosts that failed and prints the counts, not a line per host step', async () => {
    const hosts: Deploy['hosts'] = {};
    for (let n = 1; n <= 150; n++) {
      const host = `h${n}`;
      const failed = n === 7 || n === 90;
      hosts[host] = {
        host,
        state: failed ? 'failed' : 'succeeded',
        steps: [{ step: 'received', at: createdAt + n }, { step: 'slot', at: createdAt + 100 + n }],
        endedAt: createdAt + 1_000 + n,
        ...(failed ? { error: 'health: unhealthy' } : {}),
      };
    }
    const deploy = { ...deployWith(hosts), expectedHosts: 150 };
    const printed: string[] = [];
    await watchDeploy({ getDeploy: async () => deploy }, deploy.id, (line) => printed.push(line), 10_000, () => createdAt + 5_000);
    expect(printed).toEqual([
      '  +1.01s h7           FAILED: health: unhealthy',
      '  +1.09s h90          FAILED: health: unhealthy',
      '  +5.00s hosts: 2 failed, 148 succeeded (150 of 150 ended)',
    ]);
  });
});
