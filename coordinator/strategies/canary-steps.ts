// A canary deploy's steps after its creation (README, "Canary"): once the canary set has
// deployed through the slots, each step gives it a share of the group's traffic for a window,
// which is then judged against the baseline (the hosts still on the old tag, held at the
// deploy's gate) on the load balancer's own figures. Pass opens the gate to the rest; fail
// takes the canary out of traffic and marks the release broken (the quarantine rolls the
// canary hosts back once the deploy ends); marginal waits for an operator.
import { ConflictError } from '../../shared/contract/errors.js';
import type { Analysis } from '../../shared/contract/canary-analysis.js';
import { FINAL_HOST_STATES, type Deploy, type StrategyState } from '../../shared/contract/schemas.js';
import { FULL_WEIGHT, serverName, type Colour } from '../../shared/contract/strategy.js';
import { markBroken } from '../mark-broken.js';
import { backendOf, endedWindow, judgeWindow, saveStrategy, strategyOf, trafficOf, type StrategyContext } from './strategy-context.js';
import { serversOf, shareWeights, weigh } from './traffic-weights.js';

export async function advanceCanary(context: StrategyContext, deploy: Deploy): Promise<void> {
  const strategy = strategyOf(deploy);
  if (strategy.phase === 'canary') await canaryDeployed(context, deploy, strategy);
  else if (strategy.phase === 'analysis') await stepEnded(context, deploy, strategy);
  // Paused waits for an operator (or the deadline); in rollout the slots do the rest.
}

/** A paused canary goes on as if its step had passed. */
export async function promoteCanary(context: StrategyContext, deploy: Deploy, actor: string): Promise<void> {
  const strategy = strategyOf(deploy);
  if (strategy.kind !== 'canary' || strategy.phase !== 'paused') {
    throw new ConflictError('not_paused', `deploy ${deploy.id} is not a paused canary (it is ${describePhase(strategy)}); only a canary paused on a marginal score can be promoted`);
  }
  context.logger.warn({ deployId: deploy.id, by: actor }, 'paused canary promoted by an operator');
  await passStep(context, deploy, { ...strategy, decidedBy: actor });
}

/** Stops a canary before its rollout: the canary set leaves the traffic, the held hosts stand down, the deploy ends cancelled. */
export async function abortCanary(context: StrategyContext, deploy: Deploy, actor: string): Promise<void> {
  const strategy = strategyOf(deploy);
  if (strategy.kind !== 'canary' || !['canary', 'analysis', 'paused'].includes(strategy.phase) || deploy.status !== 'in_progress') {
    throw new ConflictError('not_abortable', `deploy ${deploy.id} is not a canary before its rollout (it is ${describePhase(strategy)}, ${deploy.status}); mark the release broken or roll back instead`);
  }
  const reason = `canary aborted by ${actor} at ${describePhase(strategy)}`;
  await saveStrategy(context, deploy, { ...strategy, phase: 'done', ended: 'cancelled', outcome: reason, decidedBy: actor, phaseAt: context.now() });
  const { canary, baseline } = await sides(context, deploy, strategy);
  if (strategy.phase !== 'canary') await trafficOf(context).setWeights(backendOf(strategy), { ...weigh(canary, 0), ...weigh(baseline, FULL_WEIGHT) });
  context.logger.warn({ deployId: deploy.id, by: actor }, 'canary aborted; its held hosts stand down and the canary hosts go back once it ends');
  await context.fleet.stopDeploy({ role: deploy.role, env: deploy.env }, deploy.id, reason, context.logger);
}

async function canaryDeployed(context: StrategyContext, deploy: Deploy, strategy: StrategyState): Promise<void> {
  const canaryHosts = strategy.canaryHosts ?? [];
  if (!canaryHosts.every((host) => isFinal(deploy, host))) return;
  const missed = canaryHosts.filter((host) => deploy.hosts[host]?.state !== 'succeeded');
  if (missed.length === 0) {
    await startStep(context, deploy, strategy, 0);
    return;
  }
  const states = missed.map((host) => `${host} ${deploy.hosts[host]?.state ?? 'unknown'}`).join(', ');
  if (missed.some((host) => deploy.hosts[host]?.state === 'failed')) {
    // The failing host marked the release broken: the held hosts stand down and the deploy ends failed by itself.
    await saveStrategy(context, deploy, { ...strategy, phase: 'done', outcome: `a canary host failed (${states}); nothing was judged`, phaseAt: context.now() });
    return;
  }
  const reason = `canary hosts did not deploy (${states}): there is nothing to judge`;
  await saveStrategy(context, deploy, { ...strategy, phase: 'done', ended: 'cancelled', outcome: reason, phaseAt: context.now() });
  await context.fleet.stopDeploy({ role: deploy.role, env: deploy.env }, deploy.id, reason, context.logger);
}

