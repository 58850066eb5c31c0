// The ideal a fleet deploy is held to, and the order statistics of its figures.
import { MinHeap } from './distributions.js';

export interface HostDraw {
  /** When the deploy event reaches the host, ms after the deploy was created. */
  readyMs: number;
  /** Its work T, slot taken to slot released. */
  workMs: number;
}

/**
 * The makespan of a perfect k-slot schedule of the same draws: hosts in the order the event
 * reaches them, each taking the slot that frees first, no sooner than its event arrives, and
 * holding it exactly T, with no hand-over cost. Delivery is inside it (a host cannot start
 * before its event), so this is the "waves × T + delivery" ideal for Ts that differ per host.
 */
export function idealMakespan(hosts: readonly HostDraw[], slots: number): number {
  if (!Number.isInteger(slots) || slots < 1) throw new RangeError(`slots must be a whole number >= 1, got ${slots}`);
  const order = [...hosts].sort((a, b) => a.readyMs - b.readyMs);
  const free = new MinHeap();
  for (let i = 0; i < Math.min(slots, order.length); i += 1) free.push(0, i);
  let makespan = 0;
  for (const host of order) {
    const [freeAt, slot] = free.pop();
    const end = Math.max(freeAt, host.readyMs) + host.workMs;
    makespan = Math.max(makespan, end);
    free.push(end, slot);
  }
  return makespan;
}

/** Nearest-rank percentile (p in 0..100) of the values; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

export interface SlotEvent {
  slot: number;
  atMs: number;
}

/**
 * Slot hand-overs: for each release, the time until the next grant of that same slot to a
 * host that had been waiting. A release no waiting host took (the last wave) has none.
 */
export function handOvers(releases: readonly SlotEvent[], waitedGrants: readonly SlotEvent[]): number[] {
  const grantsBySlot = new Map<number, number[]>();
  for (const grant of waitedGrants) {
    const list = grantsBySlot.get(grant.slot) ?? [];
    list.push(grant.atMs);
    grantsBySlot.set(grant.slot, list);
  }
  for (const list of grantsBySlot.values()) list.sort((a, b) => a - b);
  const result: number[] = [];
  for (const release of releases) {
    const grants = grantsBySlot.get(release.slot);
    if (!grants) continue;
    const next = firstAtOrAfter(grants, release.atMs);
    if (next !== undefined) result.push(next - release.atMs);
  }
  return result;
}

function firstAtOrAfter(sorted: readonly number[], at: number): number | undefined {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if ((sorted[mid] as number) < at) low = mid + 1;
    else high = mid;
  }
  return sorted[low];
}
