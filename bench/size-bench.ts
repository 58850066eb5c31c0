// The measured rollouts of one cluster size: a timed Grapevine deploy, the same rollout by
// Ansible, and a deploy whose hosts all wait on held slots while their Redis traffic is
// counted; each run's figures are appended as soon as the run is done. After the rollouts,
// blue/green cycles: a blue/green deploy switches the group to the idle colour, and
// `grapevine switch` moves it back, each switch timed by the coordinator and on HAProxy.
import { randomUUID } from 'node:crypto';
import { execa } from 'execa';
import type { DevCluster } from '../dev-cluster/dev-cluster.js';
import { CLI, SAMPLE_ROLE } from '../dev-cluster/sample-app.js';
import { TimeoutError } from '../shared/contract/errors.js';
import { redisKeys } from '../shared/contract/redis-keys.js';
import type { Deploy } from '../shared/contract/schemas.js';
import { pause, pollUntil } from '../shared/contract/waiting.js';
import { prepareAnsible } from './ansible-rollout.js';
import type { ColourSwitchRun } from './colour-switch.js';
import { colourSwitch } from './colour-cycle.js';
import type { SizeOptions } from './cluster-bench.js';
import { median, perHostWorkMs, slotsFor, totalCommands, waitingHostRates } from './measure.js';
import { cpuShares, cpuTicks } from './cpu-steal.js';
import { MemorySampler, rssBytes } from './memory-sampler.js';
import { RedisProbe } from './redis-probe.js';
import { ENV, RolloutFailedError, checkDeploy, checkLoadBalancer } from './rollout-checks.js';
import { runFigures, type RunFigures, type TimedDeploy, type WaitingMeasurement } from './run-figures.js';

const POLL_MS = 50;
const WAIT_WINDOW_MS = 5_000;
const MAX_WAIT_WINDOW_MS = 40_000;
/** After every host queued, the reports of their `waiting` step land before the window opens. */
const WAIT_SETTLE_MS = 1_000;
const HELD_SLOT_TTL_MS = 120_000;
const QUEUE_TIMEOUT_MS = 60_000;
const CLI_TIMEOUT_MS = 30_000;

export class SizeBench implements AsyncDisposable {
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

  /** Appends each run's figures to `results`, then each blue/green cycle's to `switches`, as soon as it is done. */
  async measure(name: string, results: RunFigures[], switches: ColourSwitchRun[]): Promise<void> {
    const { hosts: size, runs, log, signal } = this.options;
    await this.probe.connect();
    for (const release of await this.cluster.client().listReleases(SAMPLE_ROLE)) this.images.set(release.tag, release.image);
    for (const host of this.cluster.state.hosts) {
      if (rssBytes(host.agent.pid) === undefined) throw new RolloutFailedError(`agent of ${host.name} (pid ${host.agent.pid}) is not running`);
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
      const ansibleWallMs = await this.ansibleRollout(ansibleTag);
      log(`${name} run ${run}: ansible ${ansibleTag} in ${ansibleWallMs} ms`);
      const waiting = await this.waitingDeploy(grapevineTag);
      log(`${name} run ${run}: ${size} waiting hosts sent ${waiting.total} commands in ${waiting.windowMs} ms`);
      results.push(runFigures({ run, hosts: size, grapevineTag, ansibleTag, timed, ansibleWallMs, waiting }));
    }

    for (let run = 1; run <= runs; run++) {
      signal.throwIfAborted();
      const cycle = await colourSwitch({
        cluster: this.cluster,
        options: this.options,
        deadlineMs: () => this.deadlineMs(),
        untilEnded: (id) => this.untilEnded(id),
        poll: (what, timeoutMs, done) => this.poll(what, timeoutMs, done),
      }, run);
      log(
        `${name} blue/green ${run}: ${cycle.tag} staged on ${cycle.to} in ${cycle.stagedMs} ms; switched ${cycle.servers} servers in ${cycle.switchMs} ms ` +
          `(HAProxy: every host on ${cycle.to} ${cycle.switchLbMs} ms after it began), back in ${cycle.backMs} ms (HAProxy: ${cycle.backLbMs} ms)`,
      );
      switches.push(cycle);
    }
  }

