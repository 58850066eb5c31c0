// A fleet bench worker process: a slice of the simulated hosts, each with the agent's real
// deploy logic (DeployRunner), its own Redis connection, slot locks and fleet state (the real
// Lua scripts) and its own coordinator client, over a runtime and a load balancer that only
// take the host's T. It delivers the deploy event to each host after the host's gossip delay,
// and answers `finished` once every host has ended; a later deploy starts its figures afresh.
// A process entry: nothing imports it.
import { setMaxListeners } from 'node:events';
import type { RedisClient } from '../../shared/redis/connection.js';
import pino, { type Logger } from 'pino';
import { DeployRunner } from '../../agent/deploy/deploy-runner.js';
import { CoordinatorClient } from '../../shared/coordinator-http/coordinator-client.js';
import { connectRedis } from '../../shared/redis/connection.js';
import { RedisFleetState } from '../../shared/redis/fleet-state.js';
import { RedisSlotLocks } from '../../shared/redis/slot-locks.js';
import { errorMessage } from '../../shared/contract/errors.js';
import { within } from '../../shared/contract/waiting.js';
import type { DeployEventPayload } from '../../shared/contract/schemas.js';
import { FLEET_ROLE, type HostOutcome, type SimulatedHostSpec, type WorkerCommand, type WorkerReply, type WorkerStart } from './fleet-messages.js';
import { MemoryAppliedDeploys, ObservedSlotLocks, TimedLoadBalancer, TimedRuntime, type SlotTimes } from './simulated-host.js';

/** Connections opened this many at a time, so 5 000 hosts do not knock on Redis at once while setting up. */
const CONNECT_CONCURRENCY = 100;
const RSS_SAMPLE_MS = 200;
const PROGRESS_MS = 1_000;
/** After a stop, runs still under way get this long to end on the aborted signal. */
const STOP_SETTLE_MS = 5_000;

interface SimulatedHost {
  spec: SimulatedHostSpec;
  redis: RedisClient;
  runner: DeployRunner;
  times: SlotTimes;
}

function send(reply: WorkerReply): void {
  process.send?.(reply);
}

let rssPeak = 0;
const sampleRss = () => void (rssPeak = Math.max(rssPeak, process.memoryUsage.rss()));
const rssTimer = setInterval(sampleRss, RSS_SAMPLE_MS);
const shutdown = new AbortController();
// Every host's run listens on the one shutdown signal: thousands of listeners are expected.
setMaxListeners(0, shutdown.signal);
let cpuAtDeploy: NodeJS.CpuUsage | undefined;
let hosts: SimulatedHost[] = [];
const outcomes: HostOutcome[] = [];
const running = new Set<Promise<void>>();

async function startHosts(command: WorkerStart, logger: Logger): Promise<void> {
  const made = new Array<SimulatedHost>(command.hosts.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: CONNECT_CONCURRENCY }, async () => {
      for (let i = next++; i < command.hosts.length; i = next++) {
        const spec = command.hosts[i] as SimulatedHostSpec;
        const log = logger.child({ node: spec.name });
        const redis = await connectRedis(command.redisUrl, log);
        const times: SlotTimes = { waited: false };
        const runner = new DeployRunner({
          node: spec.name,
          lb: { [FLEET_ROLE]: { backend: FLEET_ROLE, address: `${spec.name}:8080` } },
          locks: new ObservedSlotLocks(new RedisSlotLocks({ redis, ttlMs: command.slotLeaseMs, logger: log }), times),
          fleet: new RedisFleetState({ redis, host: spec.name, logger: log }),
          runtime: new TimedRuntime(spec.workMs),
          loadBalancer: new TimedLoadBalancer(spec.workMs),
          coordinator: new CoordinatorClient({ url: command.coordinatorUrl, token: spec.token, spreadBy: spec.name }),
          applied: new MemoryAppliedDeploys(),
          logger: log,
        });
        made[i] = { spec, redis, runner, times };
      }
    }),
  );
  hosts = made;
}

/** One deploy at a time: a new one starts the outcomes, the hosts' slot times and the CPU count afresh. */
function deliver(payload: DeployEventPayload, firedAt: number): void {
  cpuAtDeploy = process.cpuUsage();
  outcomes.length = 0;
  running.clear();
  finished = false;
  for (const host of hosts) {
    for (const key of Object.keys(host.times) as Array<keyof SlotTimes>) delete host.times[key];
    host.times.waited = false;
  }
  let ended = 0;
  const progress = setInterval(() => send({ type: 'progress', ended }), PROGRESS_MS);
  for (const host of hosts) {
    const run = new Promise<void>((resolve) => {
      setTimeout(() => {
        const receivedAt = Date.now();
        host.runner.run(payload, shutdown.signal).then(
          (report) => outcomes.push({ name: host.spec.name, state: report?.state ?? null, receivedAt, endedAt: Date.now(), ...host.times }),
          () => outcomes.push({ name: host.spec.name, state: null, receivedAt, endedAt: Date.now(), ...host.times }),
        ).finally(() => {
          ended += 1;
          resolve();
        });
      }, Math.max(0, firedAt + host.spec.delayMs - Date.now()));
    });
    running.add(run);
  }
  void Promise.all(running).then(() => {
    clearInterval(progress);
    finish();
  });
}

let finished = false;
function finish(): void {
  if (finished) return;
  finished = true;
  sampleRss();
  const cpu = process.cpuUsage(cpuAtDeploy);
  send({ type: 'finished', outcomes, rssPeakBytes: rssPeak, cpuMicros: cpuAtDeploy ? cpu.user + cpu.system : 0 });
}

async function stop(): Promise<void> {
  shutdown.abort(new Error('the fleet bench stopped'));
  await within(Promise.all(running), STOP_SETTLE_MS);
  finish();
  clearInterval(rssTimer);
  for (const host of hosts) host.redis.disconnect();
  process.exit(0);
}

let logger: Logger | undefined;
process.on('message', (command: WorkerCommand) => {
  if (command.type === 'start') {
    logger = pino({ level: 'warn', redact: ['token', '*.token'] }, pino.destination({ dest: command.logFile, sync: false }));
    startHosts(command, logger).then(
      () => {
        sampleRss();
        send({ type: 'ready', rssBytes: process.memoryUsage.rss() });
      },
      (error: unknown) => send({ type: 'failed', message: errorMessage(error) }),
    );
  } else if (command.type === 'deploy') {
    deliver(command.payload, command.firedAt);
  } else {
    void stop();
  }
});
process.on('disconnect', () => void stop());
