// `grapevine dev up|down|status|chaos|traffic`: the local cluster from the command line. Only the
// wiring lives here (flags, validation, printing); the cluster itself is dev-cluster/,
// imported when a dev command runs so other commands never load it.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { ValidationError, errorMessage } from '../shared/contract/errors.js';
import { RoleHooks } from '../shared/contract/role-config.js';
import { parseOrThrow } from '../shared/contract/schemas.js';
import { zoneName } from '../shared/contract/zone-rule.js';
import type { Chaos, ChaosOutcome, DevCluster, DevClusterOptions } from '../dev-cluster/dev-cluster.js';
import { registerTrafficCommand } from './dev-traffic-command.js';

/** The harness, loaded only when a dev command runs. */
function harness(): Promise<typeof import('../dev-cluster/dev-cluster.js')> {
  return import('../dev-cluster/dev-cluster.js');
}

export const DEV_DEFAULTS: Pick<DevClusterOptions, 'name' | 'dir' | 'subnet' | 'ports'> = {
  name: 'grapevine-dev',
  dir: join(homedir(), '.grapevine', 'dev'),
  subnet: '10.213.0',
  ports: { coordinator: 7700, redis: 6399, registry: 5055, lb: 8800, stagingLb: 8801, serfRpc: 7373, coordinator2: 7703, serfRpc2: 7374, accessLog: 7702, routedLb: 8802 },
};

const MAX_HOSTS = 200;
/**
 * The sample app's longest start delay: three waves of hosts each waiting this long (the
 * health gate's deadline follows the delay) end well within the coordinator's 30-minute
 * deploy deadline.
 */
const MAX_START_DELAY_S = 300;

function count(value: string, what: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > MAX_HOSTS) throw new ValidationError(`${what} must be a whole number from 0 to ${MAX_HOSTS}, not "${value}"`);
  return n;
}

/** The hooks file of `dev up --hooks`, checked as an agent's config would check it. */
async function readHooks(file: string): Promise<RoleHooks> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ValidationError(`--hooks: cannot read ${file}: ${errorMessage(error)}`);
  }
  // Loaded here only: no other command reads YAML.
  const { parse } = await import('yaml');
  let parsed: unknown;
  try {
    parsed = parse(text);
  } catch (error) {
    throw new ValidationError(`--hooks: ${file} is not valid YAML or JSON: ${errorMessage(error)}`);
  }
  return parseOrThrow(RoleHooks, parsed, `--hooks ${file}`);
}

