// The figures the benchmark reports, computed from deploy records and samples alone
// (no I/O here), so every number in the table can be traced back to step times.
import type { Deploy, HostReport, HostStep } from '../shared/contract/schemas.js';

export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** Median (mean of the middle two for an even count), min and max; NaN for no values. */
export function spread(values: readonly number[]): Spread {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN };
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

export function median(values: readonly number[]): number {
  return spread(values).median;
}

/** The agents' default slot count, ceil(n / 3). */
export function slotsFor(hosts: number): number {
  return Math.max(1, Math.ceil(hosts / 3));
}

/** How many rounds a rollout needs when every slot is used at once. */
export function wavesFor(hosts: number): number {
  return Math.ceil(hosts / slotsFor(hosts));
}

export function stepAt(host: HostReport, step: HostStep): number | undefined {
  return host.steps.find((s) => s.step === step)?.at;
}

function requireStep(host: HostReport, step: HostStep): number {
  const at = stepAt(host, step);
  if (at === undefined) throw new Error(`host ${host.host} reported no ${step} step`);
  return at;
}

/** Per host, pull → release: pull, compose up, the health gate with its soak, and registration; nothing of the coordination. */
export function perHostWorkMs(deploy: Deploy): number[] {
  return Object.values(deploy.hosts).map((host) => requireStep(host, 'release') - requireStep(host, 'pull'));
}

/** createdAt (the coordinator fires the event right after recording it) → the last host's `received`. */
export function gossipDelayMs(deploy: Deploy): number {
  const received = Object.values(deploy.hosts).map((host) => requireStep(host, 'received'));
  return Math.max(...received) - deploy.createdAt;
}

/**
 * For each host that had to wait: its slot time minus the latest release of another host
 * at or before it, the time a freed slot stayed unused.
 */
export function slotHandOversMs(deploy: Deploy): number[] {
  const hosts = Object.values(deploy.hosts);
  const handOvers: number[] = [];
  for (const host of hosts) {
    if (stepAt(host, 'waiting') === undefined) continue;
    const slot = requireStep(host, 'slot');
    const releases = hosts
      .filter((other) => other.host !== host.host)
      .map((other) => stepAt(other, 'release'))
      .filter((at): at is number => at !== undefined && at <= slot);
    if (releases.length > 0) handOvers.push(slot - Math.max(...releases));
  }
  return handOvers;
}

/** Named intervals of one deploy, each the median over the hosts it applies to (ms). */
export interface PhaseBreakdown {
  /** Spawning `grapevine deploy` → the coordinator's createdAt (CLI start, HTTP, membership, store). */
  cliToCreated: number;
  /** createdAt → each host's `received`. */
  createdToReceived: number;
  /** `received` → `slot` for hosts that found a slot free at once (counting, the slot script, reports). */
  receivedToSlotFirstWave: number;
  slotToDrain: number;
  drain: number;
  pull: number;
  up: number;
  health: number;
  register: number;
  /** The last `release` → the deploy's finishedAt (decrement, final reports). */
  lastReleaseToFinished: number;
}

export function phaseBreakdown(deploy: Deploy, spawnedAt: number): PhaseBreakdown {
  const hosts = Object.values(deploy.hosts);
  const gap = (from: HostStep, to: HostStep, filter: (h: HostReport) => boolean = () => true) =>
    median(hosts.filter(filter).map((h) => requireStep(h, to) - requireStep(h, from)));
  const lastRelease = Math.max(...hosts.map((h) => requireStep(h, 'release')));
  return {
    cliToCreated: deploy.createdAt - spawnedAt,
    createdToReceived: median(hosts.map((h) => requireStep(h, 'received') - deploy.createdAt)),
    receivedToSlotFirstWave: gap('received', 'slot', (h) => stepAt(h, 'waiting') === undefined),
    slotToDrain: gap('slot', 'drain'),
    drain: gap('drain', 'pull'),
    pull: gap('pull', 'up'),
    up: gap('up', 'health'),
    health: gap('health', 'register'),
    register: gap('register', 'release'),
    lastReleaseToFinished: (deploy.finishedAt ?? Number.NaN) - lastRelease,
  };
}

/**
 * The overhead split along the chain of hosts that ended last: the last host to release,
 * the host whose release it waited for, and so on back to a host of the first wave. The
 * parts add up to wall − ideal exactly.
 */
export interface CriticalPath {
  hosts: string[];
  /** Spawning `grapevine deploy` → createdAt: not in the ideal at all. */
  cliMs: number;
  /** createdAt → the chain's first slot, less the gossip delay the ideal allows for. */
  firstSlotBeyondGossipMs: number;
  /** slot → pull of every host of the chain: lookups, broken checks, drain. */
  slotToPullMs: number;
  /** The chain's pull → release, less waves × median T: the chain's hosts were slower (or faster) than the median. */
  workBeyondMedianMs: number;
  /** A release → the next slot, along the chain. */
  handOversMs: number;
  /** The last release → finishedAt. */
  tailMs: number;
}