  private async timedDeploy(tag: string): Promise<TimedDeploy> {
    const pids = this.cluster.state.hosts.map((host) => host.agent.pid);
    const rssIdle = new Map<number, number>();
    for (const pid of pids) rssIdle.set(pid, rssBytes(pid) ?? Number.NaN);

    const sampler = new MemorySampler(pids, 100);
    let memory: ReturnType<MemorySampler['stop']> | undefined;
    const ticksBefore = cpuTicks();
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
    const machine = cpuShares(ticksBefore, cpuTicks());
    const started = window.result;
    const deploy = await checkDeploy(this.cluster, started.id, tag, this.options.hosts);
    await checkLoadBalancer(this.cluster, tag, this.options.signal);
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
      machine,
    };
  }

  /**
   * The agents are paused (SIGSTOP) while the playbook runs and its result is checked: a host
   * that Ansible moved off the group's release is one its agent catches up (reconcile, every
   * 30 s), and a catch-up draining a host mid-check would race the playbook.
   */
  private async ansibleRollout(tag: string): Promise<number> {
    const image = this.image(tag);
    const agents = this.cluster.state.hosts.map((host) => host.agent.pid);
    for (const pid of agents) process.kill(pid, 'SIGSTOP');
    try {
      const result = await this.runAnsible(image, this.options.signal, this.deadlineMs() + 60_000);
      this.options.signal.throwIfAborted();
      if (result.exitCode !== 0) {
        throw new RolloutFailedError(`ansible-playbook exited ${result.exitCode} deploying ${image}:\n${result.output.split('\n').slice(-25).join('\n')}`);
      }
      await checkLoadBalancer(this.cluster, tag, this.options.signal);
      return result.wallMs;
    } finally {
      for (const pid of agents) process.kill(pid, 'SIGCONT');
    }
  }

  /**
   * Holds every place of the group as k deploying hosts hold them (k stand-in holders in its
   * out-of-service set, which decides whether a place is free, and their slot keys), fires a
   * deploy, and counts the commands of the N hosts while they all wait; then frees the places
   * so the deploy finishes on its own (the waiters find them on their next poll).
   */
  private async waitingDeploy(tag: string): Promise<WaitingMeasurement> {
    const { hosts: size, signal } = this.options;
    const token = `gvbench/${randomUUID()}`;
    const keys = Array.from({ length: this.slots }, (_, i) => redisKeys.slot(SAMPLE_ROLE, ENV, i + 1));
    const outKey = redisKeys.outOfService(SAMPLE_ROLE, ENV);
    const holders = keys.map((_, i) => `gvbench-holder-${i + 1}`);
    const held: string[] = [];
    let placesHeld = false;
    try {
      for (const key of keys) {
        if (!(await this.probe.setNx(key, token, HELD_SLOT_TTL_MS))) throw new RolloutFailedError(`slot key ${key} is already held: is another deploy running?`);
        held.push(key);
      }
      await this.probe.addToSet(outKey, holders);
      placesHeld = true;
      const started = await this.startDeploy(tag);
      const waiters = redisKeys.waiters(SAMPLE_ROLE, ENV);
      await this.poll(`all ${size} hosts to queue for a slot`, QUEUE_TIMEOUT_MS, async () => (await this.probe.zcard(waiters)) >= size);
      await pause(WAIT_SETTLE_MS, signal);

      const window = await this.probe.window(this.agentIps(), async (lines) => {
        await pause(WAIT_WINDOW_MS, signal);
        // Long enough for two whole poll cycles of every host, however long the agents' poll is;
        // past the longest window, the figures are taken over what was seen.
        const everyHostPolledThrice = () => {
          const attempts = new Map<string, number>();
          for (const line of lines) if (line.agent && !line.lua && line.name === 'evalsha') attempts.set(line.client, (attempts.get(line.client) ?? 0) + 1);
          return attempts.size === size && [...attempts.values()].every((n) => n >= 3) ? true : undefined;
        };
        await pollUntil('every waiting host to try for a slot three times', everyHostPolledThrice, { timeoutMs: MAX_WAIT_WINDOW_MS - WAIT_WINDOW_MS, signal }).catch(
          (error: unknown) => {
            if (!(error instanceof TimeoutError)) throw error;
          },
        );
      });
      const { commands, origins } = window;
      const windowMs = Math.round(window.durationMs);

      for (const key of held.splice(0)) await this.probe.deleteIfHeld(key, token);
      await this.probe.removeFromSet(outKey, holders);
      placesHeld = false;
      await this.finishDeploy(started.id, tag);
      const rates = waitingHostRates(window.lines);
      return { deployId: started.id, windowMs, commands, origins, rates, total: totalCommands(commands) };
    } finally {
      for (const key of held) await this.probe.deleteIfHeld(key, token).catch(() => undefined);
      if (placesHeld) await this.probe.removeFromSet(outKey, holders).catch(() => undefined);
    }
  }

  /** `grapevine deploy` as CI runs it, without --wait or --json (the lean path); spawnedAt is taken just before the process starts. */
  private async startDeploy(tag: string): Promise<{ id: string; spawnedAt: number }> {
    const spawnedAt = Date.now();
    const result = await execa(process.execPath, [CLI, 'deploy', SAMPLE_ROLE, '--env', ENV, '--tag', tag], {
      env: this.cluster.cliEnv(),
      stdin: 'ignore',
      reject: false,
      timeout: CLI_TIMEOUT_MS,
      cancelSignal: this.options.signal,
    });
    this.options.signal.throwIfAborted();
    if (result.exitCode !== 0) throw new RolloutFailedError(`grapevine deploy exited ${result.exitCode}: ${result.stderr.trim()}`);
    // The line it prints: `deploy ID of ROLE:TAG to ENV started`.
    const id = /^deploy (d-[a-z0-9]+) of /m.exec(result.stdout)?.[1];
    if (id === undefined) throw new RolloutFailedError(`grapevine deploy printed no deploy id: ${result.stdout.slice(0, 200)}`);
    return { id, spawnedAt };
  }

  private async finishDeploy(id: string, tag: string): Promise<Deploy> {
    await this.untilEnded(id);
    const deploy = await checkDeploy(this.cluster, id, tag, this.options.hosts);
    await checkLoadBalancer(this.cluster, tag, this.options.signal);
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

  /** Agents reach Redis from their hosts' addresses; anything else (but the probe) is the coordinator. */
  private agentIps(): Set<string> {
    return new Set(this.cluster.state.hosts.map((host) => host.address));
  }

  private image(tag: string): string {
    const image = this.images.get(tag);
    if (!image) throw new RolloutFailedError(`release ${SAMPLE_ROLE}:${tag} is not published`);
    return image;
  }

  /** A generous bound for one rollout: far above waves × T, still finite. */
  private deadlineMs(): number {
    return 120_000 + 5_000 * this.options.hosts;
  }

  /** Polls `done` every 50 ms; a failed check ends the wait, and so does the deadline, as a failed rollout. */
  private async poll(what: string, timeoutMs: number, done: () => Promise<boolean>): Promise<void> {
    const check = async () => ((await done()) ? true : undefined);
    try {
      await pollUntil(what, check, { timeoutMs, intervalMs: POLL_MS, signal: this.options.signal, tolerate: () => false });
    } catch (error) {
      if (error instanceof TimeoutError) throw new RolloutFailedError(error.message);
      throw error;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.probe[Symbol.asyncDispose]();
  }
}
