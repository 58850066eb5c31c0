// The figures of one benchmark run, computed from what the run measured (no I/O here).
import type { CpuShares } from './cpu-steal.js';
import type { Deploy } from '../shared/contract/schemas.js';
import {
  criticalPath,
  gossipDelayMs,
  median,
  perHostWorkMs,
  phaseBreakdown,
  slotHandOversMs,
  slotsFor,
  spread,
  stepAt,
  totalCommands,
  wavesFor,
  type CommandCounts,
  type CriticalPath,
  type PhaseBreakdown,
  type WaitingHostRate,
} from './measure.js';
import type { CommandOrigins } from './redis-probe.js';
import { idealMakespan } from './fleet/schedule.js';

/** A deploy measured from just before `grapevine deploy` starts to the finishedAt the coordinator records. */
export interface TimedDeploy {
  deploy: Deploy;
  spawnedAt: number;
  wallMs: number;
  commands: CommandCounts;
  origins: CommandOrigins;
  rssIdle: Map<number, number>;
  rssPeak: Map<number, number>;
  memorySamples: number;
  /** The whole machine's CPU from the CLI's start to the deploy's end (bench/cpu-steal.ts). */
  machine: CpuShares;
}

/** The commands of N hosts all waiting for a slot. */
export interface WaitingMeasurement {
  deployId: string;
  windowMs: number;
  commands: CommandCounts;
  origins: CommandOrigins;
  rates: WaitingHostRate[];
  total: number;
}

export interface RunFigures {
  run: number;
  grapevineTag: string;
  ansibleTag: string;
  deployId: string;
  /** Spawning `grapevine deploy` → the deploy's finishedAt. */
  wallMs: number;
  /** Median over hosts of pull → release. */
  perHostWorkMs: number;
  /** The slowest host's pull → release: a wave lasts as long as its slowest host. */
  perHostWorkMaxMs: number;
  gossipMs: number;
  /** Per cent of the machine's CPU time the hypervisor took while the deploy ran. */
  stealPercent: number;
  waves: number;
  idealMs: number;
  overheadMs: number;
  overheadPct: number;
  /**
   * The fleet bench's ideal on this run's own hosts: a perfect k-slot schedule of each host's
   * own T, each starting no sooner than its event came. Unlike waves × median T, a host the
   * machine made slow is in it, so what is left over is the coordination alone.
   */
  idealOwnTMs: number;
  overheadOwnTMs: number;
  handOversMs: number[];
  handOverMedianMs: number;
  handOverMaxMs: number;
  /** commandstats delta across the timed deploy, per command (commands inside Lua included). */
  redisCommands: Record<string, number>;
  /** The same deploy through MONITOR, by origin. */
  redisOrigins: Record<keyof CommandOrigins, Record<string, number>>;
  redisPerHostPerDeploy: number;
  /** Only what the agents sent themselves (no Lua internals, no coordinator). */
  redisAgentSentPerHostPerDeploy: number;
  waitingDeployId: string;
  waitingWindowMs: number;
  waitingCommands: Record<string, number>;
  waitingOrigins: Record<keyof CommandOrigins, Record<string, number>>;
  /** commandstats delta over the window ÷ hosts ÷ seconds, as asked; cut wherever the window falls in the poll cycle. */
  redisPerWaitingHostPerSec: number;
  /** MONITOR over whole poll cycles, median over hosts: what a waiting agent sends, and with its scripts' commands. */
  waitingSentPerHostPerSec: number;
  waitingAllPerHostPerSec: number;
  waitingPollPeriodMs: number;
  waitingRates: WaitingHostRate[];
  /** Agent-sent commands over the window ÷ hosts ÷ seconds (same cut as commandstats). */
  redisAgentSentPerWaitingHostPerSec: number;
  /** The coordinator's own commands per second while every host waits (its watchdog). */
  redisCoordinatorPerSecWhileWaiting: number;
  /** Per agent pid, bytes. */
  rssIdle: Record<string, number>;
  rssPeak: Record<string, number>;
  rssIdleMaxBytes: number;
  rssPeakMaxBytes: number;
  memorySamples: number;
  ansibleWallMs: number;
  ratio: number;
  breakdown: PhaseBreakdown;
  critical: CriticalPath;
  /** The timed deploy as the coordinator recorded it, steps and all. */
  deploy: Deploy;
}

