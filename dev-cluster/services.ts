// The cluster's shared services, each a local process started from a config file in the
// cluster's dir: Redis, the registry, HAProxy and the coordinator. Each start function can
// be called again on a stopped service (a later `dev chaos restart-redis` does that).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { stringify as toYaml } from 'yaml';
import { haproxyConfig } from '../shared/haproxy/haproxy-config.js';
import { errorMessage } from '../shared/contract/errors.js';
import { pollUntil } from '../shared/contract/waiting.js';
import { DevClusterError } from './dev-cluster-error.js';
import { gatewayOf, type DevClusterState } from './cluster-state.js';
import { serverTlsOf } from './cluster-tls.js';
import { CoordinatorClient } from '../shared/coordinator-http/coordinator-client.js';
import { passwordOf, writeRedisConfig } from './redis-acl.js';
import { redisSettingOf } from './redis-mode.js';
import { startDetached, type StartedProcess } from './local-process.js';
import { serfKeyFileOf } from './serf-key.js';
import { writeNotificationFiles, type DevNotificationTarget } from './notification-files.js';
import { CLI, PROJECT_ROOT, SAMPLE_ROLE, backendFor } from './sample-app.js';
import { ROUTED_FRONTEND } from './red-white.js';
import type { RoutedFrontend } from '../shared/haproxy/routed-frontend.js';

const START_TIMEOUT_MS = 15_000;
const COORDINATOR_START_TIMEOUT_MS = 30_000;
const LOG_TAIL_LINES = 15;
/** Each start-up check's own bound, so one hung call cannot hold the poll past its deadline. */
const CHECK_TIMEOUT_MS = 2_000;
/** The script an operator's reload runs too (provisioning/haproxy/), so the fault tests rehearse it. */
const SAVE_SERVERS_SCRIPT = join(PROJECT_ROOT, 'provisioning', 'haproxy', 'save-servers.sh');
const SAVE_SERVERS_TIMEOUT_MS = 15_000;

/** Redis starts from its config file (dev-cluster/redis-acl.ts): its users' passwords never reach a command line. */
export function startRedis(state: DevClusterState): StartedProcess {
  const port = state.ports.redis;
  const dir = join(state.dir, 'redis');
  mkdirSync(dir, { recursive: true });
  const config = writeRedisConfig(state, ['127.0.0.1', gatewayOf(state.subnet)], dir);
  return startDetached('redis-server', [config], join(state.dir, 'redis.log'), `:${port}`);
}

/** Asks as the admin user, the password in redis-cli's environment (REDISCLI_AUTH), never its arguments. */
export async function untilRedisAnswers(state: DevClusterState): Promise<void> {
  const args = ['-h', '127.0.0.1', '-p', String(state.ports.redis), '--user', 'admin', 'ping'];
  const env = { REDISCLI_AUTH: passwordOf(state.redisUsers.admin) };
  const ping = async () => ((await execa('redis-cli', args, { env, stdin: 'ignore', timeout: CHECK_TIMEOUT_MS })).stdout === 'PONG' ? true : undefined);
  await withLogTail(pollUntil('redis', ping, { timeoutMs: START_TIMEOUT_MS }), join(state.dir, 'redis.log'));
}

/** Where the cluster's registry keeps what is pushed to it (dev-cluster/registry-seed.ts fills it before a start). */
export function registryStorageOf(state: Pick<DevClusterState, 'dir'>): string {
  return join(state.dir, 'registry');
}

export function startRegistry(state: DevClusterState): StartedProcess {
  const config = join(state.dir, 'registry.yml');
  writeFileSync(
    config,
    toYaml({ version: 0.1, log: { level: 'warn' }, storage: { filesystem: { rootdirectory: registryStorageOf(state) } }, http: { addr: state.registry } }),
  );
  return startDetached('docker-registry', ['serve', config], join(state.dir, 'registry.log'), config);
}

export async function untilRegistryAnswers(state: DevClusterState): Promise<void> {
  const answers = async () => ((await fetch(`http://${state.registry}/v2/`, { signal: AbortSignal.timeout(CHECK_TIMEOUT_MS) })).ok ? true : undefined);
  await withLogTail(pollUntil('the registry', answers, { timeoutMs: START_TIMEOUT_MS }), join(state.dir, 'registry.log'));
}

