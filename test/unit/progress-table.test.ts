// The live table `--wait` draws on a terminal: one frame from a deploy record at a fixed clock.
import { describe, expect, it } from 'vitest';
import { formatElapsed, progressFrame } from '../../cli/watch/progress-table.js';
import type { Deploy } from '../../shared/contract/schemas.js';

const T = 1_700_000_000_000;
const ESC = '\u001B';

function rollout(overrides: Partial<Deploy> = {}): Deploy {
  return {
    id: 'd-3f9a2c1b',
    role: 'web',
    env: 'production',
    tag: 'v2',
    image: 'registry:5000/web:v2',
    status: 'in_progress',
    createdAt: T,
    slots: 1,
    targets: ['h1', 'h2', 'h3', 'h10'],
    hosts: {
      h1: {
        host: 'h1',
        state: 'succeeded',
        slot: 1,
        steps: [{ step: 'received', at: T + 100 }, { step: 'slot', at: T + 150 }, { step: 'release', at: T + 4_000 }],
        endedAt: T + 4_100,
      },
      h2: {
        host: 'h2',
        state: 'deploying',
        slot: 1,
        steps: [{ step: 'received', at: T + 120 }, { step: 'waiting', at: T + 130 }, { step: 'slot', at: T + 4_050 }, { step: 'health', at: T + 5_000 }],
      },
      h3: { host: 'h3', state: 'waiting', steps: [{ step: 'received', at: T + 140 }, { step: 'waiting', at: T + 160 }] },
    },
    ...overrides,
  };
}

const screen = { columns: 80, rows: 24, color: false };

describe('the live progress table', () => {
  it('shows each host with its step, elapsed time and held slot, a target not heard from, and the deploy in its header', () => {
    expect(progressFrame(rollout(), { ...screen, now: T + 6_340 }).split('\n')).toEqual([
      'deploy d-3f9a2c1b  web:v2 -> production  in progress  6.3 s  k=1 of 4 hosts',
      'HOST  STEP             ELAPSED  SLOT',
      'h1    succeeded          4.0 s',
      'h2    health             6.2 s     1',
      'h3    waiting            6.2 s',
      'h10   not heard from',
    ]);
  });

  it('moves elapsed times with the clock while hosts go on; an ended host keeps its total', () => {
    const later = progressFrame(rollout(), { ...screen, now: T + 9_840 });
    expect(later).toContain('in progress  9.8 s');
    expect(later).toContain('h1    succeeded          4.0 s');
    expect(later).toContain('h2    health             9.7 s     1');
  });

  it('shows a host that ended with its final state and its error on one line, and the slot only while held', () => {
    const deploy = rollout({
      status: 'failed',
      finishedAt: T + 31_000,
      hosts: {
        ...rollout().hosts,
        h2: {
          host: 'h2',
          state: 'failed',
          slot: 1,
          error: 'health: unhealthy\nafter 30 s',
          steps: [{ step: 'received', at: T + 120 }, { step: 'slot', at: T + 4_050 }, { step: 'health', at: T + 5_000 }, { step: 'release', at: T + 30_000 }],
          endedAt: T + 30_500,
        },
        h3: { host: 'h3', state: 'cancelled', error: 'release v2 is broken', steps: [{ step: 'received', at: T + 140 }], endedAt: T + 30_600 },
        h10: { host: 'h10', state: 'cancelled', error: 'release v2 is broken', steps: [{ step: 'received', at: T + 150 }], endedAt: T + 30_700 },
      },
    });
    expect(progressFrame(deploy, { ...screen, now: T + 99_000 }).split('\n')).toEqual([
      'deploy d-3f9a2c1b  web:v2 -> production  failed  31.0 s  k=1 of 4 hosts',
      'HOST  STEP                                   ELAPSED  SLOT',
      'h1    succeeded                                4.0 s',
      'h2    failed: health: unhealthy after 30 s    30.4 s',
      'h3    cancelled: release v2 is broken         30.5 s',
      'h10   cancelled: release v2 is broken         30.6 s',
    ]);
  });

  it('cuts lines to the terminal width, and counts the hosts that do not fit in its height on one line', () => {
    const frame = progressFrame(rollout(), { columns: 44, rows: 6, color: false, now: T + 6_340 }).split('\n');
    expect(frame).toEqual([
      'deploy d-3f9a2c1b  web:v2 -> production  in…',
      'HOST  STEP         ELAPSED  SLOT',
      // The host holding a slot first, then those waiting; the rest counted.
      'h2    health         6.2 s     1',
      'h3    waiting        6.2 s',
      '... 2 more: 1 succeeded, 1 not heard from',
    ]);
    expect(frame.every((line) => line.length <= 44)).toBe(true);
  });

  it('colours state words only when asked, and lets no control character from a host reach the terminal', () => {
    const deploy = rollout({ hosts: { h1: { host: 'h1', state: 'errored', error: `registry down${ESC}[2J`, steps: [{ step: 'received', at: T }], endedAt: T + 1_000 } }, targets: ['h1'] });
    const plain = progressFrame(deploy, { ...screen, now: T + 2_000 });
    expect(plain).not.toContain(ESC);
    expect(plain).toContain('errored: registry down?[2J');
    const coloured = progressFrame(deploy, { ...screen, color: true, now: T + 2_000 });
    expect(coloured).toContain(`${ESC}[31merrored: registry down?[2J${ESC}[0m`);
    expect(coloured).toContain(`${ESC}[36min progress${ESC}[0m`);
  });

  it('writes elapsed times in seconds under a minute, in minutes past it', () => {
    expect(formatElapsed(0)).toBe('0.0 s');
    expect(formatElapsed(59_940)).toBe('59.9 s');
    expect(formatElapsed(125_000)).toBe('2m05s');
  });
});
