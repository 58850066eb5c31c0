// One cluster size of the benchmark: bring up a local cluster of N hosts, run the
// measured rollouts (Grapevine, Ansible, Grapevine with every slot held) `runs` times,
// and always take the cluster down again.
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { APP_PORT, CLI, DevCluster, SAMPLE_ROLE, defaultHosts, freeClusterPorts } from '../dev-cluster/dev-cluster.js';
import { redisKeys } from '../shared/contract/redis-keys.js';
import type { Deploy } from '../shared/contract/schemas.js';
import { prepareAnsible } from './ansible-rollout.js';
import {
  criticalPath,
  gossipDelayMs,
  median,
  perHostWorkMs,
  phaseBreakdown,
  slotHandOversMs,
  slotsFor,
  spread,
  totalCommands,
  waitingHostRates,
  wavesFor,
  type CommandCounts,
  type CriticalPath,
  type PhaseBreakdown,
  type WaitingHostRate,
} from './measure.js';
import { MemorySampler, rssBytes } from './memory-sampler.js';
import { RedisProbe, type CommandOrigins } from './redis-probe.js';

const ENV = 'production';
const POLL_MS = 50;
const WAIT_WINDOW_MS = 5_000;
const MAX_WAIT_WINDOW_MS = 40_000;
/** After every host queued, the reports of their `waiting` step land before the window opens. */
const WAIT_SETTLE_MS = 1_000;
const HELD_SLOT_TTL_MS = 120_000;

/** A deploy or rollout that did not succeed: the benchmark exits non-zero. */
export class RolloutFailedError extends Error {}

export interface SizeOptions {
  hosts: number;
  runs: number;
  /** First three octets of the cluster's private /24. */
  subnet: string;
  startDelay: number;
  /** Seconds between two runs of the app's Docker health check. */
  healthCheckInterval: number;
  /** Seconds one run of the app's Docker health check may take before it counts as failed. */
  healthCheckTimeout: number;
  ansibleHealthDelay: number;
  ansibleStrategy: 'free' | 'linear';
  log: (line: string) => void;
  signal: AbortSignal;
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
  waves: number;
  idealMs: number;
  overheadMs: number;
  overheadPct: number;
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

export interface SizeResult {
  hosts: number;
  slots: number;
  waves: number;
  name: string;
  subnet: string;
  runs: RunFigures[];
}

/**
 * Measures one size. Resolves with the runs done so far and, when a run failed or was
 * interrupted, the error that ended it; rejects only when the cluster could not come up.
 */
export async function benchSize(options: SizeOptions): Promise<{ result: SizeResult; error?: unknown }> {
  const { hosts: size, runs, subnet, log, signal } = options;
  const name = `gvbench-${size}`;
  const ports = await freeClusterPorts();
  signal.throwIfAborted();
  log(`${name}: bringing up ${size} hosts on ${subnet}.0/24`);
  const cluster = await DevCluster.up(
    {
      name,
      dir: mkdtempSync(join(tmpdir(), `${name}-`)),
      subnet,
      hosts: defaultHosts(size, 0),
      ports,
      startDelay: options.startDelay,
      // Every host runs on the same two cores here: Docker's check every second (a process
      // started in a container each) kept 30 hosts' machine 90 % busy before a deploy began,
      // and a check slowed past its timeout failed a healthy release. The agents' own probe
      // decides when a host is healthy; Docker's check stays, less often.
      healthCheck: { interval: `${options.healthCheckInterval}s`, timeout: `${options.healthCheckTimeout}s` },
      promote: false,
      logLevel: 'info',
    },
    (line) => log(`${name}: ${line}`),
  );
  const ansibleDir = mkdtempSync(join(tmpdir(), `${name}-ansible-`));
  const result: SizeResult = { hosts: size, slots: slotsFor(size), waves: wavesFor(size), name, subnet, runs: [] };
  try {
    await using bench = new SizeBench(cluster, options, ansibleDir);
    await bench.measure(name, result.runs);
    return { result };
  } catch (error) {
    if (error instanceof RolloutFailedError) log(`${name}: logs of the failed rollout kept in ${keepLogs(cluster)}`);
    return { result, error };
  } finally {
    log(`${name}: taking the cluster down`);
    await cluster.down();
    rmSync(ansibleDir, { recursive: true, force: true });
  }
}

class SizeBench implements AsyncDisposable {
  private readonly probe: RedisProbe;
  private readonly slots: number;
  private readonly images = new Map<string, string>();
  private readonly runAnsible: ReturnType<typeof prepareAnsible>;