/** One frontend per environment, each on its own backend, as each would have its own load balancer. */
export function startHaproxy(state: DevClusterState, routed?: RoutedFrontend): StartedProcess {
  const { config, serverStateFile } = haproxyFiles(state);
  writeFileSync(
    config,
    haproxyConfig({
      frontendBind: `127.0.0.1:${state.ports.lb}`,
      backends: [backendFor('production'), backendFor('staging'), ...(routed?.clusters.map((c) => c.backend) ?? [])],
      ...(routed ? { routedFrontends: [routed] } : {}),
      runtimeSocket: state.runtimeSocket,
      extraFrontends: [{ bind: `127.0.0.1:${state.ports.stagingLb}`, backend: backendFor('staging') }],
      serverStateFile,
      // Each request's line to the relay, which counts every server's traffic for the canary judge.
      ...(accessLogOf(state) ? { accessLog: accessLogOf(state) } : {}),
    }),
  );
  // An empty state file, so that the first start reads one instead of warning that none exists.
  if (!existsSync(serverStateFile)) writeFileSync(serverStateFile, '');
  // Master-worker (-W): a reload (SIGUSR2 to the master) starts new workers from the config
  // and lets the old ones finish, while the master, the recorded id, stays the same.
  return startDetached('haproxy', ['-W', '-f', config, '-db'], join(state.dir, 'haproxy.log'), config);
}

/**
 * What a reload must keep: the registered servers go into the config's backends and their
 * states into the server-state file, from which the new worker starts, as on a production
 * load balancer whose reload runs the same script.
 */
export async function saveHaproxyServers(state: DevClusterState): Promise<string> {
  const { config, serverStateFile } = haproxyFiles(state);
  const args = ['--socket', state.runtimeSocket, '--state-file', serverStateFile, '--config', config];
  const saved = await execa(SAVE_SERVERS_SCRIPT, args, { stdin: 'ignore', reject: false, all: true, timeout: SAVE_SERVERS_TIMEOUT_MS });
  if (saved.exitCode !== 0) throw new DevClusterError(`saving HAProxy's servers before the reload failed (exit ${saved.exitCode ?? 'none'}): ${String(saved.all).trim()}`);
  return String(saved.stdout).trim().replace(/^save-servers: /, '');
}

/** Where HAProxy sends its access log and the relay receives it; none on a cluster recorded before it had a port for it. */
export function accessLogOf(state: Pick<DevClusterState, 'ports'>): string | undefined {
  return state.ports.accessLog === undefined ? undefined : `127.0.0.1:${state.ports.accessLog}`;
}

function haproxyFiles(state: DevClusterState): { config: string; serverStateFile: string } {
  return { config: join(state.dir, 'haproxy.cfg'), serverStateFile: join(state.dir, 'haproxy-server-state') };
}

/** `join` lists the hosts' Serf addresses, so a restarted coordinator rejoins the fleet by itself. */
export function startCoordinator(state: DevClusterState, options: CoordinatorOptions, which: CoordinatorIndex = 1): StartedProcess {
  writeCoordinatorConfig(state, options, which);
  return restartCoordinator(state, which);
}

/** Starts the coordinator from the config its first start wrote, as a restart after a stop does. */
export function restartCoordinator(state: DevClusterState, which: CoordinatorIndex = 1): StartedProcess {
  const { configFile, logFile } = coordinatorInstance(state, which);
  return startDetached(process.execPath, [CLI, 'coordinator', '--config', configFile], logFile, configFile);
}

/** The first coordinator, or the second of a cluster brought up with `--coordinators 2` (README, "Two coordinators"). */
export type CoordinatorIndex = 1 | 2;

/** Where each coordinator of the cluster listens, gossips and keeps its files: the first as before, the second beside it. */
export function coordinatorInstance(state: DevClusterState, which: CoordinatorIndex) {
  const gateway = gatewayOf(state.subnet);
  const suffix = which === 1 ? '' : `-${which}`;
  const port = which === 1 ? state.ports.coordinator : state.ports.coordinator2;
  const serfRpcPort = which === 1 ? undefined : state.ports.serfRpc2;
  if (port === undefined || (which !== 1 && serfRpcPort === undefined)) throw new DevClusterError(`the cluster has no ports for coordinator ${which} (ports.coordinator2, ports.serfRpc2)`);
  return {
    name: `grapevine-coordinator${suffix}`,
    url: `${state.caFile ? 'https' : 'http'}://${gateway}:${port}`,
    port,
    serfBind: `${gateway}:${7945 + which}`,
    serfRpc: serfRpcPort === undefined ? state.serfRpc : `127.0.0.1:${serfRpcPort}`,
    dataDir: join(state.dir, `coordinator${suffix}-serf`),
    configFile: join(state.dir, `coordinator${suffix}.yml`),
    logFile: join(state.dir, `coordinator${suffix}.log`),
  };
}

