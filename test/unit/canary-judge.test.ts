// The canary judge: the Mann–Whitney test against hand-counted and published values (the
// reference p-values are R's wilcox.test / SciPy's mannwhitneyu, one-sided "greater"), the
// per-metric rule, the score and verdict, and the samples built from the load balancer's
// per-second traffic.
import { describe, expect, it } from 'vitest';
import type { StepSamples } from '../../shared/contract/canary-analysis.js';
import { judge, mannWhitneyGreater, median } from '../../shared/contract/canary-judge.js';
import { stepSamples } from '../../shared/contract/canary-samples.js';
import { JudgeConfig } from '../../shared/contract/strategy.js';
import type { ServerTraffic } from '../../shared/ports/traffic.js';

describe('mannWhitneyGreater', () => {
  it('counts the exact p-value of small samples without ties', () => {
    // Fully separated 5 and 5: one ordering of C(10, 5) = 252 puts every canary value on top.
    expect(mannWhitneyGreater([6, 7, 8, 9, 10], [1, 2, 3, 4, 5])).toEqual({ u: 25, pValue: 1 / 252 });
    expect(mannWhitneyGreater([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])).toEqual({ u: 0, pValue: 1 });
    // One of two values each, canary higher: half the orderings.
    expect(mannWhitneyGreater([2], [1])).toEqual({ u: 1, pValue: 0.5 });
    const mixed = mannWhitneyGreater([1.1, 2.5, 3.3, 4.8, 6.0, 7.2], [0.5, 2.0, 3.0, 4.0, 5.0]);
    expect(mixed.u).toBe(20);
    expect(mixed.pValue).toBeCloseTo(0.21428571428571427, 12);
    const interleaved = mannWhitneyGreater([3, 5, 8, 1, 9, 12, 4], [2, 6, 7, 10, 11, 0, 13, 14]);
    expect(interleaved.u).toBe(21);
    expect(interleaved.pValue).toBeCloseTo(0.8015540015540016, 12);
  });

  it('approximates with the tie and continuity corrections when values tie', () => {
    const errorShares = mannWhitneyGreater([0.2, 0.3, 0.25, 0.31, 0.28, 0.2, 0.1, 0.0], [0, 0, 0, 0, 0.01, 0, 0, 0, 0.02, 0]);
    expect(errorShares.u).toBe(74);
    expect(errorShares.pValue).toBeCloseTo(0.0007317268737435964, 6);
    const small = mannWhitneyGreater([1, 2, 2, 3, 3, 3, 4], [1, 1, 2, 2, 3]);
    expect(small.u).toBe(25.5);
    expect(small.pValue).toBeCloseTo(0.10158695879254287, 6);
  });

  it('approximates when the samples are too large to count', () => {
    const canary = [10.69, 11.64, 10.66, 7.39, 11.81, 10.89, 8.93, 11.16, 10.73, 10.59, 10.06, 11.09, 8.53, 9.67, 9.04, 11.2, 10.08, 9.42, 8.44, 9.49, 10.02, 9.45, 12.59, 12.01, 4.58];
    const baseline = [5.22, 8.65, 8.16, 9.43, 9.43, 13.24, 6.78, 8.24, 13.09, 10.29, 10.33, 7.97, 5.7, 9.33, 9.22, 6.55, 7.63, 8.86, 7.11, 8.8, 9.19, 9.07, 7.99, 10.19, 10.78, 9.64, 7.36, 10.46, 8.0, 10.76];
    const result = mannWhitneyGreater(canary, baseline);
    expect(result.u).toBe(537);
    expect(result.pValue).toBeCloseTo(0.0031677011650255624, 6);
  });

  it('gives p = 1 without evidence: an empty side, or every value equal', () => {
    expect(mannWhitneyGreater([], [1, 2, 3]).pValue).toBe(1);
    expect(mannWhitneyGreater([1, 2, 3], []).pValue).toBe(1);
    expect(mannWhitneyGreater([0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0])).toEqual({ u: 15, pValue: 1 });
  });

  it('counts exactly up to 400 pairs (20 by 20) and stays a probability', () => {
    const canary = Array.from({ length: 20 }, (_, i) => 100 + i);
    const baseline = Array.from({ length: 20 }, (_, i) => i);
    const { u, pValue } = mannWhitneyGreater(canary, baseline);
    expect(u).toBe(400);
    // 1 / C(40, 20)
    expect(pValue).toBeCloseTo(1 / 137846528820, 20);
    expect(pValue).toBeGreaterThan(0);
  });
});

const config = (overrides: Record<string, unknown> = {}) => JudgeConfig.parse(overrides);
const repeat = (value: number, times: number) => Array.from({ length: times }, () => value);
const around = (centre: number, spread: number, times: number) => Array.from({ length: times }, (_, i) => centre + spread * ((i % 3) - 1));

function samples(canary: { errors: number[]; latency: number[] }, baseline: { errors: number[]; latency: number[] }): StepSamples {
  return { canary, baseline };
}