async function startStep(context: StrategyContext, deploy: Deploy, strategy: StrategyState, index: number): Promise<void> {
  const step = strategy.steps[index];
  if (!step) return;
  const { canary, baseline } = await sides(context, deploy, strategy);
  await trafficOf(context).setWeights(backendOf(strategy), shareWeights(canary, baseline, step.percent));
  const startedAt = context.now();
  const steps = strategy.steps.map((each, i) => (i === index ? { ...each, startedAt } : each));
  await saveStrategy(context, deploy, { ...strategy, phase: 'analysis', current: index, steps, phaseAt: startedAt });
  context.logger.info({ deployId: deploy.id, step: index + 1, percent: step.percent, windowMs: step.windowMs, canary }, 'canary step started');
}

async function stepEnded(context: StrategyContext, deploy: Deploy, strategy: StrategyState): Promise<void> {
  const window = endedWindow(context, strategy);
  if (!window) return;
  const { canary, baseline } = await sides(context, deploy, strategy);
  const { judged, analysis } = await judgeWindow(context, strategy, window, { fresh: canary, old: baseline }, context.config(deploy.role).canary);
  context.logger.info({ deployId: deploy.id, step: strategy.current + 1, score: analysis.score, verdict: analysis.verdict, summary: analysis.summary }, 'canary step judged');
  if (analysis.verdict === 'pass') await passStep(context, deploy, judged);
  else if (analysis.verdict === 'marginal') await saveStrategy(context, deploy, { ...judged, phase: 'paused', phaseAt: context.now() });
  else await failCanary(context, deploy, judged, analysis);
}

/** The next step, or once every step passed: every server back at full weight, then the gate opens for the rest. */
async function passStep(context: StrategyContext, deploy: Deploy, strategy: StrategyState): Promise<void> {
  const next = strategy.current + 1;
  if (next < strategy.steps.length) {
    await startStep(context, deploy, strategy, next);
    return;
  }
  const { canary, baseline } = await sides(context, deploy, strategy);
  await trafficOf(context).setWeights(backendOf(strategy), weigh([...canary, ...baseline], FULL_WEIGHT));
  await saveStrategy(context, deploy, { ...strategy, phase: 'rollout', outcome: `the canary passed ${strategy.steps.length} step(s); the rest of the hosts follow`, phaseAt: context.now() });
  context.logger.info({ deployId: deploy.id }, 'canary passed; the gate opens for the rest of the group');
  await context.fleet.openGate({ role: deploy.role, env: deploy.env }, deploy.id, context.logger);
}

async function failCanary(context: StrategyContext, deploy: Deploy, strategy: StrategyState, analysis: Analysis): Promise<void> {
  const step = strategy.steps[strategy.current];
  const reason = `canary analysis failed at step ${strategy.current + 1} (${step?.percent ?? '?'} % of traffic): ${analysis.summary}`;
  // Saved before the mark: the last held host to stand down ends the deploy `failed` with this reason.
  await saveStrategy(context, deploy, { ...strategy, phase: 'done', ended: 'failed', outcome: reason, phaseAt: context.now() });
  const { canary, baseline } = await sides(context, deploy, strategy);
  await trafficOf(context).setWeights(backendOf(strategy), { ...weigh(canary, 0), ...weigh(baseline, FULL_WEIGHT) });
  context.logger.warn({ deployId: deploy.id, reason }, 'canary failed its analysis; out of traffic, release marked broken');
  await markBroken(context, deploy.role, deploy.tag, { reason, by: 'coordinator', at: context.now() });
}

/** The canary's servers and the baseline's: every other target's, on the old tag behind the gate. */
async function sides(context: StrategyContext, deploy: Deploy, strategy: StrategyState): Promise<{ canary: string[]; baseline: string[] }> {
  const canaryHosts = [...new Set(strategy.canaryHosts ?? [])];
  const baselineHosts = (deploy.targets ?? []).filter((host) => !canaryHosts.includes(host));
  const colour = deploy.colour ?? (await unrecordedColour(context, strategy, [...canaryHosts, ...baselineHosts]));
  return { canary: serversOf(canaryHosts, colour), baseline: serversOf(baselineHosts, colour) };
}

/**
 * A group in two colours that never ran a blue/green deploy has no colour on record, and its
 * hosts serve blue: their servers are `h1.blue`, which the load balancer's list tells.
 */
async function unrecordedColour(context: StrategyContext, strategy: StrategyState, hosts: readonly string[]): Promise<Colour | undefined> {
  const names = new Set((await trafficOf(context).weights(backendOf(strategy))).map((server) => server.name));
  return !hosts.some((host) => names.has(host)) && hosts.some((host) => names.has(serverName(host, 'blue'))) ? 'blue' : undefined;
}


function isFinal(deploy: Deploy, host: string): boolean {
  const state = deploy.hosts[host]?.state;
  return state !== undefined && FINAL_HOST_STATES.has(state);
}

export function describePhase(strategy: StrategyState): string {
  const step = strategy.steps[strategy.current];
  return strategy.phase === 'analysis' || strategy.phase === 'paused' ? `${strategy.phase} at step ${strategy.current + 1} (${step?.percent ?? '?'} %)` : strategy.phase;
}
