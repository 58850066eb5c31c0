// `grapevine dev chaos` does what each verb says, as an operator sees it, on a local
// cluster of three production hosts: Serf's view from the coordinator, the hosts' own
// addresses, redis-cli, the coordinator's /healthz, HAProxy; and `dev down` afterwards
// leaves no process of the cluster running, whatever chaos restarted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { execa } from 'execa';
import { isRunning, readClusterState, type ChaosOutcome, type DevClusterState } from '../../dev-cluster/dev-cluster.js';
import type { StartedProcess } from '../../dev-cluster/local-process.js';
import { answersFrom, startCluster, type TestCluster } from '../fixtures/cluster.js';
import { until } from '../fixtures/poll.js';

const HOSTS = ['h1', 'h2', 'h3'];
/** Serf's failure detection with its LAN defaults takes a few seconds; 15 s is ample. */
const SERF_NOTICES = { timeoutMs: 15_000, intervalMs: 250 };
const HEALS = { timeoutMs: 30_000, intervalMs: 250 };

describe('dev chaos puts each fault into the local cluster and takes it out again', () => {
  let fleet: TestCluster;
  let dir: string;
  let removed = false;

  const chaos = async (...args: string[]): Promise<ChaosOutcome> => {
    const result = await fleet.cli(['dev', 'chaos', ...args, '--dir', dir, '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as ChaosOutcome;
  };
  const state = (): DevClusterState => {
    const recorded = readClusterState(dir);
    if (!recorded) throw new Error(`no cluster recorded in ${dir}`);
    return recorded;
  };
  const host = (name: string) => state().hosts.find((h) => h.name === name)!;
  /** The host's status as the coordinator's Serf agent lists it. */
  const serfStatus = async (name: string) => (await fleet.cluster.serf().members()).find((m) => m.name === name)?.status;
  /** Whether the host's app answers on the host's own address, as HAProxy reaches it. */
  const answersDirectly = async (name: string): Promise<boolean> => {
    try {
      return (await fetch(`http://${host(name).address}:8080/healthz`, { signal: AbortSignal.timeout(1_000) })).ok;
    } catch {
      return false;
    }
  };
  const redisAnswers = async () => {
    // As the admin user: Redis refuses a connection without a user (its password travels in REDISCLI_AUTH).
    const env = { REDISCLI_AUTH: new URL(state().redisUsers.admin).password };
    const ping = await execa('redis-cli', ['-p', String(state().ports.redis), '--user', 'admin', 'ping'], { env, stdin: 'ignore', reject: false, timeout: 5_000 });
    return ping.stdout === 'PONG';
  };
  const coordinatorAnswers = async () => {
    try {
      return (await fetch(`${state().coordinatorUrl}/healthz`, { signal: AbortSignal.timeout(1_000) })).ok;
    } catch {
      return false;
    }
  };

  beforeAll(async () => {
    fleet = await startCluster({ name: 'gvtest-chaos', subnet: '10.217.0', production: 3 });
    dir = fleet.cluster.state.dir;
    const v1 = await fleet.deploy('web', 'production', 'v1');
    expect(v1.deploy.status, v1.stderr).toBe('succeeded');
  });
  afterAll(async () => {
    if (!removed) await fleet?.[Symbol.asyncDispose]();
  });

  it('refuses an unknown host, naming the hosts there are, and a --for out of bounds', async () => {
    const unknown = await fleet.cli(['dev', 'chaos', 'kill-agent', 'h9', '--dir', dir]);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain('no host "h9"');
    expect(unknown.stderr).toContain('h1, h2, h3');
    for (const seconds of ['0', '601', 'soon']) {
      const bad = await fleet.cli(['dev', 'chaos', 'partition', 'h1', '--for', seconds, '--dir', dir]);
      expect(bad.exitCode, seconds).toBe(2);
      expect(bad.stderr).toContain('--for must be 1 to 600 seconds');
    }
    const missing = await fleet.cli(['dev', 'chaos', 'partition', 'h1', '--dir', dir]);
    expect(missing.exitCode).not.toBe(0);
    expect(missing.stderr).toContain('--for');
    // Nothing was partitioned by the refused commands.
    expect(await answersDirectly('h1')).toBe(true);
  });

  it('kill-agent ends the agent and its Serf agent; Serf lists the host failed', async () => {
    const before = host('h1');
    const killed = await chaos('kill-agent', 'h1');
    expect(killed.text).toContain('SIGKILL');
    expect(killed.pids.agent).toBe(before.agent.pid);
    expect(isRunning(before.agent)).toBe(false);
    expect(isRunning({ pid: killed.pids.serf!, marker: before.serfConfigFile })).toBe(false);
    await until('Serf to list h1 failed', async () => ((await serfStatus('h1')) === 'failed' ? true : undefined), SERF_NOTICES);
  });

  it('restart-agent starts it again: alive in Serf, recorded, and the host serves', async () => {
    const restarted = await chaos('restart-agent', 'h1');
    expect(state().hosts.find((h) => h.name === 'h1')!.agent.pid).toBe(restarted.pids.agent);
    expect(isRunning(host('h1').agent)).toBe(true);
    await until('Serf to list h1 alive', async () => ((await serfStatus('h1')) === 'alive' ? true : undefined), SERF_NOTICES);
    expect(await answersDirectly('h1')).toBe(true);
    expect(await fleet.lbAnswers(9)).toEqual(answersFrom('v1', HOSTS));
  });

  it('partition --for cuts the host off, then heals by itself', async () => {
    const cut = await chaos('partition', 'h2', '--for', '8');
    expect(cut.healsAt).toBeGreaterThan(Date.now());
    expect(await answersDirectly('h2')).toBe(false);
    await until('Serf to list h2 failed', async () => ((await serfStatus('h2')) === 'failed' ? true : undefined), SERF_NOTICES);
    await until('h2 to answer on its address again', async () => ((await answersDirectly('h2')) ? true : undefined), HEALS);
    // Serf's members try to reconnect to a failed one every 30 s by default, so rejoining can take that long.
    await until('Serf to list h2 alive again', async () => ((await serfStatus('h2')) === 'alive' ? true : undefined), { timeoutMs: 75_000, intervalMs: 500 });
    await until('the heal helper to drop itself from the state', () => ((state().heals ?? []).length === 0 ? true : undefined), HEALS);
    expect(isRunning({ pid: cut.pids.helper!, marker: 'heal-' })).toBe(false);
  });

  it('stop-coordinator --for stops it, and it comes back by itself', async () => {
    const stopped = await chaos('stop-coordinator', '--for', '3');
    expect(await coordinatorAnswers()).toBe(false);
    await until('the coordinator to answer again', async () => ((await coordinatorAnswers()) ? true : undefined), HEALS);
    const coordinator = state().processes.coordinator!;
    expect(coordinator.pid).not.toBe(stopped.pids.coordinator);
    expect(isRunning(coordinator)).toBe(true);
  });

  it('kill-redis ends Redis; restart-redis brings it back on the same port', async () => {
    const killed = await chaos('kill-redis');
    expect(killed.pids.redis).toBeGreaterThan(0);
    expect(await redisAnswers()).toBe(false);
    const restarted = await chaos('restart-redis');
    expect(state().processes.redis!.pid).toBe(restarted.pids.redis);
    expect(await redisAnswers()).toBe(true);
  });

  it('reload-haproxy starts a new worker under the same master; HAProxy still answers', async () => {
    const master = state().processes.haproxy!;
    const reloaded = await chaos('reload-haproxy');
    expect(reloaded.pids.master).toBe(master.pid);
    expect(isRunning(master)).toBe(true);
    expect(reloaded.pids.worker).toBeGreaterThan(0);
    // The frontend answers HTTP (which servers it has is the agents' business) and the runtime API answers.
    const answer = await fetch(state().lbUrl, { signal: AbortSignal.timeout(5_000) });
    expect(answer.status).toBeGreaterThanOrEqual(200);
    expect(await runtimeApi(state().runtimeSocket, 'show info')).toContain(`Pid: ${reloaded.pids.worker}`);
  });

  it('dev down ends every process the cluster recorded, a pending heal helper included', async () => {
    const stopped = await chaos('stop-coordinator', '--for', '600');
    const recorded = state();
    const processes: StartedProcess[] = [
      ...Object.values(recorded.processes).filter((p): p is StartedProcess => p !== undefined),
      ...recorded.hosts.map((h) => h.agent),
      ...recorded.hosts.flatMap((h) => (existsSync(h.serfPidFile) ? [{ pid: Number(readFileSync(h.serfPidFile, 'utf8')), marker: h.serfConfigFile }] : [])),
      ...(recorded.heals ?? []).map((heal) => heal.helper),
    ];
    expect(processes.some((p) => p.pid === stopped.pids.helper && isRunning(p))).toBe(true);
    const down = await fleet.cli(['dev', 'down', '--dir', dir]);
    expect(down.exitCode, down.stderr).toBe(0);
    removed = true;
    expect(processes.filter((p) => isRunning(p)).map((p) => `${p.pid} ${p.marker}`)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });
});

/** One command on HAProxy's runtime API, over its unix socket. */
function runtimeApi(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const connection = net.createConnection(socket);
    let reply = '';
    connection.setTimeout(5_000, () => connection.destroy(new Error('the runtime API did not answer within 5 s')));
    connection.on('connect', () => connection.end(`${command}\n`));
    connection.on('data', (chunk) => (reply += chunk.toString()));
    connection.on('end', () => resolve(reply));
    connection.on('error', reject);
  });
}
