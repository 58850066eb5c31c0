// One host of the local cluster: a holder container that owns the host's network
// namespace and address, the app's compose file (its containers join that namespace),
// and the Grapevine agent, which runs inside the namespace and starts its Serf agent. A host
// of a blue/green environment (DevClusterOptions.blueGreenEnvs) runs the app in two colours:
// two compose projects of one file, blue on APP_PORT and green on APP_PORT + 1.
import { redisSettingOf } from './redis-mode.js';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import type { ClusterContainers } from '../shared/docker/cluster-containers.js';
import { gatewayOf, type DevClusterOptions, type DevClusterState, type DevHostSpec, type DevHostState } from './cluster-state.js';
import { startDetached, stopProcess, type StartedProcess } from './local-process.js';
import { serfKeyFileOf } from './serf-key.js';
import { APP_PORT, BASE_IMAGE, CLI, SAMPLE_ROLE, backendFor } from './sample-app.js';
import { agentLoadBalancerOf } from './lb-relay.js';
import { clusterBackend } from './red-white.js';
import { flagsSettingsOf } from './flags-reader.js';
import { COLOURS, serverName, type Colour } from '../shared/contract/strategy.js';

/** Each colour's port on a blue/green host: blue where a host without colours serves, green next to it. */
export const COLOUR_PORTS: Record<Colour, number> = { blue: APP_PORT, green: APP_PORT + 1 };

function coloured(options: DevClusterOptions, spec: DevHostSpec): boolean {
  return options.blueGreenEnvs?.includes(spec.env) ?? false;
}

/**
 * The agent is a long-lived, mostly idle process that allocates little: a 1 MB young
 * generation instead of V8's default 16 MB keeps about 13 MB off each host's resident
 * memory. The systemd unit sets the same through NODE_OPTIONS.
 */
export const AGENT_NODE_FLAGS = ['--max-semi-space-size=1'];
const AGENT_STOP_GRACE_MS = 8_000;
const SERF_STOP_GRACE_MS = 3_000;
/** The dev cluster's soak: short, so a demo and the tests stay quick; a real service's default is 10 s. */
export const DEV_MIN_HEALTHY_TIME_MS = 1_000;
/** Docker's start period beyond the app's start delay: time for the container to start and httpd to listen. */
const START_PERIOD_MARGIN_S = 10;
const DEFAULT_STEP_DEADLINE_MS = 5 * 60_000;
const STEP_MARGIN_MS = 60_000;

/** Every agent serves its metrics on this port of its host's own address (Prometheus's registered exporter port range). */
export const AGENT_METRICS_PORT = 9464;

/** Label on every container of a cluster, holders and apps, so `down` finds them all. */
export const CLUSTER_LABEL = 'grapevine.dev';

export async function startHost(
  containers: ClusterContainers,
  state: DevClusterState,
  options: DevClusterOptions,
  spec: DevHostSpec,
  address: string,
): Promise<DevHostState> {
  const dir = join(state.dir, 'hosts', spec.name);
  mkdirSync(dir, { recursive: true });
  const holder = `${state.name}-${spec.name}`;
  const project = `${state.name}-${spec.name}-${SAMPLE_ROLE}`;
  const { pid } = await containers.runHolder({
    name: holder,
    hostname: spec.name,
    image: BASE_IMAGE,
    network: state.network,
    ip: address,
    labels: { [CLUSTER_LABEL]: state.name },
  });
  if (options.job) {
    // The job container may run as any user: the folder is the cluster's own, under its directory.
    mkdirSync(jobsDirOf(state), { recursive: true });
    chmodSync(jobsDirOf(state), 0o777);
  }
  const composeFile = join(dir, 'compose.yml');
  writeFileSync(composeFile, toYaml(composeFor(state, options, spec, holder)));
  const agentConfig = join(dir, 'agent.yml');
  writeFileSync(agentConfig, toYaml(agentConfigFor(state, options, spec, { address, dir, composeFile, project })), { mode: 0o600 });
  const host: Omit<DevHostState, 'agent'> = {
    ...spec,
    address,
    holder,
    holderPid: pid,
    netns: `/proc/${pid}/ns/net`,
    agentConfig,
    serfPidFile: join(dir, 'serf', 'serf.pid'),
    serfConfigFile: join(dir, 'serf', 'serf.json'),
    dir,
    project,
    metricsUrl: `http://${address}:${AGENT_METRICS_PORT}/metrics`,
    servers: coloured(options, spec)
      ? COLOURS.map((colour) => ({ name: serverName(spec.name, colour), address: `${address}:${COLOUR_PORTS[colour]}` }))
      : [{ name: serverName(spec.name), address: `${address}:${APP_PORT}` }],
  };
  return { ...host, agent: startAgent(host) };
}

