// `npm run bench`: rollout time, coordination overhead, Redis traffic and agent memory of
// Grapevine on real local clusters of several sizes, against the same rollout by Ansible,
// and the time a blue/green switch of the whole group takes, there and back.
// With --fleet N,..., a simulated fleet per size instead (bench/fleet/); --smoke runs 3 real hosts and 300 simulated.
// Usage: run.js [--sizes 6,12,30] [--fleet 1000,10000] [--fleet-timeout S] [--fleet-coordinators 1|2] [--runs 3] [--smoke] [--json FILE] [--start-delay S] [--soak S] [--health-interval S] [--health-timeout S]
//               [--ansible-health-delay S] [--ansible-strategy free|linear]
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { benchSize, type SizeResult } from './cluster-bench.js';
import { READ_INTERVAL_MS } from './colour-switch.js';
import { RolloutFailedError } from './rollout-checks.js';
import { renderTable } from './table.js';
import { DEV_MIN_HEALTHY_TIME_MS } from '../dev-cluster/hosts.js';
import { DEFAULT_FLEET_GIVE_UP_S, SMOKE_FLEET_HOSTS, fleetReport, parseFleetSizes, runFleet } from './fleet/fleet-run.js';

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
const EXIT_INTERRUPTED = 130;
/** Host addresses start at .11 of the cluster's /24. */
const MAX_HOSTS = 200;

interface BenchOptions {
  sizes: number[];
  /** Simulated fleet sizes (bench/fleet/), run after the real clusters. */
  fleet: number[];
  fleetGiveUpS: number;
  /** Coordinator processes of each simulated fleet (1 or 2). */
  fleetCoordinators: number;
  runs: number;
  json: string | undefined;
  startDelay: number;
  soak: number;
  healthCheckInterval: number;
  healthCheckTimeout: number;
  ansibleHealthDelay: number;
  ansibleStrategy: 'free' | 'linear';
}

function usage(message: string): never {
  process.stderr.write(
    `bench: ${message}\nusage: npm run bench -- [--sizes 6,12,30] [--fleet 1000,10000] [--fleet-timeout SECONDS] [--fleet-coordinators 1|2] [--runs 3] [--smoke] [--json FILE] [--start-delay SECONDS] [--soak SECONDS] [--health-interval SECONDS] [--health-timeout SECONDS] [--ansible-health-delay SECONDS] [--ansible-strategy free|linear]\n`,
  );
  process.exit(EXIT_USAGE);
}

function parseOptions(argv: string[]): BenchOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        sizes: { type: 'string' },
        fleet: { type: 'string' },
        'fleet-timeout': { type: 'string', default: String(DEFAULT_FLEET_GIVE_UP_S) },
        // Two: the README's two coordinators over one Redis, the agents sharing them.
        'fleet-coordinators': { type: 'string', default: '1' },
        runs: { type: 'string' },
        smoke: { type: 'boolean', default: false },
        json: { type: 'string' },
        // With the agent's 100 ms probe, T is about pull + compose up + this delay: about 2 s here.
        'start-delay': { type: 'string', default: '1.2' },
        // The health gate's soak (minHealthyTimeMs): part of T, as the dev cluster sets it.
        soak: { type: 'string', default: String(DEV_MIN_HEALTHY_TIME_MS / 1000) },
        // Docker's own check only has to catch an unhealthy app; at 30 hosts on one machine a
        // check every second is 30 processes started per second.
        'health-interval': { type: 'string', default: '10' },
        'health-timeout': { type: 'string', default: '5' },
        'ansible-health-delay': { type: 'string', default: '1' },
        'ansible-strategy': { type: 'string', default: 'free' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    usage(error instanceof Error ? error.message : String(error));
  }
  if (parsed.help) usage('measures Grapevine rollouts on local clusters');
  const fleet = parsed.fleet !== undefined ? parseFleetSizes(parsed.fleet) : parsed.smoke ? [SMOKE_FLEET_HOSTS] : [];
  if (typeof fleet === 'string') usage(fleet);
  const fleetGiveUpS = Number(parsed['fleet-timeout']);
  if (!Number.isInteger(fleetGiveUpS) || fleetGiveUpS < 10 || fleetGiveUpS > 3_600) usage('--fleet-timeout takes whole seconds from 10 to 3600');
  const fleetCoordinators = Number(parsed['fleet-coordinators']);
  if (fleetCoordinators !== 1 && fleetCoordinators !== 2) usage('--fleet-coordinators takes 1 or 2');
  // --fleet alone runs only the simulation; with --sizes too, both.
  const sizesText = parsed.sizes ?? (parsed.smoke ? '3' : parsed.fleet !== undefined ? '' : '6,12,30');
  const sizes = sizesText === '' ? [] : sizesText.split(',').map((s) => Number(s.trim()));
  if ((sizesText !== '' && sizes.length === 0) || sizes.some((n) => !Number.isInteger(n) || n < 1 || n > MAX_HOSTS)) usage(`--sizes takes whole numbers from 1 to ${MAX_HOSTS}`);
  if (new Set(sizes).size !== sizes.length) usage('--sizes lists a size twice');
  const runs = Number(parsed.runs ?? (parsed.smoke ? '1' : '3'));
  if (!Number.isInteger(runs) || runs < 1 || runs > 50) usage('--runs takes a whole number from 1 to 50');
  const startDelay = Number(parsed['start-delay']);
  if (!Number.isFinite(startDelay) || startDelay < 0 || startDelay > 60) usage('--start-delay takes seconds from 0 to 60');
  const soak = Number(parsed.soak);
  if (!Number.isFinite(soak) || soak < 0 || soak > 60) usage('--soak takes seconds from 0 to 60');
  const healthCheckInterval = Number(parsed['health-interval']);
  if (!Number.isInteger(healthCheckInterval) || healthCheckInterval < 1 || healthCheckInterval > 60) usage('--health-interval takes whole seconds from 1 to 60');
  const healthCheckTimeout = Number(parsed['health-timeout']);
  if (!Number.isInteger(healthCheckTimeout) || healthCheckTimeout < 1 || healthCheckTimeout > 60) usage('--health-timeout takes whole seconds from 1 to 60');
  const ansibleHealthDelay = Number(parsed['ansible-health-delay']);
  if (!Number.isInteger(ansibleHealthDelay) || ansibleHealthDelay < 0 || ansibleHealthDelay > 10) {
    usage('--ansible-health-delay takes whole seconds from 0 to 10 (Ansible has no finer delay)');
  }
  const ansibleStrategy = parsed['ansible-strategy'];
  if (ansibleStrategy !== 'free' && ansibleStrategy !== 'linear') usage('--ansible-strategy takes free or linear');
  return { sizes, fleet, fleetGiveUpS, fleetCoordinators, runs, json: parsed.json, startDelay, soak, healthCheckInterval, healthCheckTimeout, ansibleHealthDelay, ansibleStrategy };
}

