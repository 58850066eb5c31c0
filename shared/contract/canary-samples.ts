// The judge's samples for one step's window, from the load balancer's per-second traffic of
// each server: one value per server and sub-window, so that the test compares many short
// observations of each side instead of one average that a single slow second could move.
import type { MetricSamples, StepSamples } from './canary-analysis.js';
import type { ServerTraffic } from '../ports/traffic.js';

/**
 * Groups each server's buckets with `at` in [fromMs, toMs) into sub-windows [fromMs + i*sub,
 * fromMs + (i+1)*sub). For each server and sub-window: with requests, the share answered 5xx
 * is an errors sample; with timed requests, the mean response time is a latency sample.
 * Servers in neither set are ignored (another group's, or a drained one).
 */
export function stepSamples(
  traffic: readonly ServerTraffic[],
  canary: ReadonlySet<string>,
  baseline: ReadonlySet<string>,
  fromMs: number,
  toMs: number,
  subWindowMs: number,
): StepSamples {
  if (!(subWindowMs > 0)) throw new RangeError(`the sub-window must be above 0 ms, got ${subWindowMs}`);
  const samples: StepSamples = { canary: { errors: [], latency: [] }, baseline: { errors: [], latency: [] } };
  for (const server of traffic) {
    const side = canary.has(server.server) ? samples.canary : baseline.has(server.server) ? samples.baseline : undefined;
    if (side !== undefined) addServerSamples(side, server, fromMs, toMs, subWindowMs);
  }
  return samples;
}

interface SubWindow {
  requests: number;
  errors: number;
  latencySumMs: number;
  timed: number;
}

function addServerSamples(side: MetricSamples, server: ServerTraffic, fromMs: number, toMs: number, subWindowMs: number): void {
  const windows = new Map<number, SubWindow>();
  for (const bucket of server.buckets) {
    if (bucket.at < fromMs || bucket.at >= toMs) continue;
    const index = Math.floor((bucket.at - fromMs) / subWindowMs);
    const window = windows.get(index) ?? { requests: 0, errors: 0, latencySumMs: 0, timed: 0 };
    window.requests += bucket.requests;
    window.errors += bucket.errors;
    window.latencySumMs += bucket.latencySumMs;
    window.timed += bucket.timed;
    windows.set(index, window);
  }
  for (const index of [...windows.keys()].sort((a, b) => a - b)) {
    const window = windows.get(index)!;
    if (window.requests > 0) side.errors.push(window.errors / window.requests);
    if (window.timed > 0) side.latency.push(window.latencySumMs / window.timed);
  }
}
