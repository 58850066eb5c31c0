// A blue/green deploy's steps after its creation (README, "Blue/green"): every host starts the
// idle colour through the slots while the live one serves; once all have, the coordinator moves
// the group's traffic to it with one weight change per step (judged between steps when the role
// says so), ends the deploy, and retires the old colour once it has been kept long enough.
// `grapevine switch` moves traffic back to the old colour while it still runs.
import { ConflictError } from '../../shared/contract/errors.js';
import { EVENT_SCHEMA_VERSION, FINAL_HOST_STATES, type Deploy, type StrategyState } from '../../shared/contract/schemas.js';
import { FULL_WEIGHT, otherColour, type Colour } from '../../shared/contract/strategy.js';
import type { DeployGroup } from '../../shared/ports/fleet-state.js';
import type { GroupColour } from '../../shared/ports/colour-state.js';
import { UNSUCCESSFUL_STATES, deployOutcome } from '../deploy-outcome.js';
import { tallyReports } from '../../shared/contract/deploy-tally.js';
import { markBroken } from '../mark-broken.js';
import { backendOf, endedWindow, judgeWindow, saveStrategy, strategyOf, trafficOf, type StrategyContext } from './strategy-context.js';
import { serversOf, weigh } from './traffic-weights.js';

/** What a switch did: the servers it weighed and how long the load balancer took. */
export interface SwitchOutcome {
  group: DeployGroup;
  live: Colour;
  servers: number;
  ms: number;
}

export async function advanceBlueGreen(context: StrategyContext, deploy: Deploy): Promise<void> {
  const strategy = strategyOf(deploy);
  if (strategy.phase === 'staging') await staged(context, deploy, strategy);
  else if (strategy.phase === 'switching') await stepEnded(context, deploy, strategy);
}

/** Once every host ended: the first step of the switch, or, when a host did not start the new colour, the deploy's end without one. */
async function staged(context: StrategyContext, deploy: Deploy, strategy: StrategyState): Promise<void> {
  const targets = deploy.targets ?? [];
  if (!targets.every((host) => FINAL_HOST_STATES.has(deploy.hosts[host]?.state ?? 'waiting'))) return;
  const missed = targets.filter((host) => deploy.hosts[host]?.state !== 'succeeded');
  if (missed.length > 0) {
    await finish(context, deploy, { ...strategy, phase: 'done', outcome: `not switched: ${missed.map((host) => `${host} ${deploy.hosts[host]?.state ?? '?'}`).join(', ')}` });
    return;
  }
  await moveStep(context, deploy, strategy, 0);
}

async function moveStep(context: StrategyContext, deploy: Deploy, strategy: StrategyState, index: number): Promise<void> {
  const step = strategy.steps[index];
  const to = deploy.colour;
  if (!step || !to) return;
  const servers = await weighColours(context, backendOf(strategy), to, step.percent);
  const at = context.now();
  if (step.percent < 100) {
    const steps = strategy.steps.map((each, i) => (i === index ? { ...each, startedAt: at } : each));
    await saveStrategy(context, deploy, { ...strategy, phase: 'switching', current: index, steps, phaseAt: at });
    context.logger.info({ deployId: deploy.id, step: index + 1, percent: step.percent, colour: to, ms: servers.ms }, 'blue/green step: traffic shared');
    return;
  }
  const keepOldMs = context.config(deploy.role).blueGreen.keepOldMs;
  await context.colours.set({ role: deploy.role, env: deploy.env, live: to, retired: null, retireAt: at + keepOldMs, switchedAt: at, deployId: deploy.id });
  const steps = strategy.steps.map((each, i) => (i === index ? { ...each, startedAt: at, endedAt: at } : each));
  const outcome = `switched ${servers.servers} servers to ${to} in ${servers.ms} ms; ${otherColour(to)} kept until ${new Date(at + keepOldMs).toISOString()}`;
  context.logger.info({ deployId: deploy.id, colour: to, servers: servers.servers, ms: servers.ms }, 'blue/green switch done');
  await finish(context, deploy, { ...strategy, phase: 'done', current: index, steps, retireAt: at + keepOldMs, outcome });
}

async function stepEnded(context: StrategyContext, deploy: Deploy, strategy: StrategyState): Promise<void> {
  const step = strategy.steps[strategy.current];
  const to = deploy.colour;
  const window = endedWindow(context, strategy);
  if (!step || !window || !to) return;
  const settings = context.config(deploy.role).blueGreen;
  if (!settings.judge) {
    await moveStep(context, deploy, strategy, strategy.current + 1);
    return;
  }
  const hosts = deploy.targets ?? [];
  const sides = { fresh: serversOf(hosts, to), old: serversOf(hosts, otherColour(to)) };
  const { judged, analysis } = await judgeWindow(context, strategy, window, sides, { subWindowMs: settings.subWindowMs, judge: settings.judge });
  if (analysis.verdict === 'pass') {
    await moveStep(context, deploy, judged, strategy.current + 1);
    return;
  }
  // No operator pause in a switch: the old colour still serves most traffic, so anything short of a pass goes back.
  const reason = `blue/green step ${strategy.current + 1} (${step.percent} % on ${to}) judged ${analysis.verdict}: ${analysis.summary}`;
  await weighColours(context, backendOf(strategy), otherColour(to), 100);
  await markBroken(context, deploy.role, deploy.tag, { reason, by: 'coordinator', at: context.now() });
  await finish(context, deploy, { ...judged, phase: 'done', ended: 'failed', outcome: reason });
}