function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 23)}] ${line}\n`);
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (name: NodeJS.Signals) => {
    interrupts += 1;
    if (interrupts === 1) log(`${name}: stopping; the cluster is being taken down, please wait`);
    else log(`${name}: still taking the cluster down`);
    controller.abort(new Error(`interrupted by ${name}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const startedAt = new Date().toISOString();
  const results: SizeResult[] = [];
  let failure: unknown;
  for (const hosts of options.sizes) {
    if (controller.signal.aborted) break;
    try {
      const { result, error } = await benchSize({
        hosts,
        runs: options.runs,
        subnet: `10.220.${hosts}`,
        startDelay: options.startDelay,
        minHealthyTimeMs: Math.round(options.soak * 1000),
        healthCheckInterval: options.healthCheckInterval,
        healthCheckTimeout: options.healthCheckTimeout,
        ansibleHealthDelay: options.ansibleHealthDelay,
        ansibleStrategy: options.ansibleStrategy,
        log,
        signal: controller.signal,
      });
      if (result.runs.length > 0) results.push(result);
      if (error !== undefined) {
        failure = error;
        break;
      }
    } catch (error) {
      failure = error;
      break;
    }
  }

  if (results.length > 0) {
    process.stdout.write(
      [
        '',
        `Grapevine rollout benchmark, ${startedAt} (${cpus().length} CPUs, Node ${process.version}; app start delay ${options.startDelay} s,`,
        `agent health probe every 100 ms, a ${options.soak} s soak after the first healthy answer (inside T), Docker health check every ${options.healthCheckInterval} s with a ${options.healthCheckTimeout} s timeout;`,
        `Ansible: serial = slots, strategy ${options.ansibleStrategy}, forks >= batch, pipelining, health endpoint polled every ${options.ansibleHealthDelay} s).`,
        `Blue/green switch: on HAProxy (servers' state read every ${READ_INTERVAL_MS} ms), from the moment the switch began until every host's new colour`,
        'was at full weight and every old one at 0; to the new colour by a blue/green deploy, back by `grapevine switch`.',
        'Each cell: median [min–max] over runs.',
        ...(failure === undefined ? [] : ['Incomplete: the benchmark stopped early (see the reason below); a column holds the runs done before it.']),
        '',
        renderTable(results),
        '',
      ].join('\n'),
    );
  }
  const fleet = failure === undefined && options.fleet.length > 0 ? await runFleet({ sizes: options.fleet, giveUpS: options.fleetGiveUpS, coordinators: options.fleetCoordinators, log, signal: controller.signal }) : undefined;
  if (fleet && fleet.results.length > 0) process.stdout.write(fleetReport(fleet, startedAt, options.fleetCoordinators));
  if (fleet?.failure !== undefined) failure ??= new Error(fleet.failure);
  if (options.json) {
    writeFileSync(options.json, `${JSON.stringify({ startedAt, options, cpus: cpus().length, node: process.version, sizes: results, fleet: fleet?.results ?? [] }, null, 2)}\n`);
    log(`raw numbers written to ${options.json}`);
  }
  if (controller.signal.aborted) return EXIT_INTERRUPTED;
  if (failure !== undefined) {
    const reason = failure instanceof Error ? failure.message : String(failure);
    log(`${failure instanceof RolloutFailedError ? 'a rollout did not succeed' : 'failed'}: ${reason}`);
    return EXIT_FAILED;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(EXIT_FAILED);
  },
);