/** Starts the host's agent inside the host's namespace; also what restarts an agent that was stopped. */
export function startAgent(host: Omit<DevHostState, 'agent'>): StartedProcess {
  return startDetached(
    'nsenter',
    [`--net=${host.netns}`, '--', process.execPath, ...AGENT_NODE_FLAGS, CLI, 'agent', '--config', host.agentConfig],
    join(host.dir, 'agent.log'),
    host.agentConfig,
  );
}

/** The Serf agent the host's agent started, by the id the agent recorded; undefined when there is none. */
export function serfAgentOf(host: DevHostState): StartedProcess | undefined {
  if (!existsSync(host.serfPidFile)) return undefined;
  const pid = Number(readFileSync(host.serfPidFile, 'utf8'));
  return pid > 0 ? { pid, marker: host.serfConfigFile } : undefined;
}

export async function stopHostProcesses(host: DevHostState): Promise<void> {
  await stopProcess(host.agent, AGENT_STOP_GRACE_MS);
  // An agent killed without warning leaves its Serf agent behind; end it by its recorded id.
  const serf = serfAgentOf(host);
  if (serf) await stopProcess(serf, SERF_STOP_GRACE_MS);
}

function composeFor(state: DevClusterState, options: DevClusterOptions, spec: DevHostSpec, holder: string): unknown {
  // Both colours share the holder's namespace: each listens on the port its agent passes in GRAPEVINE_PORT.
  const port = coloured(options, spec) ? '${GRAPEVINE_PORT:?set by the grapevine agent}' : String(APP_PORT);
  // The v4-flags tag reads a feature flag of its environment from the coordinator.
  const flags = flagsSettingsOf(state, spec.env);
  return {
    services: {
      app: {
        image: '${GRAPEVINE_IMAGE:?set by the grapevine agent}',
        network_mode: `container:${holder}`,
        // Without a cluster-wide delay the image's own START_DELAY holds, so a tag can start slower than another.
        environment: {
          HOST_NAME: spec.name,
          ...(coloured(options, spec) ? { PORT: port } : {}),
          ...(options.startDelay ? { START_DELAY: String(options.startDelay) } : {}),
          ...flags.environment,
        },
        volumes: flags.volumes,
        healthcheck: {
          test: ['CMD', 'busybox', 'wget', '-q', '-O', '/dev/null', `http://127.0.0.1:${port}/healthz`],
          interval: options.healthCheck?.interval ?? '1s',
          timeout: options.healthCheck?.timeout ?? '1s',
          retries: 2,
          // Docker counts no failure while the app is still in its start delay; the agent's gate has its own deadline.
          start_period: `${Math.ceil(options.startDelay ?? 0) + START_PERIOD_MARGIN_S}s`,
        },
        stop_grace_period: '2s',
        labels: { [CLUSTER_LABEL]: state.name },
      },
      ...(options.job ? { migrate: migrateService(state, options.job, spec) } : {}),
    },
  };
}

/** The sample job: one line per run in the cluster's jobs/runs.log (deploy id, tag, host, ms), failing for the tag `bad`. */
function migrateService(state: DevClusterState, job: { seconds?: number }, spec: DevHostSpec): unknown {
  return {
    image: '${GRAPEVINE_IMAGE:?set by the grapevine agent}',
    // Only `docker compose run` starts it, never `up`.
    profiles: ['job'],
    network_mode: 'none',
    entrypoint: ['/bin/sh', '-c'],
    command: [`busybox sleep ${job.seconds ?? 0} && echo "$$DEPLOY_ID $$TAG $$HOST_NAME $$(date +%s%3N)" >> /jobs/runs.log && echo "migrated for $$TAG" && test "$$TAG" != bad`],
    environment: { DEPLOY_ID: '${GRAPEVINE_DEPLOY_ID:-none}', TAG: '${GRAPEVINE_TAG:-none}', HOST_NAME: spec.name },
    volumes: [`${jobsDirOf(state)}:/jobs`],
    labels: { [CLUSTER_LABEL]: state.name },
  };
}

