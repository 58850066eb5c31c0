// The canary judge (README, "Strategies"): compares each metric's samples on the canary hosts
// with the baseline's by a one-sided Mann–Whitney U test, and scores the metrics as Kayenta's
// judge does: a metric fails only when the canary is significantly worse AND worse by more than
// its tolerance, the score is the weight of the passing metrics, a critical failure fails all.
// Pure: the coordinator gathers the samples (canary-samples.ts) and acts on the verdict.
import type { Analysis, MetricVerdict, StepSamples } from './canary-analysis.js';
import { CANARY_METRICS, type CanaryMetric, type JudgeConfig, type JudgeMetricConfig } from './strategy.js';

/** Below this many (canary × baseline) pairs and without ties, the p-value is counted exactly rather than approximated. */
const EXACT_MAX_PAIRS = 400;

export interface MannWhitneyResult {
  /** Pairs (canary, baseline) where the canary value is higher, a tie counting one half. */
  u: number;
  /** Chance of a U this high or higher if both samples came from one distribution. */
  pValue: number;
}

/**
 * One-sided Mann–Whitney U test that `canary` values tend to be higher than `baseline` ones.
 * Exact when both samples are small and have no ties; else the normal approximation with the
 * tie correction and a continuity correction of one half (R's `wilcox.test(..., alternative =
 * "greater")`). Without any evidence either way (an empty side, or every value equal) the
 * p-value is 1: nothing suggests the canary is worse, so a judge built on it must pass.
 */
export function mannWhitneyGreater(canary: readonly number[], baseline: readonly number[]): MannWhitneyResult {
  const m = canary.length;
  const n = baseline.length;
  if (m === 0 || n === 0) return { u: 0, pValue: 1 };
  const { ranks, tieGroups } = averageRanks([...canary, ...baseline]);
  let canaryRankSum = 0;
  for (let i = 0; i < m; i++) canaryRankSum += ranks[i]!;
  const u = canaryRankSum - (m * (m + 1)) / 2;

  if (tieGroups.length === 0 && m * n <= EXACT_MAX_PAIRS) return { u, pValue: exactUpperTail(m, n, u) };

  const total = m + n;
  const tieTerm = tieGroups.reduce((sum, t) => sum + (t * t * t - t), 0);
  const variance = ((m * n) / 12) * (total + 1 - tieTerm / (total * (total - 1)));
  if (variance <= 0) return { u, pValue: 1 };
  const z = (u - (m * n) / 2 - 0.5) / Math.sqrt(variance);
  return { u, pValue: clampProbability(upperNormalTail(z)) };
}

/** Ranks 1..N of `values` with tied values sharing the mean of their ranks, and the size of each group of ties. */
function averageRanks(values: readonly number[]): { ranks: number[]; tieGroups: number[] } {
  const order = values.map((value, index) => ({ value, index })).sort((a, b) => a.value - b.value);
  const ranks = new Array<number>(values.length).fill(0);
  const tieGroups: number[] = [];
  for (let start = 0; start < order.length; ) {
    let end = start + 1;
    while (end < order.length && order[end]!.value === order[start]!.value) end++;
    const rank = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) ranks[order[k]!.index] = rank;
    if (end - start > 1) tieGroups.push(end - start);
    start = end;
  }
  return { ranks, tieGroups };
}

/**
 * P(U >= u) with samples of m and n and no ties, counting the orderings: the highest of all
 * m + n values is a canary one (adding n to U) or a baseline one (adding 0), so
 * count(m, n, k) = count(m - 1, n, k - n) + count(m, n - 1, k).
 */
function exactUpperTail(m: number, n: number, u: number): number {
  // counts[i][j][k]: orderings of i canary and j baseline values with U = k.
  const counts: number[][][] = [];
  for (let i = 0; i <= m; i++) {
    const row: number[][] = [];
    for (let j = 0; j <= n; j++) {
      if (i === 0 || j === 0) {
        row.push([1]);
        continue;
      }
      const withCanaryHighest = counts[i - 1]![j]!;
      const withBaselineHighest = row[j - 1]!;
      const cell = new Array<number>(i * j + 1).fill(0);
      for (let k = 0; k <= i * j; k++) cell[k] = (withCanaryHighest[k - j] ?? 0) + (withBaselineHighest[k] ?? 0);
      row.push(cell);
    }
    counts.push(row);
  }
  const distribution = counts[m]![n]!;
  let all = 0;
  let atLeast = 0;
  for (let k = 0; k < distribution.length; k++) {
    all += distribution[k]!;
    if (k >= u) atLeast += distribution[k]!;
  }
  return clampProbability(atLeast / all);
}

