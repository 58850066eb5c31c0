// The live table on a terminal: drawn at once, redrawn in place on a steady tick, and the
// terminal given back (last frame kept, no more drawing, no signal handler left) at the end.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LiveTable } from '../../cli/watch/live-table.js';
import { progressFrame } from '../../cli/watch/progress-table.js';
import { replayTerminal } from '../fixtures/terminal-screen.js';
import type { Deploy } from '../../shared/contract/schemas.js';

const T = 1_700_000_000_000;
const CURSOR_UP = /\u001B\[\d*A/;

function running(status: Deploy['status'] = 'in_progress'): Deploy {
  const ended = status !== 'in_progress';
  return {
    id: 'd-live0001',
    role: 'web',
    env: 'production',
    tag: 'v2',
    image: 'registry:5000/web:v2',
    status,
    createdAt: T,
    ...(ended ? { finishedAt: T + 3_000 } : {}),
    hosts: {
      h1: ended
        ? { host: 'h1', state: 'succeeded', slot: 1, steps: [{ step: 'received', at: T }, { step: 'slot', at: T + 100 }, { step: 'release', at: T + 2_900 }], endedAt: T + 2_950 }
        : { host: 'h1', state: 'deploying', slot: 1, steps: [{ step: 'received', at: T }, { step: 'slot', at: T + 100 }] },
    },
  };
}

/** A terminal as Node gives it: a size and a write; what it was sent is kept. */
function fakeTerminal(size = { columns: 80, rows: 24 }) {
  const writes: string[] = [];
  const terminal = { ...size, isTTY: true, write: (text: string) => (writes.push(text), true) } as unknown as NodeJS.WriteStream;
  return { terminal, writes };
}

describe('the live table', () => {
  let clock = T;
  beforeEach(() => {
    vi.useFakeTimers();
    clock = T + 1_000;
  });
  afterEach(() => vi.useRealTimers());

  it('draws at once, redraws in place as time passes, and keeps the final frame', () => {
    const { terminal, writes } = fakeTerminal();
    const table = new LiveTable(terminal, { color: false, now: () => clock });
    table.update(running());
    expect(writes.join('')).toContain('h1    slot           1.0 s     1');
    clock = T + 1_600;
    vi.advanceTimersByTime(250);
    const redraw = writes[writes.length - 1]!;
    expect(redraw).toMatch(CURSOR_UP);
    expect(redraw).toContain('1.6 s');
    table.end(running('succeeded'));
    expect(writes[writes.length - 1]).toContain('succeeded');
    const count = writes.length;
    clock = T + 60_000;
    vi.advanceTimersByTime(5_000);
    expect(writes).toHaveLength(count);
  });

  it('leaves on the screen the final frame, whatever was drawn before it', () => {
    const { terminal, writes } = fakeTerminal();
    const table = new LiveTable(terminal, { color: true, now: () => clock });
    const waiting: Deploy = { ...running(), hosts: { ...running().hosts, h2: { host: 'h2', state: 'waiting', steps: [{ step: 'received', at: T }] } }, targets: ['h1', 'h2', 'h3'] };
    table.update(waiting);
    for (let i = 0; i < 8; i++) {
      clock += 400;
      vi.advanceTimersByTime(250);
    }
    table.update(running());
    clock += 400;
    vi.advanceTimersByTime(250);
    const ended = running('succeeded');
    table.end(ended);
    // As a terminal shows it: a pseudo-terminal turns each line feed into CR LF.
    const screen = replayTerminal(writes.join('').replaceAll('\n', '\r\n'));
    expect(screen.cursorUps).toBeGreaterThan(0);
    expect(screen.lines).toEqual(progressFrame(ended, { now: clock, columns: 80, rows: 24, color: false }).split('\n'));
  });

  it('redraws at most four times a second, and not at all when nothing moved', () => {
    const { terminal, writes } = fakeTerminal();
    let ticking = false;
    // Once ticking, every reading of the clock is 0.1 s later: every frame differs.
    const table = new LiveTable(terminal, { color: false, now: () => (ticking ? (clock += 100) : clock) });
    table.update(running());
    for (let i = 0; i < 20; i++) table.update(running());
    expect(writes).toHaveLength(1);
    vi.advanceTimersByTime(1_000);
    // The clock stood still: the frame is the same and nothing is written.
    expect(writes).toHaveLength(1);
    ticking = true;
    for (let i = 0; i < 20; i++) table.update(running());
    vi.advanceTimersByTime(1_000);
    expect(writes).toHaveLength(1 + 4);
    table.abandon();
  });

  it('draws on an unsized pseudo-terminal (0 by 0) as on 80 by 24', () => {
    const { terminal, writes } = fakeTerminal({ columns: 0, rows: 0 });
    const table = new LiveTable(terminal, { color: false, now: () => clock });
    table.update(running());
    table.end(running('succeeded'));
    expect(writes.join('')).toContain('h1    succeeded');
  });

  it('takes Ctrl-C only while it draws', () => {
    const before = { int: process.listenerCount('SIGINT'), term: process.listenerCount('SIGTERM') };
    const table = new LiveTable(fakeTerminal().terminal, { color: false, now: () => clock });
    expect(process.listenerCount('SIGINT')).toBe(before.int + 1);
    expect(process.listenerCount('SIGTERM')).toBe(before.term + 1);
    table.abandon();
    expect(process.listenerCount('SIGINT')).toBe(before.int);
    expect(process.listenerCount('SIGTERM')).toBe(before.term);
  });
});