  constructor(
    private readonly cluster: DevCluster,
    private readonly options: SizeOptions,
    ansibleDir: string,
  ) {
    this.probe = new RedisProbe(cluster.state.redisUrl);
    this.slots = slotsFor(options.hosts);
    this.runAnsible = prepareAnsible({ state: cluster.state, batch: this.slots, healthDelay: options.ansibleHealthDelay, strategy: options.ansibleStrategy, dir: ansibleDir });
  }

  /** Appends each run's figures to `results` as soon as the run is done. */
  async measure(name: string, results: RunFigures[]): Promise<void> {
    const { hosts: size, runs, log, signal } = this.options;
    await this.probe.connect();
    for (const release of await this.cluster.client().listReleases(SAMPLE_ROLE)) this.images.set(release.tag, release.image);
    for (const host of this.cluster.state.hosts) {
      if (rssBytes(host.agent.pid) === undefined) throw new Error(`agent of ${host.name} (pid ${host.agent.pid}) is not running`);
    }

    // Every host starts with no container: a first, unmeasured deploy puts v1 everywhere.
    log(`${name}: warm-up deploy of v1`);
    const warmUp = await this.startDeploy('v1');
    await this.finishDeploy(warmUp.id, 'v1');

    for (let run = 1; run <= runs; run++) {
      signal.throwIfAborted();
      // Each step changes what the hosts run: Grapevine and Ansible alternate v1 and v2.
      const grapevineTag = run % 2 === 1 ? 'v2' : 'v1';
      const ansibleTag = grapevineTag === 'v2' ? 'v1' : 'v2';
      const timed = await this.timedDeploy(grapevineTag);
      log(`${name} run ${run}: grapevine ${grapevineTag} in ${timed.wallMs} ms (T ${Math.round(median(perHostWorkMs(timed.deploy)))} ms)`);
      const ansible = await this.ansibleRollout(ansibleTag);
      log(`${name} run ${run}: ansible ${ansibleTag} in ${ansible} ms`);
      const waiting = await this.waitingDeploy(grapevineTag);
      log(`${name} run ${run}: ${size} waiting hosts sent ${waiting.total} commands in ${waiting.windowMs} ms`);
      results.push(this.figures(run, grapevineTag, ansibleTag, timed, ansible, waiting));
    }
  }

