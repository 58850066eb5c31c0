// The fleet bench's pure parts: the ideal it holds a deploy to, its percentiles and
// hand-overs, and the draws of T and of the gossip delays.
import { describe, expect, it } from 'vitest';
import { drawLognormal, gossipDelays, MEASURED_T, MinHeap, pushedDelays, seededRandom, SERF_GOSSIP } from '../../bench/fleet/distributions.js';
import { handOvers, idealMakespan, percentile } from '../../bench/fleet/schedule.js';
import { parseFleetSizes } from '../../bench/fleet/fleet-run.js';

describe('the ideal of a fleet deploy', () => {
  it('is waves × T when every host is there at once and takes the same time', () => {
    const hosts = Array.from({ length: 9 }, () => ({ readyMs: 0, workMs: 2_000 }));
    expect(idealMakespan(hosts, 3)).toBe(6_000);
    expect(idealMakespan(hosts.slice(0, 10), 4)).toBe(6_000);
  });

  it('starts no host before its event arrives', () => {
    expect(idealMakespan([{ readyMs: 500, workMs: 1_000 }, { readyMs: 0, workMs: 1_000 }], 1)).toBe(2_000);
    expect(idealMakespan([{ readyMs: 3_000, workMs: 1_000 }, { readyMs: 0, workMs: 1_000 }], 1)).toBe(4_000);
  });

  it('gives each host, in the order the event reaches them, the slot that frees first', () => {
    // Slot A: 0→3000, then the third host 3000→4000; slot B: 100→1100, then the fourth 1100→2100.
    const hosts = [
      { readyMs: 0, workMs: 3_000 },
      { readyMs: 100, workMs: 1_000 },
      { readyMs: 200, workMs: 1_000 },
      { readyMs: 300, workMs: 1_000 },
    ];
    expect(idealMakespan(hosts, 2)).toBe(3_100);
  });

  it('refuses a slot count that is not a whole number of at least one', () => {
    expect(() => idealMakespan([], 0)).toThrow(/slots/);
  });
});

describe('percentiles and hand-overs', () => {
  it('takes the nearest rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('times each release to the next grant of the same slot to a waiting host', () => {
    const releases = [
      { slot: 1, atMs: 1_000 },
      { slot: 2, atMs: 1_010 },
      { slot: 1, atMs: 2_000 },
    ];
    const grants = [
      { slot: 2, atMs: 1_013 },
      { slot: 1, atMs: 1_005 },
      { slot: 1, atMs: 900 },
    ];
    // The last release of slot 1 has no later grant: nobody was waiting for it.
    expect(handOvers(releases, grants)).toEqual([5, 3]);
  });
});

describe('the draws', () => {
  it('repeats with the same seed and differs with another', () => {
    const a = seededRandom(7);
    const b = seededRandom(7);
    const c = seededRandom(8);
    const first = [a(), a(), a()];
    expect([b(), b(), b()]).toEqual(first);
    expect([c(), c(), c()]).not.toEqual(first);
    expect(first.every((x) => x >= 0 && x < 1)).toBe(true);
  });

  it('draws T around the measured median, within its bounds', () => {
    const random = seededRandom(1);
    const draws = Array.from({ length: 5_000 }, () => drawLognormal(MEASURED_T, random));
    expect(Math.abs(percentile(draws, 50) - MEASURED_T.medianMs)).toBeLessThan(20);
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(MEASURED_T.minMs);
    expect(Math.max(...draws)).toBeLessThanOrEqual(MEASURED_T.maxMs);
    const wide = { medianMs: 100, sigma: 3, minMs: 50, maxMs: 200 };
    const clamped = Array.from({ length: 200 }, () => drawLognormal(wide, random));
    expect(clamped).toContain(50);
    expect(clamped).toContain(200);
  });

  it('keeps the heap in time order', () => {
    const heap = new MinHeap();
    const random = seededRandom(3);
    const times = Array.from({ length: 500 }, () => random() * 1_000);
    times.forEach((t, i) => heap.push(t, i));
    const popped: number[] = [];
    while (heap.size > 0) popped.push(heap.pop()[0]);
    expect(popped).toEqual([...times].sort((x, y) => x - y));
  });

  it('spreads the event by gossip in rounds that grow with the log of the fleet', () => {
    const medianOf = (n: number) => percentile(gossipDelays(n, SERF_GOSSIP, seededRandom(n)), 50);
    // Near the medians measured on real Serf agents: 194 ms at 12 hosts (README Performance).
    expect(medianOf(12)).toBeGreaterThan(100);
    expect(medianOf(12)).toBeLessThan(350);
    // Each tenfold adds about one gossip round, not ten times the delay.
    expect(medianOf(10_000) - medianOf(1_000)).toBeGreaterThan(0);
    expect(medianOf(10_000) - medianOf(1_000)).toBeLessThan(3 * SERF_GOSSIP.intervalMs);
    const delays = gossipDelays(1_000, SERF_GOSSIP, seededRandom(2));
    expect(delays.every((d) => Number.isFinite(d) && d > 0)).toBe(true);
  });

  it('hands a host the pushes missed the event by push/pull, after the last pushed arrival', () => {
    // One send per host reaches few: most hosts are left to push/pull.
    const sparse = { ...SERF_GOSSIP, retransmitMult: 1, fanout: 1 };
    const pushed = pushedDelays(50, sparse, seededRandom(5));
    const missed = pushed.filter((d) => !Number.isFinite(d)).length;
    expect(missed).toBeGreaterThan(0);
    const all = gossipDelays(50, sparse, seededRandom(5));
    const lastPushed = Math.max(...pushed.filter(Number.isFinite));
    expect(all.filter((d) => d > lastPushed)).toHaveLength(missed);
    expect(all.every(Number.isFinite)).toBe(true);
  });
});

describe('--fleet sizes', () => {
  it('takes whole numbers up to 20 000 and names the option otherwise', () => {
    expect(parseFleetSizes('1000, 10000')).toEqual([1_000, 10_000]);
    expect(parseFleetSizes('20001')).toMatch(/--fleet takes whole numbers from 1 to 20000/);
    expect(parseFleetSizes('0')).toMatch(/--fleet/);
    expect(parseFleetSizes('1.5')).toMatch(/--fleet/);
    expect(parseFleetSizes('300,300')).toMatch(/twice/);
  });
});
