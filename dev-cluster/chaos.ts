// `grapevine dev chaos`: the faults every fleet sees, put into the local cluster on
// purpose, for the fault tests and for operators who rehearse. Each verb acts only on
// processes the cluster recorded, by id after checking the id is still the same program,
// and records whatever it starts again, so `dev down` ends that too.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ValidationError, errorMessage } from '../shared/contract/errors.js';
import { pollUntil } from '../shared/contract/waiting.js';
import { pendingHeal, scheduleHeal } from './chaos-heal.js';
import { readClusterState, updateClusterState, type DevClusterState, type DevHostState } from './cluster-state.js';
import { DevClusterError } from './dev-cluster-error.js';
import { serfAgentOf, startAgent, stopHostProcesses } from './hosts.js';
import { childrenOf, isAlive, isRunning, killProcess, signalProcess, stopProcess, type StartedProcess } from './local-process.js';
import { cutHost } from './partition.js';
import { restartCoordinator, saveHaproxyServers, startRedis, untilCoordinatorAnswers, untilRedisAnswers } from './services.js';

/** What a verb did, as `--json` prints it; `text` is its one line. */
export interface ChaosOutcome {
  verb: string;
  target: string;
  text: string;
  /** Ids of the processes the verb ended or started, by what they are. */
  pids: Record<string, number>;
  /** When a `--for` fault heals by itself, in ms since the epoch. */
  healsAt?: number;
}

const COORDINATOR_STOP_GRACE_MS = 5_000;
const REDIS_STOP_GRACE_MS = 5_000;
const SERF_START_TIMEOUT_MS = 20_000;
const HAPROXY_RELOAD_TIMEOUT_MS = 10_000;

export class Chaos {
  constructor(readonly dir: string) {}

  /** SIGKILL of the host's agent and of its Serf agent, as a crash of the machine would end them. */
  async killAgent(name: string): Promise<ChaosOutcome> {
    const host = this.host(name);
    const serf = serfAgentOf(host);
    const killedAgent = await killProcess(host.agent);
    const killedSerf = serf ? await killProcess(serf) : false;
    if (!killedAgent && !killedSerf) throw new DevClusterError(`the agent of ${name} is not running (restart-agent ${name} starts it)`);
    const pids: Record<string, number> = {};
    if (killedAgent) pids.agent = host.agent.pid;
    if (killedSerf && serf) pids.serf = serf.pid;
    const what = Object.entries(pids).map(([kind, pid]) => `${kind === 'agent' ? 'agent' : 'Serf agent'} (pid ${pid})`);
    return { verb: 'kill-agent', target: name, pids, text: `killed ${what.join(' and ')} of ${name} with SIGKILL` };
  }

  /** Starts the host's agent again (stopping it first if it runs); waits until it has started its Serf agent. */
  async restartAgent(name: string): Promise<ChaosOutcome> {
    const host = this.host(name);
    const wasRunning = isRunning(host.agent);
    await stopHostProcesses(host);
    const staleSerf = serfAgentOf(host)?.pid;
    const agent = startAgent(host);
    updateClusterState(this.dir, (state) => {
      const recorded = state.hosts.find((h) => h.name === name);
      if (recorded) recorded.agent = agent;
    });
    const serf = await this.untilStarted(`${name}'s agent to start its Serf agent`, SERF_START_TIMEOUT_MS, join(host.dir, 'agent.log'), agent, () => {
      const started = serfAgentOf(host);
      return started && started.pid !== staleSerf && isRunning(started) ? started : undefined;
    });
    const how = wasRunning ? 'stopped and started' : 'started';
    return { verb: 'restart-agent', target: name, pids: { agent: agent.pid, serf: serf.pid }, text: `${how} the agent of ${name} (pid ${agent.pid}, Serf agent pid ${serf.pid})` };
  }

  async killRedis(): Promise<ChaosOutcome> {
    const redis = this.service('redis');
    if (!(await killProcess(redis))) throw new DevClusterError('Redis is not running (restart-redis starts it)');
    return { verb: 'kill-redis', target: 'redis', pids: { redis: redis.pid }, text: `killed Redis (pid ${redis.pid}) with SIGKILL` };
  }

  /** Starts Redis again on the same port with the same data dir; stops it first if it runs. */
  async restartRedis(): Promise<ChaosOutcome> {
    const state = this.state();
    const previous = state.processes.redis;
    const wasRunning = previous !== undefined && isRunning(previous);
    if (previous) await stopProcess(previous, REDIS_STOP_GRACE_MS);
    const redis = startRedis(state);
    updateClusterState(this.dir, (latest) => {
      latest.processes.redis = redis;
    });
    await untilRedisAnswers(state);
    const how = wasRunning ? 'stopped and started' : 'started';
    return { verb: 'restart-redis', target: 'redis', pids: { redis: redis.pid }, text: `${how} Redis (pid ${redis.pid}) on port ${state.ports.redis}; it answers` };
  }