  private figures(
    run: number,
    grapevineTag: string,
    ansibleTag: string,
    timed: TimedDeploy,
    ansibleWallMs: number,
    waiting: WaitingMeasurement,
  ): RunFigures {
    const size = this.options.hosts;
    const { deploy } = timed;
    const works = perHostWorkMs(deploy);
    const work = median(works);
    const gossip = gossipDelayMs(deploy);
    const waves = wavesFor(size);
    const idealMs = waves * work + gossip;
    const overheadMs = timed.wallMs - idealMs;
    const handOvers = slotHandOversMs(deploy);
    const handOverStats = spread(handOvers);
    const rssIdle = Object.fromEntries([...timed.rssIdle].map(([pid, bytes]) => [String(pid), bytes]));
    const rssPeak = Object.fromEntries([...timed.rssPeak].map(([pid, bytes]) => [String(pid), bytes]));
    return {
      run,
      grapevineTag,
      ansibleTag,
      deployId: deploy.id,
      wallMs: timed.wallMs,
      perHostWorkMs: work,
      perHostWorkMaxMs: Math.max(...works),
      gossipMs: gossip,
      waves,
      idealMs,
      overheadMs,
      overheadPct: (overheadMs / idealMs) * 100,
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
      redisPerWaitingHostPerSec: waiting.total / size / (waiting.windowMs / 1000),
      waitingSentPerHostPerSec: median(waiting.rates.map((r) => r.sentPerSec)),
      waitingAllPerHostPerSec: median(waiting.rates.map((r) => r.allPerSec)),
      waitingPollPeriodMs: median(waiting.rates.map((r) => r.periodMs)),
      waitingRates: waiting.rates,
      redisAgentSentPerWaitingHostPerSec: totalCommands(waiting.origins.agents) / size / (waiting.windowMs / 1000),
      redisCoordinatorPerSecWhileWaiting: totalCommands(waiting.origins.coordinator) / (waiting.windowMs / 1000),
      rssIdle,
      rssPeak,
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

  /** A deploy measured from just before `grapevine deploy` starts to the finishedAt the coordinator records. */
  private async timedDeploy(tag: string): Promise<TimedDeploy> {
    const pids = this.cluster.state.hosts.map((host) => host.agent.pid);
    const rssIdle = new Map<number, number>();
    for (const pid of pids) rssIdle.set(pid, rssBytes(pid) ?? Number.NaN);

    const sampler = new MemorySampler(pids, 100);
    let memory: ReturnType<MemorySampler['stop']> | undefined;
    const window = await this.probe.window(this.agentIps(), async () => {
      sampler.start();
      try {
        const started = await this.startDeploy(tag);
        await this.untilEnded(started.id);
        return started;
      } finally {
        memory = sampler.stop();
      }
    });
    const started = window.result;
    const deploy = await this.checkDeploy(started.id, tag);
    await this.checkLoadBalancer(tag);
    if (deploy.finishedAt === undefined) throw new RolloutFailedError(`deploy ${deploy.id} ended with no finishedAt`);
    return {
      deploy,
      spawnedAt: started.spawnedAt,
      wallMs: deploy.finishedAt - started.spawnedAt,
      commands: window.commands,
      origins: window.origins,
      rssIdle,
      rssPeak: memory?.peaks ?? new Map(),
      memorySamples: memory?.samples ?? 0,
    };
  }

  private async ansibleRollout(tag: string): Promise<number> {
    const image = this.image(tag);
    const result = await this.runAnsible(image, this.options.signal, this.deadlineMs() + 60_000);
    this.options.signal.throwIfAborted();
    if (result.exitCode !== 0) {
      throw new RolloutFailedError(`ansible-playbook exited ${result.exitCode} deploying ${image}:\n${result.output.split('\n').slice(-25).join('\n')}`);
    }
    await this.checkLoadBalancer(tag);
    return result.wallMs;
  }

  /**
   * Holds every slot of the group, fires a deploy, and counts the commands of the N hosts
   * while they all wait; then frees the slots so the deploy finishes on its own.
   */
  private async waitingDeploy(tag: string): Promise<WaitingMeasurement> {
    const { hosts: size, signal } = this.options;
    const token = `gvbench/${randomUUID()}`;
    const keys = Array.from({ length: this.slots }, (_, i) => redisKeys.slot(SAMPLE_ROLE, ENV, i + 1));
    const held: string[] = [];
    try {
      for (const key of keys) {
        if (!(await this.probe.setNx(key, token, HELD_SLOT_TTL_MS))) throw new Error(`slot key ${key} is already held: is another deploy running?`);
        held.push(key);
      }
      const started = await this.startDeploy(tag);
      const waiters = redisKeys.waiters(SAMPLE_ROLE, ENV);
      await this.poll(`all ${size} hosts to queue for a slot`, 60_000, async () => (await this.probe.zcard(waiters)) >= size);
      await sleep(WAIT_SETTLE_MS, undefined, { signal });

      const window = await this.probe.window(this.agentIps(), async (lines) => {
        await sleep(WAIT_WINDOW_MS, undefined, { signal });
        // Long enough for two whole poll cycles of every host, however long the agents' poll is.
        const attempts = () => {
          const counts = new Map<string, number>();
          for (const line of lines) if (line.agent && !line.lua && line.name === 'evalsha') counts.set(line.client, (counts.get(line.client) ?? 0) + 1);
          return counts;
        };
        const deadline = Date.now() + MAX_WAIT_WINDOW_MS - WAIT_WINDOW_MS;
        while (Date.now() < deadline) {
          const counts = attempts();
          if (counts.size === size && [...counts.values()].every((n) => n >= 3)) break;
          await sleep(100, undefined, { signal });
        }
      });
      const { commands, origins } = window;
      const windowMs = Math.round(window.durationMs);

      for (const key of held.splice(0)) await this.probe.deleteIfHeld(key, token);
      await this.finishDeploy(started.id, tag);
      const rates = waitingHostRates(window.lines);
      return { deployId: started.id, windowMs, commands, origins, rates, total: totalCommands(commands) };
    } finally {
      for (const key of held) await this.probe.deleteIfHeld(key, token).catch(() => undefined);
    }
  }

  /** `grapevine deploy` as CI runs it, without --wait; spawnedAt is taken just before the process starts. */
  private async startDeploy(tag: string): Promise<{ id: string; spawnedAt: number }> {
    const spawnedAt = Date.now();
    const result = await execa(process.execPath, [CLI, 'deploy', SAMPLE_ROLE, '--env', ENV, '--tag', tag, '--json'], {
      env: this.cluster.cliEnv(),
      stdin: 'ignore',
      reject: false,
      timeout: 30_000,
      cancelSignal: this.options.signal,
    });
    this.options.signal.throwIfAborted();
    if (result.exitCode !== 0) throw new RolloutFailedError(`grapevine deploy exited ${result.exitCode}: ${result.stderr.trim()}`);
    const id = (JSON.parse(result.stdout) as { id?: unknown }).id;
    if (typeof id !== 'string') throw new RolloutFailedError(`grapevine deploy printed no deploy id: ${result.stdout.slice(0, 200)}`);
    return { id, spawnedAt };
  }

  private async finishDeploy(id: string, tag: string): Promise<Deploy> {
    await this.untilEnded(id);
    const deploy = await this.checkDeploy(id, tag);
    await this.checkLoadBalancer(tag);
    return deploy;
  }

  /** Watches the coordinator's in-progress set in Redis, not its HTTP API, so the coordinator does no extra work. */
  private async untilEnded(id: string): Promise<void> {
    const key = redisKeys.deploysInProgress();
    try {
      await this.poll(`deploy ${id} to end`, this.deadlineMs(), async () => (await this.probe.zscore(key, id)) === null);
    } catch (error) {
      if (!(error instanceof RolloutFailedError)) throw error;
      const deploy = await this.cluster.client().getDeploy(id).catch(() => undefined);
      const hosts = deploy
        ? Object.values(deploy.hosts)
            .map((host) => `${host.host} ${host.state} (${host.steps.map((s) => s.step).join(' ')})`)
            .join('; ')
        : 'the coordinator did not answer';
      throw new RolloutFailedError(`${error.message}; ${deploy ? Object.keys(deploy.hosts).length : 0} hosts reported: ${hosts}`);
    }
  }

  private async checkDeploy(id: string, tag: string): Promise<Deploy> {
    const deploy = await this.cluster.client().getDeploy(id);
    if (deploy.status !== 'succeeded') {
      const hosts = Object.values(deploy.hosts)
        .filter((host) => host.state !== 'succeeded')
        .map((host) => `${host.host} ${host.state}${host.error ? `: ${host.error}` : ''}`);
      throw new RolloutFailedError(`deploy ${id} of ${tag} ended ${deploy.status}: ${deploy.reason ?? ''} ${hosts.join('; ')}`.trim());
    }
    const reported = Object.keys(deploy.hosts).length;
    if (reported !== this.options.hosts) throw new RolloutFailedError(`deploy ${id} has reports from ${reported} of ${this.options.hosts} hosts`);
    return deploy;
  }

  /**
   * What an operator would check after a rollout: every host answers the new tag itself,
   * HAProxy has every host ready at its address, and the load balancer serves only the tag.
   */
  private async checkLoadBalancer(tag: string): Promise<void> {
    const timeout = () => AbortSignal.any([AbortSignal.timeout(5_000), this.options.signal]);
    const production = this.cluster.state.hosts.filter((host) => host.env === ENV);
    for (const host of production) {
      const response = await fetch(`http://${host.address}:${APP_PORT}/`, { signal: timeout() });
      const body = (await response.text()).trim();
      if (response.status !== 200 || body !== `${tag} ${host.name}`) {
        throw new RolloutFailedError(`host ${host.name} answered "${response.status} ${body}" after the rollout of ${tag}`);
      }
    }
    const servers = await haproxyServers(this.cluster.state.runtimeSocket, SAMPLE_ROLE);
    for (const host of production) {
      const server = servers.find((s) => s.srv_name === host.name);
      if (!server || server.srv_addr !== host.address || server.srv_op_state !== '2' || server.srv_admin_state !== '0') {
        const seen = server ? `addr ${server.srv_addr}, op state ${server.srv_op_state}, admin state ${server.srv_admin_state}` : 'absent';
        throw new RolloutFailedError(`HAProxy does not have ${host.name} ready after the rollout of ${tag}: ${seen}`);
      }
    }
    for (let i = 0; i < 2 * production.length; i++) {
      const response = await fetch(this.cluster.state.lbUrl, { signal: timeout() });
      const body = (await response.text()).trim();
      if (response.status !== 200 || !body.startsWith(`${tag} `)) {
        throw new RolloutFailedError(`the load balancer answered "${response.status} ${body}" after the rollout of ${tag}`);
      }
    }
  }

  /** Agents reach Redis from their hosts' addresses; anything else (but the probe) is the coordinator. */
  private agentIps(): Set<string> {
    return new Set(this.cluster.state.hosts.map((host) => host.address));
  }

  private image(tag: string): string {
    const image = this.images.get(tag);
    if (!image) throw new Error(`release ${SAMPLE_ROLE}:${tag} is not published`);
    return image;
  }

  /** A generous bound for one rollout: far above waves × T, still finite. */
  private deadlineMs(): number {
    return 120_000 + 5_000 * this.options.hosts;
  }

  private async poll(what: string, timeoutMs: number, done: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const maxPolls = Math.ceil(timeoutMs / POLL_MS) + 1;
    for (let i = 0; i < maxPolls; i++) {
      if (await done()) return;
      if (Date.now() > deadline) break;
      await sleep(POLL_MS, undefined, { signal: this.options.signal });
    }
    throw new RolloutFailedError(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.probe[Symbol.asyncDispose]();
  }
}

interface TimedDeploy {
  deploy: Deploy;
  spawnedAt: number;
  wallMs: number;
  commands: CommandCounts;
  origins: CommandOrigins;
  rssIdle: Map<number, number>;
  rssPeak: Map<number, number>;
  memorySamples: number;
}

interface WaitingMeasurement {
  deployId: string;
  windowMs: number;
  commands: CommandCounts;
  origins: CommandOrigins;
  rates: WaitingHostRate[];
  total: number;
}

function originsRecord(origins: CommandOrigins): Record<keyof CommandOrigins, Record<string, number>> {
  return {
    agents: Object.fromEntries(origins.agents),
    coordinator: Object.fromEntries(origins.coordinator),
    lua: Object.fromEntries(origins.lua),
  };
}

/** Copies the coordinator's and every agent's log out of the cluster's dir before it is removed. */
function keepLogs(cluster: DevCluster): string {
  const dir = mkdtempSync(join(tmpdir(), `${cluster.state.name}-failure-`));
  const copy = (from: string, to: string) => {
    try {
      copyFileSync(from, join(dir, to));
    } catch {
      // A process that never started has no log.
    }
  };
  copy(join(cluster.state.dir, 'coordinator.log'), 'coordinator.log');
  for (const host of cluster.state.hosts) copy(join(host.dir, 'agent.log'), `agent-${host.name}.log`);
  return dir;
}

/** `show servers state BACKEND` through the runtime API, one row per server keyed by column name. */
function haproxyServers(socketPath: string, backend: string): Promise<Array<Record<string, string>>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.createConnection({ path: socketPath });
    socket.setTimeout(5_000, () => socket.destroy(new Error('HAProxy runtime API did not answer within 5 s')));
    socket.on('connect', () => socket.write(`show servers state ${backend}\n`));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', (hadError) => {
      if (hadError) return;
      const lines = Buffer.concat(chunks).toString('utf8').split('\n');
      const header = lines.find((line) => line.startsWith('# '));
      if (!header) return reject(new Error(`unexpected answer to show servers state: ${lines.slice(0, 2).join(' ')}`));
      const columns = header.slice(2).split(' ');
      const rows = lines.filter((line) => line.trim() !== '' && !line.startsWith('#') && line.includes(' '));
      resolve(rows.map((line) => Object.fromEntries(line.split(' ').map((cell, i) => [columns[i] ?? `c${i}`, cell]))));
    });
  });
}