interface CoordinatorOptions {
  promote: boolean;
  logLevel: string;
  join: string[];
  notifications?: readonly DevNotificationTarget[];
  /** The sample app's strategies (DevClusterOptions.strategies); the backends are the cluster's own. */
  strategies?: Record<string, unknown>;
  quarantineGraceMs?: number;
  /** The environment whose hosts carry clusters: the coordinator keeps its routes for the routed frontend. */
  routedEnv?: string;
}

/**
 * The sample app's strategies unless a test sets its own: short enough for a demo (a canary of 2
 * hosts judged for 10 s at 25 % and 10 s at 50 %, per second; the old colour kept 2 minutes).
 */
const DEV_STRATEGIES = {
  canary: { hosts: 2, steps: [{ percent: 25, windowMs: 10_000 }, { percent: 50, windowMs: 10_000 }], subWindowMs: 1_000 },
  blueGreen: { keepOldMs: 120_000 },
};

/** The operator token the coordinator presents to the relay (0600): minted once the coordinator answers, read by it at each use. */
export const coordinatorRelayTokenFile = (state: Pick<DevClusterState, 'dir'>) => join(state.dir, 'coordinator-lb.token');

function writeCoordinatorConfig(state: DevClusterState, options: CoordinatorOptions, which: CoordinatorIndex): void {
  const gateway = gatewayOf(state.subnet);
  const instance = coordinatorInstance(state, which);
  writeFileSync(
    instance.configFile,
    toYaml({
      name: instance.name,
      listen: { host: gateway, port: instance.port },
      ...(state.caFile ? { tls: serverTlsOf(state, 'coordinator') } : {}),
      redis: redisSettingOf(state, 'coordinator'),
      token: state.token,
      registry: state.registry,
      // The cluster's own registry, on loopback and served over plain http: the one place images may come from.
      registries: [{ address: state.registry, plainHttp: true }],
      serf: { bind: instance.serfBind, rpc: instance.serfRpc, rpcAuth: state.serfRpcAuth, encryptKeyFile: serfKeyFileOf(state), dataDir: instance.dataDir, join: options.join },
      promote: options.promote ? { [SAMPLE_ROLE]: { from: 'staging', to: 'production' } } : {},
      ...(options.notifications?.length ? { notifications: writeNotificationFiles(state, options.notifications) } : {}),
      // Canary weights and figures, blue/green switches: through the relay, as an operator credential of its own.
      ...(state.relayUrl ? { loadBalancer: { relay: { url: state.relayUrl, tokenFile: coordinatorRelayTokenFile(state), ...(state.caFile ? { caFile: state.caFile } : {}) } } } : {}),
      ...(options.quarantineGraceMs === undefined ? {} : { quarantine: { graceMs: options.quarantineGraceMs } }),
      ...(options.routedEnv ? { routing: { [SAMPLE_ROLE]: { [options.routedEnv]: { frontend: ROUTED_FRONTEND } } } } : {}),
      strategies: { [SAMPLE_ROLE]: { ...DEV_STRATEGIES, ...options.strategies, backends: { production: backendFor('production'), staging: backendFor('staging') } } },
      logLevel: options.logLevel,
    }),
    { mode: 0o600 },
  );
}

export async function untilCoordinatorAnswers(state: DevClusterState, which: CoordinatorIndex = 1): Promise<void> {
  const { url, logFile } = coordinatorInstance(state, which);
  // Through the client the CLI uses, so an HTTPS coordinator is checked against the cluster's CA.
  const client = new CoordinatorClient({ url, token: state.token, caFile: state.caFile, timeoutMs: CHECK_TIMEOUT_MS });
  const healthy = async () => (await client.health()).ok;
  await withLogTail(pollUntil(which === 1 ? 'the coordinator' : `coordinator ${which}`, healthy, { timeoutMs: COORDINATOR_START_TIMEOUT_MS }), logFile);
}

/** A service that does not come up says why in its log, which `down` removes: the error carries its last lines. */
export async function withLogTail(started: Promise<unknown>, logFile: string): Promise<void> {
  try {
    await started;
  } catch (error) {
    const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-LOG_TAIL_LINES).join('\n') : '(no log)';
    throw new DevClusterError(`${errorMessage(error)}; the last lines of ${logFile}:\n${tail}`, { cause: error });
  }
}