export function registerDevCommands(program: Command, output: Output): void {
  const dev = program.command('dev').description('a whole local cluster on this machine (needs root)');
  const dirOption = () => new Option('--dir <dir>', 'where the cluster keeps its state').default(DEV_DEFAULTS.dir);

  dev
    .command('up')
    .description('start registry, Redis, HAProxy, the coordinator and N hosts, each with its own address')
    .option('--hosts <n>', 'production hosts', '6')
    .option('--staging <n>', 'staging hosts', '3')
    .option('--no-promote', 'do not promote a successful staging deploy to production')
    .option('--start-delay <seconds>', "seconds the sample app waits before serving", '0')
    .option('--hooks <file>', "YAML or JSON file of the sample app's hooks on every host, e.g. {afterRegister: {command: [/path/smoke-test]}}")
    .option('--job [seconds]', "give the sample app a once-per-deploy migrate job taking SECONDS (0 unless given); it exits 1 for the tag bad")
    .option('--tls', "make a local CA for the cluster: the coordinator and the load balancer's relay serve HTTPS, the hosts and the CLI verify them with it")
    .option('--blue-green <env>', 'the hosts of ENV (production or staging) run the sample app in two colours, blue and green')
    .option('--coordinators <n>', 'coordinators over the same Redis: 1, or 2 (one leads by a Redis lease; the hosts and the CLI get both URLs)', '1')
    .option('--red-white <n>', 'N more hosts m1..mN of environment mobile, half in cluster red and half in white, behind a frontend that routes client versions to clusters', '0')
    .option('--zones <list>', "zones given to the hosts round-robin in each environment (Serf tag zone), e.g. a,b,c")
    .option('--redis <mode>', 'single (one server), cluster (three masters, Redis Cluster) or sentinel (a primary and a replica behind three Sentinels)', 'single')
    .addOption(dirOption())
    .action(async (options: { hosts: string; staging: string; startDelay: string; dir: string; promote: boolean; hooks?: string; job?: string | true; tls?: boolean; blueGreen?: string; redWhite: string; coordinators: string; redis: string; zones?: string }) => {
      if (!['single', 'cluster', 'sentinel'].includes(options.redis)) throw new ValidationError(`--redis must be single, cluster or sentinel, not "${options.redis}"`);
      if (options.coordinators !== '1' && options.coordinators !== '2') throw new ValidationError(`--coordinators must be 1 or 2, not "${options.coordinators}"`);
      if (options.blueGreen !== undefined && !['production', 'staging'].includes(options.blueGreen)) throw new ValidationError(`--blue-green must be production or staging, not "${options.blueGreen}"`);
      const blueGreen = options.blueGreen === undefined ? {} : { blueGreenEnvs: [options.blueGreen] };
      const production = count(options.hosts, '--hosts');
      const staging = count(options.staging, '--staging');
      if (production + staging === 0) throw new ValidationError('--hosts and --staging add up to 0: a cluster needs at least one host');
      const startDelay = Number(options.startDelay);
      if (!(startDelay >= 0 && startDelay <= MAX_START_DELAY_S)) {
        throw new ValidationError(`--start-delay must be 0 to ${MAX_START_DELAY_S} seconds, not "${options.startDelay}"`);
      }
      const jobSeconds = options.job === true ? 0 : Number(options.job ?? 0);
      if (!(Number.isInteger(jobSeconds) && jobSeconds >= 0 && jobSeconds <= 600)) throw new ValidationError(`--job must be 0 to 600 whole seconds, not "${String(options.job)}"`);
      const job = options.job === undefined ? {} : { job: { seconds: jobSeconds } };
      const redWhite = count(options.redWhite, '--red-white');
      const zones = options.zones === undefined ? [] : options.zones.split(',').map((zone) => parseOrThrow(zoneName, zone.trim(), '--zones'));
      const { DevCluster, defaultHosts, redWhiteHosts, inZones } = await harness();
      const cluster = await DevCluster.up(
        { ...DEV_DEFAULTS, dir: options.dir, hosts: inZones([...defaultHosts(production, staging), ...redWhiteHosts(redWhite)], zones), startDelay, promote: options.promote, ...(options.hooks === undefined ? {} : { hooks: await readHooks(options.hooks) }), ...job, ...blueGreen, tls: options.tls === true, coordinators: options.coordinators === '2' ? 2 : 1, redis: options.redis as 'single' | 'cluster' | 'sentinel' },
        (line) => process.stderr.write(`dev: ${line}\n`),
      );
      output.print((await harness()).printedState(cluster.state), await describe(cluster));
    });

  dev
    .command('down')
    .description('stop and remove everything `dev up` started')
    .addOption(dirOption())
    .action(async (options: { dir: string }) => {
      const { DevCluster } = await harness();
      const cluster = DevCluster.attach(options.dir);
      if (!cluster) {
        output.print({ removed: false }, `no local cluster recorded in ${options.dir}`);
        return;
      }
      await cluster.down();
      output.print({ removed: true }, 'local cluster removed');
    });

  dev
    .command('status')
    .description('where the load balancer and the coordinator answer, and which hosts run')
    .addOption(dirOption())
    .action(async (options: { dir: string }) => {
      const { DevCluster } = await harness();
      const cluster = DevCluster.attach(options.dir);
      if (!cluster) throw new ValidationError(`no local cluster recorded in ${options.dir}: run grapevine dev up`);
      output.print((await harness()).printedState(cluster.state), await describe(cluster));
    });

  registerChaosCommands(dev, output, dirOption);
  registerTrafficCommand(dev, output, DEV_DEFAULTS.dir);
}

type Output = { print(value: unknown, text: string): void };

