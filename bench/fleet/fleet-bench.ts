// One fleet size of `npm run bench -- --fleet N,...`: its own Redis, a coordinator process
// and worker processes of simulated hosts; one release published, one rolling deploy to all
// N hosts, timed from its creation to its end, with the coordinator's and Redis's costs read
// before and after. Every wait has a deadline; a run that passes its own gives up, stops
// the hosts and reports what it has.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoordinatorClient } from '../../shared/coordinator-http/coordinator-client.js';
import { pollUntil, within } from '../../shared/contract/waiting.js';
import { errorMessage } from '../../shared/contract/errors.js';
import { DEFAULT_SLOTS, slotCount } from '../../shared/contract/slot-count.js';
import { cpuShares, cpuTicks } from '../cpu-steal.js';
import { drawLognormal, gossipDelays, MEASURED_T, SERF_GOSSIP, seededRandom } from './distributions.js';
import { fleetResult, type FleetRaw, type FleetResult } from './fleet-figures.js';
import { FLEET_ENV, FLEET_REGISTRY, FLEET_ROLE, type CoordinatorSample, type HostOutcome, type SimulatedHostSpec, type WorkerCommand, type WorkerReply } from './fleet-messages.js';
import { ChildChannel } from './fleet-processes.js';
import { FleetCoordinators } from './fleet-coordinators.js';
import { startFleetRedis } from './fleet-redis.js';
import type { HostDraw } from './schedule.js';
import type { DeployEventPayload } from '../../shared/contract/schemas.js';
import { WARM_UP_HOSTS, warmUpCoordinator } from './warm-up.js';

/** The bench refuses larger fleets: 2 connections a host and the machine's file limit. */
export const MAX_FLEET_HOSTS = 20_000;
/** Host credentials and connections for 10 000 hosts take a while on two busy cores. */
const SETUP_TIMEOUT_MS = 5 * 60_000;
const FINISHED_POLL_MS = 30_000;
const GAUGE_INTERVAL_MS = 250;
/** As the agent's config default. */
const SLOT_LEASE_MS = 15_000;
const TAG = 'v2';
/** The simulated hosts' first deploy, before the measured one. */
const HOSTS_WARM_UP_TAG = 'v1';
/** The warm-up deploys' tags (warm-up.ts), one deploy each. */
const WARM_UP_TAGS = ['w1', 'w2', 'w3', 'w4', 'w5'];

export interface FleetOptions {
  hosts: number;
  /** Seeds the draws of T and of the gossip delays: the same seed gives the same fleet. */
  seed: number;
  /** The run gives up this long after the deploy was created. */
  giveUpMs: number;
  /** Coordinator processes over the one Redis: 1, or 2 as README "Two coordinators" runs them. */
  coordinators: number;
  log: (line: string) => void;
  signal: AbortSignal;
}

export function fleetWorkerCount(): number {
  return Math.max(2, Math.min(4, cpus().length));
}

export function hostName(index: number): string {
  return `sim-${String(index + 1).padStart(5, '0')}`;
}

