// A canary or blue/green deploy's progress as the coordinator's strategy runner keeps it on
// the deploy (`Deploy.strategy`): its phase, the canary set or the colours, and each step with
// the samples of its window and the judge's analysis.
import * as z from 'zod';
import { Analysis, StepSamples } from './canary-analysis.js';
import { nodeName, releaseTag } from './names.js';
import { storedList } from './stored-list.js';
import { Colour, StrategyKind } from './strategy.js';

/** One step of a canary (or of a gradual blue/green switch): its share of traffic, its window and how it was judged. */
export const StrategyStepState = z.object({
  percent: z.number(),
  windowMs: z.number().int().nonnegative(),
  startedAt: z.number().optional(),
  endedAt: z.number().optional(),
  /** The load balancer's figures gathered so far in the step's window. */
  samples: StepSamples.optional(),
  /** Set once the step's window ended and was judged. */
  analysis: Analysis.optional(),
});
export type StrategyStepState = z.infer<typeof StrategyStepState>;

export const STRATEGY_PHASES = [
  /** Canary: the canary set deploys through the slots; every other host waits at the deploy's gate. */
  'canary',
  /** Canary: weights set, the current step's window is sampled and then judged. */
  'analysis',
  /** Canary: a marginal score; waits for `grapevine promote` or `grapevine abort` until the deploy's deadline. */
  'paused',
  /** Canary passed: the gate is open and the rest of the hosts deploy through the slots. */
  'rollout',
  /** Blue/green: every host starts the idle colour through the slots; the live one keeps serving. */
  'staging',
  /** Blue/green: traffic moves to the new colour, at once or step by step. */
  'switching',
  /** Over: the outcome is the deploy's status. */
  'done',
] as const;
export const StrategyPhase = z.enum(STRATEGY_PHASES);
export type StrategyPhase = z.infer<typeof StrategyPhase>;

/** A canary or blue/green deploy's progress, kept on the deploy by the coordinator's strategy runner. */
export const StrategyState = z.object({
  kind: StrategyKind,
  phase: StrategyPhase,
  /** The load balancer backend the strategy acts on. */
  backend: z.string().optional(),
  /** Canary: the hosts that deploy first. */
  canaryHosts: storedList(nodeName, 10_000).optional(),
  steps: storedList(StrategyStepState, 10).default([]),
  /** Index of the step in progress (or the last one, once past them). */
  current: z.number().int().nonnegative().default(0),
  /** Blue/green: the colour that was live when the deploy started, which keeps serving until the switch. */
  fromColour: Colour.optional(),
  /** Blue/green: the tag the group wanted when the deploy started (what its live colour ran), wanted again after a switch back. */
  fromTag: releaseTag.optional(),
  /** Blue/green: when the old colour is stopped (retired), unless traffic was switched back to it. */
  retireAt: z.number().optional(),
  /** Why the strategy ended the deploy as it did (the analysis's summary, an abort). */
  outcome: z.string().max(2000).optional(),
  /** Set when the strategy, not the hosts' reports, decides the deploy's status: a failed analysis, an abort. */
  ended: z.enum(['failed', 'cancelled']).optional(),
  /** Who promoted or aborted a paused canary. */
  decidedBy: z.string().max(300).optional(),
  /** When the phase began, ms since the epoch. */
  phaseAt: z.number().optional(),
});
export type StrategyState = z.infer<typeof StrategyState>;

/**
 * True when `rollout` is a blue/green deploy its group was switched back from (`live` is not
 * its colour): the live colour runs the tag the deploy started from (`strategy.fromTag`), and
 * that, not the deploy's own release, is what the group's hosts should run.
 */
export function switchedBackFrom(rollout: { colour?: Colour | undefined; strategy?: Pick<StrategyState, 'kind'> | undefined }, live: Colour | undefined): boolean {
  return rollout.colour !== undefined && rollout.strategy?.kind === 'blue-green' && live !== undefined && live !== rollout.colour;
}
