// What a canary analysis records on its deploy: the samples of each step's window, and the
// judge's verdict per metric and overall (shared/contract/canary-judge.ts computes it).
import * as z from 'zod';
import { CanaryMetric } from './strategy.js';
import { storedList } from './stored-list.js';

/** One side's samples of one step: per metric, one value per server and sub-window that had requests. */
export const MetricSamples = z.object({ errors: storedList(z.number(), 10_000), latency: storedList(z.number(), 10_000) });
export type MetricSamples = z.infer<typeof MetricSamples>;

export const StepSamples = z.object({ baseline: MetricSamples, canary: MetricSamples });
export type StepSamples = z.infer<typeof StepSamples>;

export const METRIC_VERDICTS = ['pass', 'fail', 'nodata'] as const;

export const MetricVerdict = z.object({
  metric: CanaryMetric,
  /** Median of each side's samples (null without samples): a share of requests for errors, ms for latency. */
  baseline: z.number().nullable(),
  canary: z.number().nullable(),
  baselineSamples: z.number().int().nonnegative(),
  canarySamples: z.number().int().nonnegative(),
  /** One-sided Mann–Whitney U test, canary higher than baseline; null without enough samples. */
  pValue: z.number().min(0).max(1).nullable(),
  verdict: z.enum(METRIC_VERDICTS),
  /** Why, in words (`canary median 0.21 above baseline 0.00 by more than 0.01, p = 0.0003`). */
  reason: z.string().max(500),
});
export type MetricVerdict = z.infer<typeof MetricVerdict>;

export const ANALYSIS_VERDICTS = ['pass', 'marginal', 'fail'] as const;
export const AnalysisVerdict = z.enum(ANALYSIS_VERDICTS);
export type AnalysisVerdict = z.infer<typeof AnalysisVerdict>;

export const Analysis = z.object({
  /** 0 to 100: the weights of the metrics that passed over the weights of all. */
  score: z.number().min(0).max(100),
  verdict: AnalysisVerdict,
  metrics: storedList(MetricVerdict, 10),
  /** One line for a deploy's reason or a broken mark. */
  summary: z.string().max(1000),
});
export type Analysis = z.infer<typeof Analysis>;