/** Ends the deploy as its hosts' reports say (or as the strategy decided), which a blue/green deploy waits for the switch to do. */
async function finish(context: StrategyContext, deploy: Deploy, strategy: StrategyState): Promise<void> {
  const saved = await saveStrategy(context, deploy, { ...strategy, phaseAt: context.now() });
  const tally = tallyReports(deploy.targets, deploy.expectedHosts, deploy.hosts);
  const unsuccessful = Object.values(deploy.hosts).filter((report) => UNSUCCESSFUL_STATES.has(report.state));
  const outcome = deployOutcome({ record: saved, tally, unsuccessful, countedDown: true });
  if (!outcome) return;
  const ended = await context.store.finishDeploy(deploy.id, outcome.status, outcome.reason ?? (outcome.status === 'succeeded' ? undefined : strategy.outcome), context.now());
  if (ended?.finished) {
    context.logger.info({ deployId: deploy.id, status: ended.record.status, reason: ended.record.reason }, 'deploy finished');
    context.fleetEvents.publish({ kind: 'deploy.finished', at: ended.record.finishedAt ?? context.now(), actor: 'coordinator', deploy: ended.record });
  }
}

/**
 * Moves traffic of the group back to the colour it left while that colour still runs; refused
 * once it was retired, while a blue/green deploy of the group is under way, or while any of its
 * servers is not ready in the load balancer (traffic would go to fewer hosts than promised).
 */
export async function switchBack(context: StrategyContext, group: DeployGroup, backend: string, actor: string): Promise<SwitchOutcome> {
  const colours = await context.colours.get(group);
  const name = `${group.role} in ${group.env}`;
  if (!colours) throw new ConflictError('no_colours', `${name} never ran a blue/green deploy: there is no other colour to switch to`);
  const to = otherColour(colours.live);
  if (colours.retired === to) throw new ConflictError('colour_retired', `${name}'s ${to} colour was retired (its containers stopped): deploy a release instead`);
  const servers = await trafficOf(context).weights(backend);
  const target = servers.filter((server) => server.name.endsWith(`.${to}`));
  const notReady = target.filter((server) => server.state !== 'ready').map((server) => `${server.name} (${server.state})`);
  if (target.length === 0 || notReady.length > 0) {
    throw new ConflictError('colour_not_ready', `${name}'s ${to} servers are not all ready in the load balancer (${notReady.join(', ') || 'none registered'}); traffic stays on ${colours.live}`);
  }
  const moved = await weighColours(context, backend, to, 100);
  const at = context.now();
  // The group now wants what the colour it went back to runs: its hosts must not catch up away from it.
  const tag = await tagOf(context, colours, to);
  if (tag !== undefined) await context.store.setDesiredTag(group.role, group.env, tag);
  const keepOldMs = context.config(group.role).blueGreen.keepOldMs;
  await context.colours.set({ ...colours, live: to, retired: null, retireAt: at + keepOldMs, switchedAt: at });
  context.logger.warn({ ...group, colour: to, by: actor, ms: moved.ms, servers: moved.servers }, 'traffic switched back');
  return { group, live: to, servers: moved.servers, ms: moved.ms };
}

/** The tag `colour` runs, from the blue/green deploy that last switched the group: its own, or the one it started from. */
async function tagOf(context: StrategyContext, colours: GroupColour, colour: Colour): Promise<string | undefined> {
  const deploy = colours.deployId === undefined ? undefined : await context.store.getDeploy(colours.deployId);
  if (!deploy?.strategy) return undefined;
  return deploy.colour === colour ? deploy.tag : deploy.strategy.fromTag;
}

/** Whether the group's old colour was kept long enough and is still to retire (`retire` fires once: the colour is then marked retired). */
const isDue = (colours: GroupColour, now: number): boolean => colours.retired === null && colours.retireAt !== undefined && colours.retireAt <= now;

/** The groups whose old colour is due to retire. */
export async function dueToRetire(context: StrategyContext): Promise<GroupColour[]> {
  return (await context.colours.all()).filter((colours) => isDue(colours, context.now()));
}

/** Retires the group's old colour if it is still due, read again (a switch back may have moved the live colour since). */
export async function retireIfDue(context: StrategyContext, group: DeployGroup): Promise<void> {
  const colours = await context.colours.get(group);
  if (colours && isDue(colours, context.now())) await retire(context, colours);
}

async function retire(context: StrategyContext, colours: GroupColour): Promise<void> {
  const colour = otherColour(colours.live);
  await context.events.fireRetire({ v: EVENT_SCHEMA_VERSION, role: colours.role, env: colours.env, colour, id: colours.deployId ?? 'd-unknown00' });
  await context.colours.set({ ...colours, retired: colour });
  context.logger.info({ role: colours.role, env: colours.env, colour }, 'old colour retired: its hosts stop it');
}

/** Gives `to` `percent` of the traffic and the other colour the rest, on every coloured server of the backend, in one exchange. */
async function weighColours(context: StrategyContext, backend: string, to: Colour, percent: number): Promise<{ servers: number; ms: number }> {
  const traffic = trafficOf(context);
  const servers = await traffic.weights(backend);
  const byColour = (colour: Colour) => servers.filter((server) => server.name.endsWith(`.${colour}`)).map((server) => server.name);
  const from = otherColour(to);
  const weights = { ...weigh(byColour(to), Math.round((FULL_WEIGHT * percent) / 100)), ...weigh(byColour(from), Math.round((FULL_WEIGHT * (100 - percent)) / 100)) };
  const startedAt = performance.now();
  await traffic.setWeights(backend, weights);
  return { servers: Object.keys(weights).length, ms: Math.round(performance.now() - startedAt) };
}

