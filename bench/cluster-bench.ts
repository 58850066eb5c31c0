// One cluster size of the benchmark: bring up a local cluster of N hosts, run the
// measured rollouts (bench/size-bench.ts) `runs` times, and always take the cluster down.
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultHosts, freeClusterPorts } from '../dev-cluster/cluster-state.js';
import { DevCluster } from '../dev-cluster/dev-cluster.js';
import { slotsFor, wavesFor } from './measure.js';
import type { ColourSwitchRun } from './colour-switch.js';
import { ENV, RolloutFailedError } from './rollout-checks.js';
import type { RunFigures } from './run-figures.js';
import { SizeBench } from './size-bench.js';

export interface SizeOptions {
  hosts: number;
  runs: number;
  /** First three octets of the cluster's private /24. */
  subnet: string;
  startDelay: number;
  /** The health gate's soak on every host: part of each host's work T (pull → release), never overhead. */
  minHealthyTimeMs: number;
  /** Seconds between two runs of the app's Docker health check. */
  healthCheckInterval: number;
  /** Seconds one run of the app's Docker health check may take before it counts as failed. */
  healthCheckTimeout: number;
  ansibleHealthDelay: number;
  ansibleStrategy: 'free' | 'linear';
  log: (line: string) => void;
  signal: AbortSignal;
}

export interface SizeResult {
  hosts: number;
  slots: number;
  waves: number;
  name: string;
  subnet: string;
  runs: RunFigures[];
  /** The blue/green cycles after the rollouts: a switch of the whole group and a switch back each. */
  blueGreen: ColourSwitchRun[];
}

/**
 * Measures one size. Resolves with the runs done so far and, when a run failed or was
 * interrupted, the error that ended it; rejects only when the cluster could not come up.
 */
export async function benchSize(options: SizeOptions): Promise<{ result: SizeResult; error?: unknown }> {
  const { hosts: size, subnet, log, signal } = options;
  const name = `grapevine-bench-${size}`;
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
      minHealthyTimeMs: options.minHealthyTimeMs,
      // Every host runs on the same two cores here: Docker's check every second (a process
      // started in a container each) kept 30 hosts' machine 90 % busy before a deploy began,
      // and a check slowed past its timeout failed a healthy release. The agents' own probe
      // decides when a host is healthy; Docker's check stays, less often.
      healthCheck: { interval: `${options.healthCheckInterval}s`, timeout: `${options.healthCheckTimeout}s` },
      promote: false,
      // Two colours on every host: rolling deploys replace the live one (blue), so the rollout
      // figures measure the same work, and the blue/green cycles switch between the two.
      blueGreenEnvs: [ENV],
      logLevel: 'info',
    },
    (line) => log(`${name}: ${line}`),
  );
  const ansibleDir = mkdtempSync(join(tmpdir(), `${name}-ansible-`));
  const result: SizeResult = { hosts: size, slots: slotsFor(size), waves: wavesFor(size), name, subnet, runs: [], blueGreen: [] };
  try {
    await using bench = new SizeBench(cluster, options, ansibleDir);
    await bench.measure(name, result.runs, result.blueGreen);
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
