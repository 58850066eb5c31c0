// The benchmark's blue/green row: the switch read from a deploy's outcome, and the table's
// cell (median over cycles to the new colour and back, the servers weighed, the 1 s bound).
import { describe, expect, it } from 'vitest';
import type { SizeResult } from '../../bench/cluster-bench.js';
import { parseSwitchOutcome, type ColourSwitchRun } from '../../bench/colour-switch.js';
import { renderTable } from '../../bench/table.js';

function cycle(run: number, switchLbMs: number, backLbMs: number): ColourSwitchRun {
  return {
    run,
    deployId: `d-bench0000000${run}`,
    tag: 'v1',
    servedTag: 'v2',
    from: 'blue',
    to: 'green',
    servers: 6,
    switchMs: 20,
    switchLbMs,
    stagedMs: 9_000,
    backServers: 6,
    backMs: 15,
    backLbMs,
    readIntervalMs: 5,
  };
}

function size(blueGreen: ColourSwitchRun[]): SizeResult {
  return { hosts: 3, slots: 1, waves: 3, name: 'grapevine-bench-3', subnet: '10.220.3', runs: [], blueGreen };
}

function switchLine(table: string): string | undefined {
  return table.split('\n').find((line) => line.includes('blue/green switch, whole group'));
}

describe('bench blue/green switch', () => {
  it('reads the servers, colour and time from the outcome the coordinator records', () => {
    expect(parseSwitchOutcome('switched 6 servers to green in 121 ms; blue kept until 2026-12-02T16:51:13.000Z')).toEqual({ servers: 6, colour: 'green', ms: 121 });
    expect(parseSwitchOutcome('not switched: h2 failed')).toBeUndefined();
    expect(parseSwitchOutcome(undefined)).toBeUndefined();
  });

  it('prints the median of each way over the cycles with its range, the servers and the bound met', () => {
    const line = switchLine(renderTable([size([cycle(1, 98, 137), cycle(2, 80, 120), cycle(3, 300, 90)])]));
    expect(line).toContain('98 [80–300], back 120 [90–137] (6 servers) ✓');
    expect(line).toContain('≤ 1 s each way');
  });

  it('marks a switch slower than 1 s either way, and a size without cycles as empty', () => {
    expect(switchLine(renderTable([size([cycle(1, 98, 1_400)])]))).toContain('98, back 1400 (6 servers) ✗');
    expect(switchLine(renderTable([size([])]))).toMatch(/ms\s+–/);
  });
});
