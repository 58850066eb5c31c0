// The bench's reading of the machine's CPU: what share of a window the guest worked and what
// share the hypervisor took (steal), from two /proc/stat readings.
import { describe, expect, it } from 'vitest';
import { cpuShares, cpuTicks } from '../../bench/cpu-steal.js';

describe('machine CPU shares', () => {
  it('gives the busy and stolen shares of the window between two readings', () => {
    const before = { busy: 1_000, steal: 100, total: 5_000 };
    const after = { busy: 1_600, steal: 300, total: 6_000 };
    expect(cpuShares(before, after)).toEqual({ busyPercent: 60, stealPercent: 20 });
  });

  it('says nothing (NaN) without both readings or when no time passed', () => {
    const reading = { busy: 1, steal: 0, total: 10 };
    expect(cpuShares(undefined, reading).stealPercent).toBeNaN();
    expect(cpuShares(reading, undefined).busyPercent).toBeNaN();
    expect(cpuShares(reading, reading).stealPercent).toBeNaN();
  });

  it('reads this machine: steal and busy within the total, and no count goes back', () => {
    const first = cpuTicks();
    if (first === undefined) return expect(process.platform).not.toBe('linux');
    expect(first.busy + first.steal).toBeLessThanOrEqual(first.total);
    const second = cpuTicks()!;
    expect(second.total).toBeGreaterThanOrEqual(first.total);
    expect(second.busy).toBeGreaterThanOrEqual(first.busy);
  });
});