/** `dev chaos VERB`: one fault into the local cluster, printed as one line (or JSON). */
function registerChaosCommands(dev: Command, output: Output, dirOption: () => Option): void {
  const chaos = dev.command('chaos').description('put a fault into the local cluster, to rehearse or test what Grapevine does under it');
  type VerbOptions = { dir: string; for?: string };
  const verb = (name: string, description: string, run: (chaos: Chaos, args: string[], seconds: number | undefined) => Promise<ChaosOutcome>, forOption?: Option) => {
    const command = chaos.command(name).description(description).addOption(dirOption());
    if (forOption) command.addOption(forOption);
    command.action(async (...args: unknown[]) => {
      // Commander passes the positionals, the options and last the command itself.
      const self = args.at(-1) as Command;
      const options = self.opts<VerbOptions>();
      const { Chaos, faultSeconds } = await harness();
      const seconds = options.for === undefined ? undefined : faultSeconds(options.for);
      const outcome = await run(new Chaos(options.dir), self.processedArgs as string[], seconds);
      output.print(outcome, outcome.text);
    });
  };
  const forOption = () => new Option('--for <seconds>', 'undo the fault by itself after this many seconds (1 to 600)');

  verb('kill-agent <host>', "SIGKILL the host's agent and its Serf agent", (c, [host]) => c.killAgent(host!));
  verb('restart-agent <host>', "start the host's agent again (stopping it first if it runs)", (c, [host]) => c.restartAgent(host!));
  verb('kill-redis', "SIGKILL the cluster's Redis", (c) => c.killRedis());
  verb('restart-redis', 'start Redis again on the same port with the same data dir', (c) => c.restartRedis());
  verb('stop-coordinator', 'stop the coordinator; with --for, start it again after', (c, _, seconds) => c.stopCoordinator(seconds), forOption());
  verb('restart-coordinator', 'start the coordinator again (stopping it first if it runs)', (c) => c.restartCoordinator());
  verb(
    'partition <host>',
    "cut all the host's traffic but loopback inside its namespace, healed by itself after --for",
    (c, [host], seconds) => c.partition(host!, seconds!),
    forOption().makeOptionMandatory(),
  );
  verb('reload-haproxy', "reload HAProxy's config gracefully (SIGUSR2 to its master)", (c) => c.reloadHaproxy());

  // The detached helper that undoes a --for fault when its time is up; started by the verbs, not by hand.
  chaos
    .command('heal', { hidden: true })
    .addOption(dirOption())
    .requiredOption('--id <id>')
    .requiredOption('--action <action>')
    .requiredOption('--at <ms>')
    .option('--host <host>')
    .action(async (options: { dir: string; id: string; action: string; at: string; host?: string }) => {
      const { healAction, runHeal } = await harness();
      const dueAt = Number(options.at);
      if (!Number.isSafeInteger(dueAt)) throw new ValidationError(`--at must be a time in ms since the epoch, not "${options.at}"`);
      const heal = { id: options.id, action: healAction(options.action), dueAt, ...(options.host === undefined ? {} : { host: options.host }) };
      await runHeal(options.dir, heal, (line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`));
    });
}

async function describe(cluster: DevCluster): Promise<string> {
  const { state } = cluster;
  const { isRunning, secretsFileOf } = await harness();
  const services = Object.entries(state.processes).map(([name, p]) => `  ${name.padEnd(12)} ${p && isRunning(p) ? 'running' : 'STOPPED'}`);
  const hosts = state.hosts.map((h) => `  ${h.name.padEnd(12)} ${h.address.padEnd(14)} ${h.env.padEnd(11)} agent ${isRunning(h.agent) ? 'running' : 'STOPPED'}${h.metricsUrl ? `  metrics ${h.metricsUrl}` : ''}${h.servers && h.servers.length > 1 ? `  servers ${h.servers.map((server) => `${server.name} ${server.address}`).join(', ')}` : ''}`);
  const heals = (state.heals ?? []).map((h) => `  ${h.action}${h.host ? ` ${h.host}` : ''} at ${new Date(h.dueAt).toISOString()} (helper pid ${h.helper.pid})`);
  return [
    `load balancer: ${state.lbUrl} (production), ${state.stagingLbUrl} (staging)${state.routedLbUrl ? `, ${state.routedLbUrl} (mobile, routed by X-Client-Version)` : ''}`,
    `coordinator:   ${state.coordinatorUrl}`,
    `metrics:       ${state.coordinatorUrl}/metrics (a viewer token or above as bearer), each agent's below`,
    `dashboard:     ${state.coordinatorUrl}/ui (sign in with GRAPEVINE_TOKEN from the secrets file below, or a token of your own)`,
    ...(state.caFile ? [`CA file:       ${state.caFile} (GRAPEVINE_CA_FILE in the secrets file)`] : []),
    `registry:      ${state.registry}`,
    'services:',
    ...services,
    'hosts:',
    ...hosts,
    ...(heals.length > 0 ? ['chaos to heal by itself:', ...heals] : []),
    // The secrets stay in their 0600 file: printed, they would end up in terminals and CI logs.
    `to use the CLI against it (the token, the Serf RPC and the Redis admin secrets): source ${secretsFileOf(state)}`,
  ].join('\n');
}