export async function benchFleet(options: FleetOptions): Promise<FleetResult> {
  const { hosts, log } = options;
  const dir = mkdtempSync(join(tmpdir(), `grapevine-fleet-${hosts}-`));
  const random = seededRandom(options.seed);
  const names = Array.from({ length: hosts }, (_, i) => hostName(i));
  const delays = gossipDelays(hosts, SERF_GOSSIP, random);
  const draws: HostDraw[] = names.map((_, i) => ({ readyMs: delays[i] as number, workMs: drawLognormal(MEASURED_T, random) }));
  log(`fleet ${hosts}: Redis, ${options.coordinators} coordinator(s) and ${fleetWorkerCount()} workers starting (logs in ${dir})`);
  const redis = await startFleetRedis(join(dir, 'redis'), hosts);
  const events: Array<{ payload: DeployEventPayload; firedAt: number }> = [];
  const workers: Array<ChildChannel<WorkerCommand, WorkerReply>> = [];
  const ended = new Map<ChildChannel<WorkerCommand, WorkerReply>, number>();
  // An interrupt stops the hosts, whose workers then answer `finished` with what they have.
  const stopHosts = () => workers.forEach((worker) => worker.send({ type: 'stop' }));
  const coordinators = new FleetCoordinators(options.coordinators, (reply) => {
    // The warm-up deploy's event reaches no simulated host: they are not of its environment.
    if (reply.type !== 'deploy-event' || reply.payload.env !== FLEET_ENV) return;
    events.push(reply);
    for (const worker of workers) worker.send({ type: 'deploy', payload: reply.payload, firedAt: reply.firedAt });
  });
  try {
    const token = randomBytes(24).toString('hex');
    const warmUpNames = Array.from({ length: Math.min(hosts, WARM_UP_HOSTS) }, (_, i) => `warm-${String(i + 1).padStart(5, '0')}`);
    const ready = await coordinators.start({ redisUrl: redis.users.coordinator, hosts: names, warmUpHosts: warmUpNames, token }, dir, SETUP_TIMEOUT_MS);
    const slices = Array.from({ length: fleetWorkerCount() }, () => [] as SimulatedHostSpec[]);
    names.forEach((name, i) => slices[i % slices.length]?.push({ name, token: ready.hostTokens[i] as string, workMs: draws[i]!.workMs, delayMs: draws[i]!.readyMs }));
    for (const [i, slice] of slices.entries()) {
      const worker = new ChildChannel<WorkerCommand, WorkerReply>(`fleet worker ${i + 1}`, './fleet-worker.js', (reply) => {
        if (reply.type === 'progress') ended.set(worker, reply.ended);
      });
      workers.push(worker);
      worker.send({ type: 'start', hosts: slice, redisUrl: redis.users.agent, coordinatorUrl: ready.urls.join(','), slotLeaseMs: SLOT_LEASE_MS, logFile: join(dir, `worker-${i + 1}.log`) });
    }
    await Promise.all(workers.map((worker) => worker.next('ready', SETUP_TIMEOUT_MS)));
    // The bench deploys through the first, as the CLI does.
    const client = new CoordinatorClient({ url: ready.urls[0] as string, token, timeoutMs: 60_000 });
    for (const tag of [HOSTS_WARM_UP_TAG, TAG]) await client.publishRelease({ role: FLEET_ROLE, tag, image: `${FLEET_REGISTRY}/${FLEET_ROLE}:${tag}` });
    const warmUpHosts = warmUpNames.map((name, i) => ({ name, token: ready.warmUpTokens[i] as string }));
    const warmUpMs = await warmUpCoordinator({ urls: ready.urls, operator: client, tags: WARM_UP_TAGS, hosts: warmUpHosts, signal: options.signal });
    log(`fleet ${hosts}: the coordinator's ${WARM_UP_TAGS.length} warm-up deploys to ${warmUpHosts.length} hosts took ${warmUpMs} ms`);
    // The simulated hosts' own first deploy, not measured: its wave changes run each worker's
    // slot and report paths for the first time, hundreds of hosts at once (fleet-worker.ts).
    const first = await client.createDeploy({ role: FLEET_ROLE, env: FLEET_ENV, tag: HOSTS_WARM_UP_TAG });
    options.signal.addEventListener('abort', stopHosts, { once: true });
    try {
      await Promise.all(workers.map((worker) => worker.next('finished', options.giveUpMs)));
    } finally {
      options.signal.removeEventListener('abort', stopHosts);
    }
    options.signal.throwIfAborted();
    const firstEnded = await pollUntil(`the hosts' first deploy ${first.id} to end`, async () => {
      const read = await client.getSummary(first.id);
      return read.status === 'in_progress' ? undefined : read;
    }, { timeoutMs: FINISHED_POLL_MS, intervalMs: 200, signal: options.signal });
    // Whatever it ended with (a host whose lease lapsed on a saturated machine ends errored), the hosts have run their paths.
    log(`fleet ${hosts}: the hosts' first deploy (${HOSTS_WARM_UP_TAG}, not measured) ended ${firstEnded.status} in ${(firstEnded.finishedAt ?? Date.now()) - first.createdAt} ms`);

    const coordinatorsBefore = await coordinators.sample();
    const before = await redis.figures();
    const ticksBefore = cpuTicks();
    const peaks = { memory: before.usedMemory, clients: before.connectedClients };
    const gauges = setInterval(() => {
      redis.gauges().then((g) => {
        peaks.memory = Math.max(peaks.memory, g.usedMemory);
        peaks.clients = Math.max(peaks.clients, g.connectedClients);
      }, () => undefined);
    }, GAUGE_INTERVAL_MS);
    const progress = setInterval(() => log(`fleet ${hosts}: ${[...ended.values()].reduce((a, b) => a + b, 0)} of ${hosts} hosts ended`), 10_000);

    let incomplete: string | undefined;
    let outcomes: HostOutcome[] = [];
    let workerRss = 0;
    let workerCpu = 0;
    let deploy;
    options.signal.addEventListener('abort', stopHosts, { once: true });
    try {
      deploy = await client.createDeploy({ role: FLEET_ROLE, env: FLEET_ENV, tag: TAG });
      log(`fleet ${hosts}: deploy ${deploy.id} created (${deploy.slots ?? '?'} slots)`);
      const deadline = deploy.createdAt + options.giveUpMs;
      const finishing = workers.map((worker) => worker.next('finished', Math.max(1_000, deadline - Date.now())));
      const settled = await Promise.allSettled(finishing);
      if (settled.some((s) => s.status === 'rejected')) {
        incomplete = `gave up ${Math.round(options.giveUpMs / 1000)} s after the deploy was created, with hosts still running`;
        for (const worker of workers) worker.send({ type: 'stop' });
        const late = await Promise.allSettled(workers.map((worker) => worker.next('finished', 15_000)));
        settled.forEach((s, i) => void (s.status === 'rejected' && (settled[i] = late[i] as PromiseSettledResult<WorkerReply>)));
      }
      for (const s of settled) {
        if (s.status === 'fulfilled' && s.value.type === 'finished') {
          outcomes = outcomes.concat(s.value.outcomes);
          workerRss += s.value.rssPeakBytes;
          workerCpu += s.value.cpuMicros;
        }
      }
    } finally {
      clearInterval(progress);
      options.signal.removeEventListener('abort', stopHosts);
    }
    if (options.signal.aborted) incomplete = 'interrupted';
    // Each host's times, beside the logs, for a look at what the table sums up.
    writeFileSync(join(dir, 'outcomes.json'), `${JSON.stringify(outcomes)}\n`);
    const id = deploy.id;
    const final = await pollUntil(`deploy ${id} to end`, async () => {
      const read = await client.getDeploy(id);
      return read.status === 'in_progress' ? undefined : read;
    }, { timeoutMs: incomplete ? 1_000 : FINISHED_POLL_MS, intervalMs: 200, signal: options.signal }).catch((error: unknown) => {
      incomplete ??= `the deploy had not ended ${FINISHED_POLL_MS / 1000} s after every host did: ${errorMessage(error)}`;
      return undefined;
    });
    clearInterval(gauges);
    const coordinatorsAfter = await coordinators.sample();
    const after = await redis.figures();
    const machine = cpuShares(ticksBefore, cpuTicks());
    const raw: FleetRaw = {
      hosts,
      slots: deploy.slots ?? slotCount(hosts, DEFAULT_SLOTS),
      draws,
      createdAt: deploy.createdAt,
      firedAt: events.find((event) => event.payload.id === id)?.firedAt,
      finishedAt: final?.finishedAt,
      status: final?.status ?? 'in_progress',
      outcomes,
      ...coordinatorFigures(coordinatorsBefore, coordinatorsAfter),
      commandsBefore: before.commands,
      commandsAfter: after.commands,
      redisCpuSeconds: after.cpuSeconds - before.cpuSeconds,
      redisMemoryPeakBytes: Math.max(peaks.memory, after.usedMemory),
      redisClientsPeak: Math.max(peaks.clients, after.connectedClients),
      workerRssPeakBytes: workerRss,
      workerCpuMicros: workerCpu,
      machine,
      warmUp: { deploys: WARM_UP_TAGS.length, hosts: warmUpNames.length },
      ...(incomplete === undefined ? {} : { incomplete }),
    };
    return fleetResult(raw);
  } finally {
    await Promise.all([...workers.map((worker) => worker.stop({ type: 'stop' })), coordinators.stop()]);
    await within(redis.stop(), 10_000);
  }
}

/** The coordinators' part of the raw figures over the deploy: CPU summed and each, RSS at its highest, requests by kind. */
function coordinatorFigures(before: CoordinatorSample[], after: CoordinatorSample[]): Pick<FleetRaw, 'coordinatorCpuMicros' | 'coordinatorCpuMicrosEach' | 'coordinatorRssPeakBytes' | 'requests' | 'requestsEach'> {
  const each = after.map((sample, i) => sample.cpuMicros - (before[i]?.cpuMicros ?? 0));
  const requests: Record<string, number> = {};
  const requestsEach = after.map((sample, i) => {
    let total = 0;
    for (const [kind, n] of Object.entries(sample.requests)) {
      const served = n - (before[i]?.requests[kind] ?? 0);
      requests[kind] = (requests[kind] ?? 0) + served;
      total += served;
    }
    return total;
  });
  return {
    coordinatorCpuMicros: each.reduce((a, b) => a + b, 0),
    coordinatorCpuMicrosEach: each,
    coordinatorRssPeakBytes: Math.max(...after.map((sample) => sample.rssPeakBytes)),
    requests,
    requestsEach,
  };
}
