// CPU a Serf user event costs each host: brings up a local cluster of N real hosts, fires M
// deploy events of a role no host has (every host receives, parses and ignores each one),
// and sums the CPU time of each host's process tree (its Grapevine agent, its Serf agent,
// and whatever either started: event handlers, `serf` clients) from /proc, against an idle
// window of the same length. Run it with GRAPEVINE_BUNDLE naming the build to measure.
// Usage: node dist/bench/serf-event-cpu.js [--hosts 30] [--events 60] [--pace-ms 200] [--subnet 10.246.0] [--count-delivered]
// --count-delivered runs the agents at debug level and counts, in their logs, the bench's
// events each one ignored: proof of delivery, at the price of a log line per event per host.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultHosts, freeClusterPorts } from '../dev-cluster/cluster-state.js';
import { DevCluster } from '../dev-cluster/dev-cluster.js';
import { CLI } from '../dev-cluster/sample-app.js';
import { createLogger } from '../shared/contract/logger.js';
import { pause } from '../shared/contract/waiting.js';
import { SerfRpcClient } from '../shared/serf/serf-rpc-client.js';
import { EVENT_SCHEMA_VERSION } from '../shared/contract/schemas.js';

/** Linux's USER_HZ: /proc reports CPU times in these ticks on every platform Node runs on. */
const TICKS_PER_SECOND = 100;
/** Pause after the last event before the busy window closes, so late deliveries count. */
const DRAIN_MS = 5_000;
/** Pause after the cluster is up: the joins' gossip and the agents' first reconcile settle. */
const SETTLE_MS = 15_000;

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '30' },
    events: { type: 'string', default: '60' },
    'pace-ms': { type: 'string', default: '200' },
    subnet: { type: 'string', default: '10.246.0' },
    name: { type: 'string', default: 'gvserf-cpu' },
    'count-delivered': { type: 'boolean', default: false },
  },
});
const hosts = Number(values.hosts);
const events = Number(values.events);
const paceMs = Number(values['pace-ms']);
if (!Number.isInteger(hosts) || hosts < 1 || hosts > 100) throw new Error('--hosts must be a whole number from 1 to 100');
if (!Number.isInteger(events) || events < 1 || events > 1_000) throw new Error('--events must be a whole number from 1 to 1000');
if (!Number.isInteger(paceMs) || paceMs < 20) throw new Error('--pace-ms must be a whole number of at least 20');

interface ProcStat {
  ppid: number;
  ticks: number;
}

/** Every process's parent and CPU ticks (own plus its finished, waited-for children's). */
function readProcs(): Map<number, ProcStat> {
  const procs = new Map<number, ProcStat>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // After the name: state ppid ... utime(14) stime(15) cutime(16) cstime(17), 1-based from pid.
      const [utime, stime, cutime, cstime] = [11, 12, 13, 14].map((i) => Number(fields[i]));
      procs.set(Number(entry), { ppid: Number(fields[1]), ticks: utime! + stime! + cutime! + cstime! });
    } catch {
      // The process ended while the table was read.
    }
  }
  return procs;
}

/** CPU seconds of the trees rooted at `roots`: a process that ended is in its parent's counts. */
function treeCpuSeconds(roots: number[]): number {
  const procs = readProcs();
  const children = new Map<number, number[]>();
  for (const [pid, { ppid }] of procs) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  let ticks = 0;
  const queue = [...roots];
  for (let i = 0; i < queue.length && i < 100_000; i++) {
    const pid = queue[i]!;
    ticks += procs.get(pid)?.ticks ?? 0;
    queue.push(...(children.get(pid) ?? []));
  }
  return ticks / TICKS_PER_SECOND;
}

async function window(roots: number[], work: () => Promise<void>): Promise<{ cpu: number; ms: number }> {
  const cpuBefore = treeCpuSeconds(roots);
  const start = performance.now();
  await work();
  return { cpu: treeCpuSeconds(roots) - cpuBefore, ms: performance.now() - start };
}

const logger = createLogger('bench', 'warn');
const name = `${values.name}-${hosts}`;
const dir = mkdtempSync(join(tmpdir(), `${name}-`));
const log = (line: string) => process.stdout.write(`${line}\n`);
log(`${name}: bundle ${CLI}; bringing up ${hosts} hosts on ${values.subnet}.0/24`);
const cluster = await DevCluster.up({ name, dir, subnet: values.subnet, hosts: defaultHosts(hosts, 0), ports: await freeClusterPorts(), promote: false, logLevel: values['count-delivered'] ? 'debug' : 'info' }, (line) => log(`${name}: ${line}`));
try {
  const roots = cluster.state.hosts.map((host) => host.agent.pid);
  const serf = new SerfRpcClient({ rpcAddr: cluster.state.serfRpc, rpcAuth: cluster.state.serfRpcAuth, logger });
  await pause(SETTLE_MS);
  const busyMs = events * paceMs + DRAIN_MS;
  const idle = await window(roots, () => pause(busyMs));
  const busy = await window(roots, async () => {
    for (let i = 0; i < events; i++) {
      const id = `d-bench${String(i).padStart(6, '0')}${Date.now().toString(36)}`;
      await serf.event('deploy', JSON.stringify({ v: EVENT_SCHEMA_VERSION, role: 'bench-none', env: 'production', id }));
      await pause(paceMs);
    }
    await pause(DRAIN_MS);
  });
  serf.close();
  const idlePerHostPerS = idle.cpu / hosts / (idle.ms / 1000);
  const eventCpu = busy.cpu - idlePerHostPerS * hosts * (busy.ms / 1000);
  log(`${name}: idle   ${(idle.cpu * 1000).toFixed(0)} ms CPU over ${(idle.ms / 1000).toFixed(1)} s: ${(idlePerHostPerS * 1000).toFixed(2)} ms per host per second`);
  log(`${name}: events ${(busy.cpu * 1000).toFixed(0)} ms CPU over ${(busy.ms / 1000).toFixed(1)} s with ${events} events`);
  if (values['count-delivered']) {
    const delivered = cluster.state.hosts.map((host) => readFileSync(join(host.dir, 'agent.log'), 'utf8').split('\n').filter((line) => line.includes('for role bench-none')).length);
    log(`${name}: delivered ${delivered.reduce((a, b) => a + b, 0)} of ${events * hosts} (events x hosts); fewest on one host ${Math.min(...delivered)}`);
  }
  log(`${name}: CPU per event per host: ${((eventCpu / events / hosts) * 1000).toFixed(2)} ms (busy minus idle; /proc ticks of 10 ms, machine shared, noisy)`);
} finally {
  log(`${name}: taking the cluster down`);
  await cluster.down();
  rmSync(dir, { recursive: true, force: true });
}