export function criticalPath(deploy: Deploy, spawnedAt: number, waves: number): CriticalPath {
  const hosts = Object.values(deploy.hosts);
  const release = (h: HostReport) => requireStep(h, 'release');
  const last = hosts.reduce((a, b) => (release(b) > release(a) ? b : a));
  const chain = [last];
  // Bounded by the number of hosts: each step goes to a host that released strictly earlier.
  for (let i = 0; i < hosts.length; i++) {
    const head = chain[chain.length - 1]!;
    if (stepAt(head, 'waiting') === undefined) break;
    const slot = requireStep(head, 'slot');
    const before = hosts.filter((h) => h !== head && !chain.includes(h) && release(h) <= slot);
    if (before.length === 0) break;
    chain.push(before.reduce((a, b) => (release(b) > release(a) ? b : a)));
  }
  chain.reverse();
  const work = perHostWorkMs(deploy);
  const medianWork = median(work);
  const first = chain[0]!;
  let handOvers = 0;
  for (let i = 1; i < chain.length; i++) handOvers += requireStep(chain[i]!, 'slot') - release(chain[i - 1]!);
  const chainWork = chain.reduce((sum, h) => sum + release(h) - requireStep(h, 'pull'), 0);
  return {
    hosts: chain.map((h) => h.host),
    cliMs: deploy.createdAt - spawnedAt,
    firstSlotBeyondGossipMs: requireStep(first, 'slot') - deploy.createdAt - gossipDelayMs(deploy),
    slotToPullMs: chain.reduce((sum, h) => sum + requireStep(h, 'pull') - requireStep(h, 'slot'), 0),
    // A chain shorter than the waves (a wave that started late) leaves the missing waves in this term.
    workBeyondMedianMs: chainWork - waves * medianWork,
    handOversMs: handOvers,
    tailMs: (deploy.finishedAt ?? Number.NaN) - release(last),
  };
}

/** `INFO commandstats` as command name → calls. */
export type CommandCounts = Map<string, number>;

export function parseCommandStats(info: string): CommandCounts {
  const counts: CommandCounts = new Map();
  for (const line of info.split(/\r?\n/)) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (match) counts.set(match[1]!, Number(match[2]));
  }
  return counts;
}

/** after − before, per command, less the commands the benchmark sent itself; never below zero. */
export function commandDelta(before: CommandCounts, after: CommandCounts, own: CommandCounts = new Map()): CommandCounts {
  const delta: CommandCounts = new Map();
  for (const [name, calls] of after) {
    const value = calls - (before.get(name) ?? 0) - (own.get(name) ?? 0);
    if (value > 0) delta.set(name, value);
  }
  return delta;
}

export function totalCommands(counts: CommandCounts): number {
  let total = 0;
  for (const calls of counts.values()) total += calls;
  return total;
}

/** VmRSS in bytes from the text of /proc/<pid>/status; undefined when the line is missing. */
export function parseVmRss(status: string): number | undefined {
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return match ? Number(match[1]) * 1024 : undefined;
}

/** One command as MONITOR showed it. */
export interface MonitorLine {
  /** Redis's clock, ms since the epoch. */
  at: number;
  name: string;
  /** IP address of the client that sent it, or that called the script it ran in. */
  client: string;
  /** Run inside a Lua script. */
  lua: boolean;
  /** The client is one of the hosts' agents. */
  agent: boolean;
}

export interface WaitingHostRate {
  client: string;
  /** Whole poll cycles seen: from the host's first slot attempt to its last. */
  cycles: number;
  periodMs: number;
  /** Commands per second over those cycles: what the agent sent, and with its scripts' commands. */
  sentPerSec: number;
  allPerSec: number;
}

/**
 * A waiting host's steady rate, free of where the window happens to cut its poll cycle:
 * the commands of whole cycles, from its first slot attempt (`cycleCommand`, the acquire
 * script) to its last, over the time between them. Hosts with fewer than two attempts
 * in the window are left out.
 */
export function waitingHostRates(lines: readonly MonitorLine[], cycleCommand = 'evalsha'): WaitingHostRate[] {
  const byClient = new Map<string, MonitorLine[]>();
  for (const line of lines) {
    if (!line.agent) continue;
    const list = byClient.get(line.client) ?? [];
    list.push(line);
    byClient.set(line.client, list);
  }
  const rates: WaitingHostRate[] = [];
  for (const [client, own] of byClient) {
    const attempts = own.filter((l) => !l.lua && l.name === cycleCommand).map((l) => l.at);
    if (attempts.length < 2) continue;
    const first = attempts[0]!;
    const last = attempts[attempts.length - 1]!;
    if (last <= first) continue;
    const inCycles = own.filter((l) => l.at >= first && l.at < last);
    const seconds = (last - first) / 1000;
    rates.push({
      client,
      cycles: attempts.length - 1,
      periodMs: (last - first) / (attempts.length - 1),
      sentPerSec: inCycles.filter((l) => !l.lua).length / seconds,
      allPerSec: inCycles.length / seconds,
    });
  }
  return rates;
}