describe('judge', () => {
  const healthyBaseline = { errors: repeat(0, 12), latency: around(20, 1, 12) };

  it('passes a canary that looks like its baseline', () => {
    const analysis = judge(samples({ errors: repeat(0, 12), latency: around(20, 1, 12) }, healthyBaseline), config());
    expect(analysis.verdict).toBe('pass');
    expect(analysis.score).toBe(100);
    expect(analysis.metrics.map((metric) => metric.verdict)).toEqual(['pass', 'pass']);
    expect(analysis.summary).toBe('score 100/100 (pass)');
  });

  it('fails a metric whose canary is significantly higher and past its tolerance, naming both medians and p', () => {
    const analysis = judge(samples({ errors: around(0.3, 0.02, 12), latency: around(20, 1, 12) }, healthyBaseline), config());
    const errors = analysis.metrics.find((metric) => metric.metric === 'errors')!;
    expect(errors).toMatchObject({ verdict: 'fail', canary: 0.3, baseline: 0, canarySamples: 12, baselineSamples: 12 });
    expect(errors.pValue).toBeLessThan(0.001);
    expect(analysis.score).toBe(50);
    expect(analysis.verdict).toBe('fail');
    expect(analysis.summary).toMatch(/^score 50\/100 \(fail\): errors canary 0\.300 vs baseline 0\.000, p=\d/);
  });

  it('passes a significant difference within the tolerance', () => {
    // 2 ms slower every time: certain, but under the 50 ms tolerance.
    const analysis = judge(samples({ errors: repeat(0, 12), latency: around(22, 1, 12) }, healthyBaseline), config());
    const latency = analysis.metrics.find((metric) => metric.metric === 'latency')!;
    expect(latency.pValue).toBeLessThan(0.05);
    expect(latency.verdict).toBe('pass');
    expect(latency.reason).toMatch(/within the tolerance/);
    expect(analysis.verdict).toBe('pass');
  });

  it('passes a canary whose one bad sub-window is not significant', () => {
    const analysis = judge(samples({ errors: [0, 0, 0, 0, 1], latency: around(20, 1, 6) }, { errors: [0, 0, 0, 0, 0], latency: around(20, 1, 6) }), config());
    const errors = analysis.metrics.find((metric) => metric.metric === 'errors')!;
    expect(errors.pValue).toBeGreaterThan(0.05);
    expect(errors.verdict).toBe('pass');
  });

  it('gives no verdict to a metric with too few samples on either side, which does not pass', () => {
    const analysis = judge(samples({ errors: repeat(0, 4), latency: around(20, 1, 12) }, healthyBaseline), config());
    const errors = analysis.metrics.find((metric) => metric.metric === 'errors')!;
    expect(errors).toMatchObject({ verdict: 'nodata', pValue: null, canarySamples: 4 });
    expect(analysis.score).toBe(50);
    expect(analysis.summary).toBe('score 50/100 (fail): errors no data (canary 4 samples, baseline 12)');
    expect(judge(samples({ errors: [], latency: [] }, { errors: [], latency: [] }), config()).metrics.every((metric) => metric.verdict === 'nodata' && metric.canary === null)).toBe(true);
  });

  it('weighs the score and finds marginal between the thresholds', () => {
    const slow = samples({ errors: repeat(0, 12), latency: around(400, 5, 12) }, healthyBaseline);
    const weighted = config({ pass: 90, marginal: 60, metrics: { errors: { weight: 3, tolerance: 0.01 }, latency: { weight: 1, tolerance: 50 } } });
    const analysis = judge(slow, weighted);
    expect(analysis.score).toBe(75);
    expect(analysis.verdict).toBe('marginal');
    expect(analysis.summary).toMatch(/^score 75\/100 \(marginal\): latency canary 400 ms vs baseline 20 ms, p=/);
    expect(judge(slow, config({ pass: 75, marginal: 60, metrics: { errors: { weight: 3, tolerance: 0.01 }, latency: { weight: 1, tolerance: 50 } } })).verdict).toBe('pass');
  });

  it('fails the whole analysis on a critical metric, whatever the score', () => {
    const slow = samples({ errors: repeat(0, 12), latency: around(400, 5, 12) }, healthyBaseline);
    const analysis = judge(slow, config({ pass: 20, marginal: 10, metrics: { latency: { tolerance: 50, critical: true } } }));
    expect(analysis.score).toBe(50);
    expect(analysis.verdict).toBe('fail');
    expect(analysis.summary).toMatch(/a critical metric failed/);
  });
});

describe('median', () => {
  it('takes the middle value, or the mean of the two middle ones', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNull();
  });
});

describe('stepSamples', () => {
  const from = 1_000_000;
  const second = (offset: number, requests: number, errors: number, latencySumMs: number, timed = requests) => ({ at: from + offset * 1000, requests, errors, latencySumMs, timed });

  it('makes one sample per server and sub-window with requests, ignoring servers in neither set and seconds outside the window', () => {
    const traffic: ServerTraffic[] = [
      // Canary h1: sub-window 0 (s 0-4) 10 requests 2 errors, sub-window 1 (s 5-9) 10 requests 0 errors.
      { server: 'h1', buckets: [second(-1, 99, 99, 99), second(0, 4, 1, 40), second(3, 6, 1, 120), second(5, 10, 0, 100), second(10, 50, 50, 50)] },
      { server: 'h2', buckets: [second(1, 5, 0, 50), second(7, 5, 5, 500, 0)] },
      { server: 'other', buckets: [second(0, 10, 10, 10)] },
    ];
    const result = stepSamples(traffic, new Set(['h1']), new Set(['h2']), from, from + 10_000, 5_000);
    expect(result.canary.errors).toEqual([0.2, 0]);
    expect(result.canary.latency).toEqual([16, 10]);
    // h2's second sub-window: 5xx with no response time (the server never answered) counts for errors only.
    expect(result.baseline.errors).toEqual([0, 1]);
    expect(result.baseline.latency).toEqual([10]);
  });

  it('skips sub-windows without requests and refuses a sub-window of 0', () => {
    const traffic: ServerTraffic[] = [{ server: 'h1', buckets: [second(0, 0, 0, 0, 0), second(12, 2, 0, 30)] }];
    expect(stepSamples(traffic, new Set(['h1']), new Set(), from, from + 15_000, 5_000).canary).toEqual({ errors: [0], latency: [15] });
    expect(() => stepSamples(traffic, new Set(['h1']), new Set(), from, from + 15_000, 0)).toThrow(/sub-window must be above 0 ms/);
  });
});