  /** SIGTERM to the coordinator (SIGKILL after 5 s); with `seconds`, a helper starts it again when they are up. */
  async stopCoordinator(seconds?: number): Promise<ChaosOutcome> {
    const state = this.state();
    const due = pendingHeal(state, 'start-coordinator');
    if (due) throw new DevClusterError(`the coordinator is already stopped until ${new Date(due.dueAt).toISOString()}`);
    const coordinator = this.service('coordinator');
    if (!isRunning(coordinator)) throw new DevClusterError('the coordinator is not running (restart-coordinator starts it)');
    await stopProcess(coordinator, COORDINATOR_STOP_GRACE_MS);
    const text = `stopped the coordinator (pid ${coordinator.pid})`;
    if (seconds === undefined) return { verb: 'stop-coordinator', target: 'coordinator', pids: { coordinator: coordinator.pid }, text };
    const heal = scheduleHeal(this.dir, 'start-coordinator', seconds);
    return {
      verb: 'stop-coordinator',
      target: 'coordinator',
      pids: { coordinator: coordinator.pid, helper: heal.helper.pid },
      healsAt: heal.dueAt,
      text: `${text}; it starts again in ${seconds} s, at ${new Date(heal.dueAt).toISOString()} (helper pid ${heal.helper.pid})`,
    };
  }

  /** Starts the coordinator again from its config (stopping it first if it runs); waits until it answers. */
  async restartCoordinator(): Promise<ChaosOutcome> {
    const state = this.state();
    const previous = state.processes.coordinator;
    const wasRunning = previous !== undefined && isRunning(previous);
    if (previous) await stopProcess(previous, COORDINATOR_STOP_GRACE_MS);
    const coordinator = restartCoordinator(state);
    updateClusterState(this.dir, (latest) => {
      latest.processes.coordinator = coordinator;
    });
    await untilCoordinatorAnswers(state);
    const how = wasRunning ? 'stopped and started' : 'started';
    return { verb: 'restart-coordinator', target: 'coordinator', pids: { coordinator: coordinator.pid }, text: `${how} the coordinator (pid ${coordinator.pid}); it answers` };
  }

  /** Cuts every packet in and out of the host's namespace but loopback; a helper heals it after `seconds`. */
  async partition(name: string, seconds: number): Promise<ChaosOutcome> {
    const host = this.host(name);
    await cutHost(host);
    const heal = scheduleHeal(this.dir, 'heal-partition', seconds, name);
    return {
      verb: 'partition',
      target: name,
      pids: { helper: heal.helper.pid },
      healsAt: heal.dueAt,
      text: `partitioned ${name} (${host.address}): no gossip, Redis, coordinator or load balancer traffic until ${new Date(heal.dueAt).toISOString()}, in ${seconds} s (helper pid ${heal.helper.pid})`,
    };
  }

  /**
   * A graceful reload, as an operator's `systemctl reload haproxy`: SIGUSR2 to the master
   * (HAProxy runs master-worker, -W), which starts new workers from the config and lets the
   * old ones finish their connections. Before it, the registered servers are saved into the
   * config and the server-state file (as an operator's reload does through the systemd
   * drop-in of provisioning/haproxy/), so the new workers keep every server and its state.
   */
  async reloadHaproxy(): Promise<ChaosOutcome> {
    const master = this.service('haproxy');
    if (!isRunning(master)) throw new DevClusterError('HAProxy is not running');
    const commandLine = readFileSync(`/proc/${master.pid}/cmdline`, 'utf8').split('\0');
    if (!commandLine.includes('-W')) throw new DevClusterError('this cluster\'s HAProxy runs without master-worker mode (-W), which a reload needs: bring the cluster up again');
    const saved = await saveHaproxyServers(this.state());
    const before = new Set(childrenOf(master.pid));
    signalProcess(master, 'SIGUSR2');
    const worker = await this.untilStarted('HAProxy to start a new worker', HAPROXY_RELOAD_TIMEOUT_MS, join(this.dir, 'haproxy.log'), master, () => childrenOf(master.pid).find((pid) => !before.has(pid)));
    return {
      verb: 'reload-haproxy',
      target: 'haproxy',
      pids: { master: master.pid, worker },
      text: `${saved}; reloaded HAProxy: master pid ${master.pid} (SIGUSR2) started worker pid ${worker}; ${before.size} former worker(s) finish their connections`,
    };
  }

  /** The cluster as recorded now: chaos verbs and heal helpers change it as they go. */
  state(): DevClusterState {
    const state = readClusterState(this.dir);
    if (!state) throw new ValidationError(`no local cluster recorded in ${this.dir}: run grapevine dev up`);
    return state;
  }

  private host(name: string): DevHostState {
    const { hosts } = this.state();
    const host = hosts.find((h) => h.name === name);
    if (!host) throw new ValidationError(`no host "${name}" in the cluster; its hosts are ${hosts.map((h) => h.name).join(', ')}`);
    return host;
  }

  private service(name: 'redis' | 'coordinator' | 'haproxy'): StartedProcess {
    const started = this.state().processes[name];
    if (!started) throw new DevClusterError(`the cluster recorded no ${name} process`);
    return started;
  }

  /**
   * Polls `check` while `process` (just started or signalled by this verb, so its id is
   * still its own) lives; a process that ended, or a deadline passed, is an error carrying its log's tail.
   */
  private async untilStarted<T>(what: string, timeoutMs: number, logFile: string, process: StartedProcess, check: () => T | undefined): Promise<T> {
    try {
      return await pollUntil(what, () => {
        if (!isAlive(process.pid)) throw new DevClusterError(`process ${process.pid} ended while waiting for ${what}`);
        return check();
      }, { timeoutMs, intervalMs: 100, tolerate: (error) => !(error instanceof DevClusterError) });
    } catch (error) {
      const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-10).join('\n') : '(no log)';
      throw new DevClusterError(`${errorMessage(error)}; the last lines of ${logFile}:\n${tail}`, { cause: error });
    }
  }
}
