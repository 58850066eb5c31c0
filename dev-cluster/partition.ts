// A network partition of one host of the local cluster: iptables rules inside the host's
// own network namespace drop every packet in and out except loopback, so its gossip, its
// Redis and coordinator traffic and the load balancer's requests to its app are all lost
// on the way, as on a cut link, while the processes inside keep running.
import { execa } from 'execa';
import { retry } from '../shared/contract/waiting.js';
import type { DevHostState } from './cluster-state.js';
import { DevClusterError } from './dev-cluster-error.js';
import { requireBinary } from './prerequisites.js';

/** The comment on both rules, so an operator who lists the namespace's rules sees whose they are. */
const COMMENT = 'grapevine-partition';
const RULES = [
  ['INPUT', '!', '-i', 'lo', '-m', 'comment', '--comment', COMMENT, '-j', 'DROP'],
  ['OUTPUT', '!', '-o', 'lo', '-m', 'comment', '--comment', COMMENT, '-j', 'DROP'],
] as const;
const IPTABLES_TIMEOUT_MS = 10_000;

/** Runs iptables in the host's namespace; `-w` waits up to 5 s for the xtables lock rather than failing. */
function iptables(host: DevHostState, args: readonly string[]) {
  return execa('nsenter', [`--net=${host.netns}`, '--', 'iptables', '-w', '5', ...args], {
    stdin: 'ignore',
    reject: false,
    timeout: IPTABLES_TIMEOUT_MS,
  });
}

export async function isPartitioned(host: DevHostState): Promise<boolean> {
  const checks = await Promise.all(RULES.map(([chain, ...rule]) => iptables(host, ['-C', chain, ...rule])));
  return checks.some((check) => check.exitCode === 0);
}

export async function cutHost(host: DevHostState): Promise<void> {
  requireBinary('iptables', 'apt-get install iptables');
  if (await isPartitioned(host)) throw new DevClusterError(`${host.name} is already partitioned`);
  for (const [chain, ...rule] of RULES) {
    const added = await iptables(host, ['-I', chain, '1', ...rule]);
    if (added.exitCode !== 0) {
      await healHost(host).catch(() => undefined);
      throw new DevClusterError(`could not partition ${host.name}: iptables -I ${chain} failed: ${added.stderr.trim() || `exit ${added.exitCode}`}`);
    }
  }
}

/** Removes the partition's rules, each as often as it is there; a retry covers a busy xtables lock. */
export async function healHost(host: DevHostState): Promise<void> {
  for (const [chain, ...rule] of RULES) {
    await retry(
      async () => {
        // Bounded: a rule inserted twice is removed twice, never more than a handful of times.
        for (let count = 0; count < 8; count++) {
          if ((await iptables(host, ['-C', chain, ...rule])).exitCode !== 0) return;
          const removed = await iptables(host, ['-D', chain, ...rule]);
          if (removed.exitCode !== 0) throw new DevClusterError(`could not heal ${host.name}: iptables -D ${chain} failed: ${removed.stderr.trim()}`);
        }
        throw new DevClusterError(`could not heal ${host.name}: the ${chain} rule is still there after 8 removals`);
      },
      { delaysMs: [250, 500, 1_000, 2_000] },
    );
  }
}
