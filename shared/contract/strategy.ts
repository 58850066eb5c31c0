// Deploy strategies (README, "Strategies"): how a role's new release reaches its hosts and
// their traffic. `rolling` is the deploy of DESIGN.md; `canary` deploys a canary set first and
// judges it against the baseline on the load balancer's own figures before the rest follow;
// `blue-green` starts the idle colour of every host and then moves the group's traffic to it.
import * as z from 'zod';
import { lbName } from '../haproxy/relay-contract.js';
import { envName } from './names.js';
import { StrategyKind } from './strategy-kind.js';

// Defined apart, so a command checking only the name builds nothing else.
export { STRATEGIES, StrategyKind } from './strategy-kind.js';

/** The two colours of a blue/green role on each host: two compose projects, two ports, two load-balancer servers. */
export const COLOURS = ['blue', 'green'] as const;
export const Colour = z.enum(COLOURS);
export type Colour = z.infer<typeof Colour>;

export function otherColour(colour: Colour): Colour {
  return colour === 'blue' ? 'green' : 'blue';
}

/**
 * A host's server in its role's backend: named after the host, with the colour after a dot
 * for a blue/green role (`h1.blue`). The relay lets a host credential act on these names only.
 */
export function serverName(host: string, colour?: Colour): string {
  return colour === undefined ? host : `${host}.${colour}`;
}

/** The weight every server serves at outside a canary step or a gradual switch (HAProxy's own default is 1; 100 leaves room for shares). */
export const FULL_WEIGHT = 100;

const percent = z.number().min(0, 'must be a percentage from 0 to 100').max(100, 'must be a percentage from 0 to 100');
const windowMs = z.number().int('must be a whole number of milliseconds').min(1_000, 'must be at least 1000 ms').max(24 * 60 * 60_000, 'must be at most a day');

/** One metric the judge compares; a metric that fails is one whose canary is significantly worse than its baseline and past the tolerance. */
export const JudgeMetricConfig = z.strictObject({
  /** Share of the score this metric carries when it passes. */
  weight: z.number().positive('must be above 0').default(1),
  /** Significance level of the one-sided Mann–Whitney test (canary higher than baseline). */
  alpha: z.number().gt(0, 'must be above 0').lt(0.5, 'must be below 0.5').default(0.05),
  /**
   * How much worse the canary's median may be and still pass, however significant: for
   * errors a share of requests (0.01 = one point), for latency a number of milliseconds.
   */
  tolerance: z.number().nonnegative('must not be negative'),
  /** A metric that fails fails the whole analysis, whatever the score (Kayenta's "critical"). */
  critical: z.boolean().default(false),
});
export type JudgeMetricConfig = z.infer<typeof JudgeMetricConfig>;

export const CANARY_METRICS = ['errors', 'latency'] as const;
export const CanaryMetric = z.enum(CANARY_METRICS);
export type CanaryMetric = z.infer<typeof CanaryMetric>;

export const JudgeConfig = z
  .strictObject({
    /** A score at or above this passes. */
    pass: percent.default(95),
    /** A score at or above this (and below pass) pauses the deploy for an operator; below it fails. */
    marginal: percent.default(75),
    metrics: z
      .strictObject({
        /** Share of a server's requests answered 5xx in each sub-window. */
        errors: JudgeMetricConfig.prefault({ tolerance: 0.01 }),
        /** Mean time to the server's response (HAProxy's Tr) in each sub-window, in ms. */
        latency: JudgeMetricConfig.prefault({ tolerance: 50 }),
      })
      .prefault({}),
    /** Fewer samples than this on either side leaves a metric without a verdict (`nodata`), which does not pass. */
    minSamples: z.number().int().min(3).max(1000).default(5),
  })
  .refine((judge) => judge.marginal <= judge.pass, { path: ['marginal'], message: 'must not be above pass' });
export type JudgeConfig = z.infer<typeof JudgeConfig>;

export const CanaryStep = z.strictObject({
  /** Share of the group's traffic the canary hosts get during the step. */
  percent: z.number().gt(0, 'must be above 0').lt(100, 'must be below 100'),
  /** How long the step is held and judged. */
  windowMs,
});
export type CanaryStep = z.infer<typeof CanaryStep>;

export const CanaryConfig = z.strictObject({
  /** The canary set: a number of hosts, or a share of the group's hosts ("10%"), at least one and never all. */
  hosts: z.union([z.number().int().positive('must be at least 1'), z.string().regex(/^\d{1,2}(\.\d+)?%$/, 'must be a number of hosts or a share like "10%"')]).default(1),
  steps: z.array(CanaryStep).min(1, 'must have at least one step').max(10).default([
    { percent: 5, windowMs: 60_000 },
    { percent: 25, windowMs: 60_000 },
    { percent: 50, windowMs: 60_000 },
  ]),
  /** Each step's window is judged over samples this long (per server: error share and mean latency). */
  subWindowMs: z.number().int().min(500).max(60_000).default(5_000),
  judge: JudgeConfig.prefault({}),
});
export type CanaryConfig = z.infer<typeof CanaryConfig>;

export const BlueGreenConfig = z.strictObject({
  /** Shares of traffic on the new colour, in order; [100] switches at once. */
  steps: z.array(percent.gt(0, 'must be above 0')).min(1).max(10).default([100]).refine((steps) => steps.at(-1) === 100, 'must end at 100'),
  /** How long each step before the last is held (and judged, with judge set). */
  stepWindowMs: windowMs.default(30_000),
  /** Sub-window of the judge's samples between steps. */
  subWindowMs: z.number().int().min(500).max(60_000).default(5_000),
  /** Judge each step before the last against the old colour (the canary judge); steps are only held without it. */
  judge: JudgeConfig.optional(),
  /** How long the old colour keeps running after the switch, for `grapevine switch` to move traffic back at once. */
  keepOldMs: z.number().int().min(0).max(7 * 24 * 60 * 60_000).default(15 * 60_000),
});
export type BlueGreenConfig = z.infer<typeof BlueGreenConfig>;

/** A role's strategies in the coordinator's config (`strategies.ROLE`). */
export const RoleStrategyConfig = z.strictObject({
  /** What `grapevine deploy` uses unless `--strategy` says otherwise. */
  strategy: StrategyKind.default('rolling'),
  /** The HAProxy backend of the role in each environment: canary weights, the judge's figures and blue/green switches act on it. */
  backends: z.record(envName, lbName).default({}),
  canary: CanaryConfig.prefault({}),
  blueGreen: BlueGreenConfig.prefault({}),
});
export type RoleStrategyConfig = z.infer<typeof RoleStrategyConfig>;