export interface RunInputs {
  run: number;
  hosts: number;
  grapevineTag: string;
  ansibleTag: string;
  timed: TimedDeploy;
  ansibleWallMs: number;
  waiting: WaitingMeasurement;
}

export function runFigures(inputs: RunInputs): RunFigures {
  const { run, hosts: size, grapevineTag, ansibleTag, timed, ansibleWallMs, waiting } = inputs;
  const { deploy } = timed;
  const works = perHostWorkMs(deploy);
  const work = median(works);
  const gossip = gossipDelayMs(deploy);
  const waves = wavesFor(size);
  const idealMs = waves * work + gossip;
  const overheadMs = timed.wallMs - idealMs;
  const idealOwnTMs = idealMakespan(ownDraws(deploy, works), slotsFor(size));
  const handOvers = slotHandOversMs(deploy);
  const handOverStats = spread(handOvers);
  const byPid = (map: Map<number, number>) => Object.fromEntries([...map].map(([pid, bytes]) => [String(pid), bytes]));
  const perSecond = (count: number) => count / (waiting.windowMs / 1000);
  return {
    run,
    grapevineTag,
    ansibleTag,
    deployId: deploy.id,
    wallMs: timed.wallMs,
    perHostWorkMs: work,
    perHostWorkMaxMs: Math.max(...works),
    gossipMs: gossip,
    stealPercent: timed.machine.stealPercent,
    waves,
    idealMs,
    overheadMs,
    overheadPct: (overheadMs / idealMs) * 100,
    idealOwnTMs,
    overheadOwnTMs: timed.wallMs - idealOwnTMs,
    handOversMs: handOvers,
    handOverMedianMs: handOverStats.median,
    handOverMaxMs: handOverStats.max,
    redisCommands: Object.fromEntries(timed.commands),
    redisOrigins: originsRecord(timed.origins),
    redisPerHostPerDeploy: totalCommands(timed.commands) / size,
    redisAgentSentPerHostPerDeploy: totalCommands(timed.origins.agents) / size,
    waitingDeployId: waiting.deployId,
    waitingWindowMs: waiting.windowMs,
    waitingCommands: Object.fromEntries(waiting.commands),
    waitingOrigins: originsRecord(waiting.origins),
    redisPerWaitingHostPerSec: perSecond(waiting.total) / size,
    waitingSentPerHostPerSec: median(waiting.rates.map((r) => r.sentPerSec)),
    waitingAllPerHostPerSec: median(waiting.rates.map((r) => r.allPerSec)),
    waitingPollPeriodMs: median(waiting.rates.map((r) => r.periodMs)),
    waitingRates: waiting.rates,
    redisAgentSentPerWaitingHostPerSec: perSecond(totalCommands(waiting.origins.agents)) / size,
    redisCoordinatorPerSecWhileWaiting: perSecond(totalCommands(waiting.origins.coordinator)),
    rssIdle: byPid(timed.rssIdle),
    rssPeak: byPid(timed.rssPeak),
    rssIdleMaxBytes: Math.max(...timed.rssIdle.values()),
    rssPeakMaxBytes: Math.max(...timed.rssPeak.values()),
    memorySamples: timed.memorySamples,
    ansibleWallMs,
    ratio: ansibleWallMs / timed.wallMs,
    breakdown: phaseBreakdown(deploy, timed.spawnedAt),
    critical: criticalPath(deploy, timed.spawnedAt, waves),
    deploy,
  };
}

function originsRecord(origins: CommandOrigins): Record<keyof CommandOrigins, Record<string, number>> {
  return {
    agents: Object.fromEntries(origins.agents),
    coordinator: Object.fromEntries(origins.coordinator),
    lua: Object.fromEntries(origins.lua),
  };
}

/** Each host as the fleet bench draws one: when its event came (after createdAt) and its T, `works` (perHostWorkMs, in the same order). */
function ownDraws(deploy: Deploy, works: number[]): Array<{ readyMs: number; workMs: number }> {
  return Object.values(deploy.hosts).map((host, i) => ({
    readyMs: (stepAt(host, 'received') ?? deploy.createdAt) - deploy.createdAt,
    workMs: works[i] as number,
  }));
}
