// The live progress `deploy --wait` prints: one line per host step and end, in time order.
import { describe, expect, it } from 'vitest';
import { newProgressLines } from '../../cli/deploy-watch.js';
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
    expect(newProgressLines(deploy, new Set())).toEqual([
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
    const seen = new Set<string>();
    const first = deployWith({ h1: { host: 'h1', state: 'waiting', steps: [{ step: 'received', at: createdAt + 100 }] } });
    expect(newProgressLines(first, seen)).toEqual(['  +0.10s h1           received']);
    const later = deployWith({
      h1: { host: 'h1', state: 'waiting', steps: [{ step: 'received', at: createdAt + 100 }, { step: 'waiting', at: createdAt + 150 }] },
    });
    expect(newProgressLines(later, seen)).toEqual(['  +0.15s h1           waiting']);
  });
});