/** Where the sample job writes its runs.log: one folder for the whole cluster, so a test reads every host's runs. */
export function jobsDirOf(state: Pick<DevClusterState, 'dir'>): string {
  return join(state.dir, 'jobs');
}

function agentConfigFor(
  state: DevClusterState,
  options: DevClusterOptions,
  spec: DevHostSpec,
  where: { address: string; dir: string; composeFile: string; project: string },
): unknown {
  const healthyDeadlineMs = options.healthyDeadlineMs ?? healthDeadlineFor(options.startDelay ?? 0);
  const minHealthyTimeMs = options.minHealthyTimeMs ?? DEV_MIN_HEALTHY_TIME_MS;
  const config = {
    node: spec.name,
    env: spec.env,
    ...(spec.cluster === undefined ? {} : { cluster: spec.cluster }),
    ...(spec.zone === undefined ? {} : { zone: spec.zone }),
    roles: {
      [SAMPLE_ROLE]: {
        compose: where.composeFile,
        service: 'app',
        project: where.project,
        healthyDeadlineMs,
        minHealthyTimeMs,
        ...(coloured(options, spec)
          ? {
              lb: { backend: backendFor(spec.env) },
              colours: Object.fromEntries(COLOURS.map((colour) => [colour, colourOf(where.address, COLOUR_PORTS[colour])])),
            }
          : {
              // The agent shares the app's network namespace, so the app answers on loopback.
              healthUrl: `http://127.0.0.1:${APP_PORT}/healthz`,
              lb: { backend: spec.cluster === undefined ? backendFor(spec.env) : clusterBackend(spec.env, spec.cluster), address: `${where.address}:${APP_PORT}` },
            }),
        ...(options.hooks === undefined ? {} : { hooks: options.hooks }),
        ...(options.job ? { job: { service: 'migrate', timeoutMs: 120_000 } } : {}),
      },
    },
    serf: {
      bind: `${where.address}:7946`,
      rpc: '127.0.0.1:7373',
      join: [`${gatewayOf(state.subnet)}:7946`],
      rpcAuth: state.serfRpcAuth,
      encryptKeyFile: serfKeyFileOf(state),
      dataDir: join(where.dir, 'serf'),
    },
    redis: redisSettingOf(state, 'agent'),
    // The host's own credential: it may report and read only as itself.
    coordinator: { url: state.coordinatorUrls ?? state.coordinatorUrl, token: state.hostTokens?.[spec.name] ?? state.token },
    ...(state.caFile ? { caFile: state.caFile } : {}),
    metrics: { host: where.address, port: AGENT_METRICS_PORT },
    // The health step holds the gate: a long start delay needs more than the default 5 minutes.
    ...(healthyDeadlineMs + minHealthyTimeMs + STEP_MARGIN_MS > DEFAULT_STEP_DEADLINE_MS ? { stepDeadlineMs: healthyDeadlineMs + minHealthyTimeMs + STEP_MARGIN_MS } : {}),
    logLevel: options.logLevel ?? 'info',
  };
  return { ...config, loadBalancer: agentLoadBalancerOf(state, config.coordinator.token) };
}

/** One colour of a blue/green host: where HAProxy reaches it, and its health URL on loopback (the agent shares its namespace). */
function colourOf(address: string, port: number): { address: string; healthUrl: string } {
  return { address: `${address}:${port}`, healthUrl: `http://127.0.0.1:${port}/healthz` };
}

/** The sample app's deadline to become healthy: its start delay and 30 s for the rest (short, so `web:bad` fails within a demo). */
export function healthDeadlineFor(startDelayS: number): number {
  return Math.ceil(startDelayS * 1000) + 30_000;
}
