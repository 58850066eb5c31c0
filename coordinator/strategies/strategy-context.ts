// What the strategy runner's steps share: the store, the fleet's Redis state, the load
// balancer, the groups' colours and the Serf events, each step's logger, and the one way a
// step saves the strategy's progress on its deploy.
import type { Logger } from '../../shared/contract/logger.js';
import type { Deploy, RetireEventPayload, StrategyState } from '../../shared/contract/schemas.js';
import type { RoleStrategyConfig } from '../../shared/contract/strategy.js';
import type { ColourState } from '../../shared/ports/colour-state.js';
import type { DeployStore, DeployRecord } from '../../shared/ports/deploy-store.js';
import type { FleetControl } from '../../shared/ports/fleet-state.js';
import type { TrafficControl } from '../../shared/ports/traffic.js';
import type { FleetEventPublisher } from '../fleet-event-bus.js';
import { ConflictError, GrapevineError } from '../../shared/contract/errors.js';
import { judge } from '../../shared/contract/canary-judge.js';
import { stepSamples } from '../../shared/contract/canary-samples.js';
import type { Analysis } from '../../shared/contract/canary-analysis.js';
import type { JudgeConfig } from '../../shared/contract/strategy.js';

export interface StrategyContext {
  store: DeployStore;
  fleet: FleetControl;
  /** The load balancer; canary and blue/green deploys are refused at creation without it. */
  traffic: TrafficControl | undefined;
  colours: ColourState;
  events: { fireRetire(payload: RetireEventPayload): Promise<void> };
  fleetEvents: FleetEventPublisher;
  /** The role's strategies as configured (defaults for a role the config does not name). */
  config: (role: string) => RoleStrategyConfig;
  logger: Logger;
  now: () => number;
}

/** The load balancer, which a deploy with a strategy was only created with. */
export function trafficOf(context: StrategyContext): TrafficControl {
  if (!context.traffic) throw new GrapevineError('strategy_unavailable', 'the coordinator has no load balancer (loadBalancer.relay in its config)');
  return context.traffic;
}

/** Saves the strategy's progress on the deploy; returns the record after. */
export async function saveStrategy(context: StrategyContext, deploy: Pick<Deploy, 'id'>, strategy: StrategyState): Promise<DeployRecord> {
  const saved = await context.store.annotateDeploy(deploy.id, { strategy });
  if (!saved) throw new GrapevineError('deploy_not_found', `deploy ${deploy.id} is gone`);
  return saved;
}

/** The strategy of a deploy that has one. */
export function strategyOf(deploy: Pick<Deploy, 'id' | 'strategy'>): StrategyState {
  if (!deploy.strategy) throw new GrapevineError('strategy_unavailable', `deploy ${deploy.id} has no strategy`);
  return deploy.strategy;
}

/** The load balancer's log lines of a window's last second reach the relay just after it ends. */
const LOG_DELAY_MS = 1_000;

/** The current step's window, once it is over and its log lines are in; undefined before. */
export function endedWindow(context: StrategyContext, strategy: StrategyState): { startedAt: number; endsAt: number } | undefined {
  const step = strategy.steps[strategy.current];
  if (step?.startedAt === undefined) return undefined;
  const endsAt = step.startedAt + step.windowMs;
  return context.now() < endsAt + LOG_DELAY_MS ? undefined : { startedAt: step.startedAt, endsAt };
}

/**
 * The current step judged on its window's traffic, `fresh` (the canary, the new colour) against
 * `old` (the baseline, the old colour): the strategy with the step's samples and analysis.
 */
export async function judgeWindow(
  context: StrategyContext,
  strategy: StrategyState,
  window: { startedAt: number; endsAt: number },
  sides: { fresh: readonly string[]; old: readonly string[] },
  settings: { subWindowMs: number; judge: JudgeConfig },
): Promise<{ judged: StrategyState; analysis: Analysis }> {
  const { startedAt, endsAt } = window;
  const traffic = await trafficOf(context).traffic(backendOf(strategy), startedAt, endsAt);
  const samples = stepSamples(traffic, new Set(sides.fresh), new Set(sides.old), startedAt, endsAt, settings.subWindowMs);
  const analysis = judge(samples, settings.judge);
  const steps = strategy.steps.map((each, i) => (i === strategy.current ? { ...each, endedAt: endsAt, samples, analysis } : each));
  return { judged: { ...strategy, steps }, analysis };
}

/** The backend a canary or blue/green deploy acts on, stored when it was created. */
export function backendOf(strategy: StrategyState): string {
  if (strategy.backend === undefined) throw new ConflictError('strategy_unavailable', 'the deploy names no load balancer backend');
  return strategy.backend;
}