/** P(Z > z) for a standard normal Z, from erfc (Numerical Recipes' erfcc, relative error below 1.2e-7). */
function upperNormalTail(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

function erfc(x: number): number {
  const t = 1 / (1 + 0.5 * Math.abs(x));
  const poly =
    -x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const value = t * Math.exp(poly);
  return x >= 0 ? value : 2 - value;
}

function clampProbability(p: number): number {
  return Math.min(1, Math.max(0, p));
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Judges one step's samples: a verdict per metric, the score, and the overall verdict with a one-line summary. */
export function judge(samples: StepSamples, config: JudgeConfig): Analysis {
  const metrics = CANARY_METRICS.map((metric) => judgeMetric(metric, samples.canary[metric], samples.baseline[metric], config.metrics[metric], config.minSamples));
  const weightOf = (metric: CanaryMetric) => config.metrics[metric].weight;
  const allWeight = metrics.reduce((sum, verdict) => sum + weightOf(verdict.metric), 0);
  const passingWeight = metrics.filter((verdict) => verdict.verdict === 'pass').reduce((sum, verdict) => sum + weightOf(verdict.metric), 0);
  const score = allWeight > 0 ? (100 * passingWeight) / allWeight : 0;
  const criticalFailed = metrics.some((verdict) => verdict.verdict === 'fail' && config.metrics[verdict.metric].critical);
  const verdict = criticalFailed ? 'fail' : score >= config.pass ? 'pass' : score >= config.marginal ? 'marginal' : 'fail';
  return { score, verdict, metrics, summary: summarise(score, verdict, metrics, criticalFailed) };
}

function judgeMetric(metric: CanaryMetric, canary: readonly number[], baseline: readonly number[], config: JudgeMetricConfig, minSamples: number): MetricVerdict {
  const medians = { canary: median(canary), baseline: median(baseline) };
  const counts = { canarySamples: canary.length, baselineSamples: baseline.length };
  if (canary.length < minSamples || baseline.length < minSamples) {
    const reason = `too few samples: canary ${canary.length}, baseline ${baseline.length}, at least ${minSamples} needed on each side`;
    return { metric, ...medians, ...counts, pValue: null, verdict: 'nodata', reason };
  }
  const { pValue } = mannWhitneyGreater(canary, baseline);
  const worseBy = medians.canary! - medians.baseline!;
  const significant = pValue < config.alpha;
  const pastTolerance = worseBy > config.tolerance;
  const shown = `canary median ${figure(metric, medians.canary)} vs baseline ${figure(metric, medians.baseline)}, p = ${probability(pValue)}`;
  const reason =
    significant && pastTolerance
      ? `${shown}: significantly higher (alpha ${config.alpha}) and by more than the tolerance ${figure(metric, config.tolerance)}`
      : significant
        ? `${shown}: significantly higher but within the tolerance ${figure(metric, config.tolerance)}`
        : `${shown}: not significantly higher (alpha ${config.alpha})`;
  return { metric, ...medians, ...counts, pValue, verdict: significant && pastTolerance ? 'fail' : 'pass', reason };
}

/** `score 50/100 (fail): errors canary 0.200 vs baseline 0.000, p=0.0001`, naming each metric that did not pass. */
function summarise(score: number, verdict: Analysis['verdict'], metrics: MetricVerdict[], criticalFailed: boolean): string {
  const head = `score ${Math.round(score)}/100 (${verdict}${criticalFailed ? ', a critical metric failed' : ''})`;
  const notPassing = metrics
    .filter((metric) => metric.verdict !== 'pass')
    .map((metric) =>
      metric.verdict === 'nodata'
        ? `${metric.metric} no data (canary ${metric.canarySamples} samples, baseline ${metric.baselineSamples})`
        : `${metric.metric} canary ${figure(metric.metric, metric.canary)} vs baseline ${figure(metric.metric, metric.baseline)}, p=${probability(metric.pValue)}`,
    );
  return notPassing.length === 0 ? head : `${head}: ${notPassing.join('; ')}`;
}

/** An error share with three decimals, a latency in whole ms (one decimal under 10 ms). */
function figure(metric: CanaryMetric, value: number | null): string {
  if (value === null) return 'none';
  if (metric === 'errors') return value.toFixed(3);
  return Math.abs(value) < 10 ? `${value.toFixed(1)} ms` : `${Math.round(value)} ms`;
}

function probability(p: number | null): string {
  if (p === null) return 'none';
  return p !== 0 && p < 0.0001 ? p.toExponential(1) : p.toFixed(4);
}
