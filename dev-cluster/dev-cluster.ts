// A whole Grapevine fleet on one machine: a registry, Redis, HAProxy, the coordinator,
// and hosts that each have their own network namespace and address (a small holder
// container on a private Docker network), their own Serf agent and Grapevine agent.
// The app containers join their host's namespace, so each answers on its host's address.
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { stringify as toYaml } from 'yaml';
import { CoordinatorClient } from '../shared/coordinator-http/coordinator-client.js';
import { SerfCli } from '../shared/serf/serf-cli.js';
import { haproxyConfig } from '../shared/haproxy/haproxy-config.js';
import { pollUntil } from '../shared/contract/waiting.js';
import { freePort, startDetached, stopProcess, type StartedProcess } from './local-process.js';

export interface ClusterPorts {
  coordinator: number;
  redis: number;
  registry: number;
  lb: number;
  stagingLb: number;
  serfRpc: number;
}

/** A port for each of a cluster's services, for clusters (tests, benchmarks) that must not collide with another. */
export async function freeClusterPorts(): Promise<ClusterPorts> {
  return {
    coordinator: await freePort(),
    redis: await freePort(),
    registry: await freePort(),
    lb: await freePort(),
    stagingLb: await freePort(),
    serfRpc: await freePort(),
  };
}

export const PROJECT_ROOT = findProjectRoot(dirname(fileURLToPath(import.meta.url)));
/**
 * The built CLI: one bundle (esbuild) rather than the compiled module tree, because Node
 * resolves and compiles hundreds of small modules at every start; the bundle starts in
 * about two thirds of the time, which every `grapevine deploy` pays.
 */
export const CLI = join(PROJECT_ROOT, 'dist', 'bundle', 'main.js');
const BASE_IMAGE = 'grapevine-base:bookworm';
export const SAMPLE_ROLE = 'web';
export const SAMPLE_TAGS = ['v1', 'v2', 'bad'] as const;
export const APP_PORT = 8080;
/**
 * The agent is a long-lived, mostly idle process that allocates little: a 1 MB young
 * generation instead of V8's default 16 MB keeps about 13 MB off each host's resident
 * memory. The systemd unit sets the same through NODE_OPTIONS.
 */
export const AGENT_NODE_FLAGS = ['--max-semi-space-size=1'];

export interface DevHostSpec {
  name: string;
  env: string;
}

export interface DevClusterOptions {
  /** Prefix of every Docker resource and compose project of this cluster. */
  name: string;
  dir: string;
  /** First three octets of the cluster's private /24, e.g. "10.213.0". */
  subnet: string;
  hosts: DevHostSpec[];
  /** `lb` serves production; `stagingLb` serves the staging hosts. */
  ports: ClusterPorts;
  /** Seconds the sample app waits before it serves, to make a deploy's progress visible. */
  startDelay?: number;
  healthTimeoutMs?: number;
  /**
   * Docker's health check of the app, every second with a 1 s timeout unless set, so that
   * a bad release fails fast; the agents' own probe of the app decides when it is healthy.
   */
  healthCheck?: { interval: string; timeout: string };
  /** Whether a successful staging deploy of the sample app promotes itself to production. */
  promote?: boolean;
  logLevel?: string;
}

export interface DevHostState extends DevHostSpec {
  address: string;
  holder: string;
  agent: StartedProcess;
  dir: string;
  project: string;
}

export interface DevClusterState {
  name: string;
  dir: string;
  subnet: string;
  network: string;
  token: string;
  serfRpcAuth: string;
  coordinatorUrl: string;
  lbUrl: string;
  stagingLbUrl: string;
  redisUrl: string;
  registry: string;
  serfRpc: string;
  runtimeSocket: string;
  processes: Partial<Record<'redis' | 'registry' | 'haproxy' | 'coordinator', StartedProcess>>;
  hosts: DevHostState[];
}

export function defaultHosts(production: number, staging: number): DevHostSpec[] {
  return [
    ...Array.from({ length: production }, (_, i) => ({ name: `h${i + 1}`, env: 'production' })),
    ...Array.from({ length: staging }, (_, i) => ({ name: `s${i + 1}`, env: 'staging' })),
  ];
}

export function readClusterState(dir: string): DevClusterState | undefined {
  const file = join(dir, 'state.json');
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as DevClusterState;
}

export class DevCluster {
  private constructor(readonly state: DevClusterState) {}

  static attach(dir: string): DevCluster | undefined {
    const state = readClusterState(dir);
    return state ? new DevCluster(state) : undefined;
  }

  /** Brings the whole cluster up; on any failure, removes what it had started and rethrows. */
  static async up(options: DevClusterOptions, log: (line: string) => void = () => {}): Promise<DevCluster> {
    if (readClusterState(options.dir)) throw new Error(`a cluster is already recorded in ${options.dir}; run dev down first`);
    await checkPrerequisites();
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    const gateway = `${options.subnet}.1`;
    const state: DevClusterState = {
      name: options.name,
      dir: options.dir,
      subnet: options.subnet,
      network: options.name,
      token: randomBytes(18).toString('base64url'),
      serfRpcAuth: randomBytes(18).toString('base64url'),
      coordinatorUrl: `http://${gateway}:${options.ports.coordinator}`,
      lbUrl: `http://127.0.0.1:${options.ports.lb}`,
      stagingLbUrl: `http://127.0.0.1:${options.ports.stagingLb}`,
      redisUrl: `redis://${gateway}:${options.ports.redis}`,
      registry: `127.0.0.1:${options.ports.registry}`,
      serfRpc: `127.0.0.1:${options.ports.serfRpc}`,
      runtimeSocket: join(options.dir, 'haproxy.sock'),
      processes: {},
      hosts: [],
    };
    const cluster = new DevCluster(state);
    cluster.save();
    try {
      await cluster.start(options, log);
      return cluster;
    } catch (error) {
      log(`bring-up failed, removing what was started: ${error instanceof Error ? error.message : String(error)}`);
      await cluster.down();
      throw error;
    }
  }

  client(): CoordinatorClient {
    return new CoordinatorClient({ url: this.state.coordinatorUrl, token: this.state.token });
  }

  serf(): SerfCli {
    return new SerfCli({ rpcAddr: this.state.serfRpc, rpcAuth: this.state.serfRpcAuth });
  }

  /** Environment for running the `grapevine` CLI against this cluster. */
  cliEnv(): Record<string, string> {
    return {
      GRAPEVINE_COORDINATOR: this.state.coordinatorUrl,
      GRAPEVINE_TOKEN: this.state.token,
      GRAPEVINE_SERF_RPC: this.state.serfRpc,
      GRAPEVINE_SERF_RPC_AUTH: this.state.serfRpcAuth,
    };
  }

  /** Stops and removes everything this cluster started, in reverse order. Safe on a partial cluster. */
  async down(): Promise<void> {
    const { state } = this;
    await Promise.all(state.hosts.map((host) => stopAgent(host)));
    const { coordinator, haproxy, registry, redis } = state.processes;
    for (const process of [coordinator, haproxy, registry, redis]) if (process) await stopProcess(process);
    const containers = await docker(['ps', '-aq', '--filter', `label=grapevine.dev=${state.name}`]).catch(() => '');
    const appContainers = await Promise.all(
      state.hosts.map((host) => docker(['ps', '-aq', '--filter', `label=com.docker.compose.project=${host.project}`]).catch(() => '')),
    );
    const ids = [...appContainers, containers].join('\n').split('\n').filter(Boolean);
    if (ids.length > 0) await docker(['rm', '-f', ...ids]).catch(() => '');
    await docker(['network', 'rm', state.network]).catch(() => '');
    rmSync(state.dir, { recursive: true, force: true });
  }

  private save(): void {
    writeFileSync(join(this.state.dir, 'state.json'), JSON.stringify(this.state, null, 2), { mode: 0o600 });
  }

  private async start(options: DevClusterOptions, log: (line: string) => void): Promise<void> {
    const { state } = this;
    const gateway = `${options.subnet}.1`;
    log(`network ${state.network} (${options.subnet}.0/24)`);
    await docker(['network', 'create', '--subnet', `${options.subnet}.0/24`, '--gateway', gateway, '--label', `grapevine.dev=${state.name}`, state.network]);

    log(`redis on ${gateway}:${options.ports.redis}`);
    mkdirSync(join(state.dir, 'redis'), { recursive: true });
    state.processes.redis = startDetached(
      'redis-server',
      ['--bind', `127.0.0.1 ${gateway}`, '--port', String(options.ports.redis), '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--dir', join(state.dir, 'redis')],
      join(state.dir, 'redis.log'),
      `:${options.ports.redis}`,
    );
    this.save();

    log(`registry on ${state.registry}`);
    const registryConfig = join(state.dir, 'registry.yml');
    writeFileSync(
      registryConfig,
      toYaml({ version: 0.1, log: { level: 'warn' }, storage: { filesystem: { rootdirectory: join(state.dir, 'registry') } }, http: { addr: state.registry } }),
    );
    state.processes.registry = startDetached('docker-registry', ['serve', registryConfig], join(state.dir, 'registry.log'), registryConfig);
    this.save();

    log(`haproxy on ${state.lbUrl}`);
    const haproxyFile = join(state.dir, 'haproxy.cfg');
    writeFileSync(
      haproxyFile,
      haproxyConfig({
        frontendBind: `127.0.0.1:${options.ports.lb}`,
        backends: [backendFor('production'), backendFor('staging')],
        runtimeSocket: state.runtimeSocket,
        extraFrontends: [{ bind: `127.0.0.1:${options.ports.stagingLb}`, backend: backendFor('staging') }],
      }),
    );
    state.processes.haproxy = startDetached('haproxy', ['-f', haproxyFile, '-db'], join(state.dir, 'haproxy.log'), haproxyFile);
    this.save();

    await pollUntil('redis', async () => ((await execa('redis-cli', ['-p', String(options.ports.redis), 'ping'])).stdout === 'PONG' ? true : undefined), { timeoutMs: 15_000 });
    await pollUntil('the registry', async () => ((await fetch(`http://${state.registry}/v2/`)).ok ? true : undefined), { timeoutMs: 15_000 });

    // build.sh builds the base image first when it is missing.
    log('images: base, sample app v1 v2 bad');
    await execa('bash', [join(PROJECT_ROOT, 'provisioning', 'sample-app', 'build.sh'), `${state.registry}/${SAMPLE_ROLE}`, '--push'], { stdio: 'inherit' });

    log(`coordinator on ${state.coordinatorUrl}`);
    const coordinatorConfig = join(state.dir, 'coordinator.yml');
    writeFileSync(
      coordinatorConfig,
      toYaml({
        listen: { host: gateway, port: options.ports.coordinator },
        redis: state.redisUrl,
        token: state.token,
        registry: state.registry,
        serf: { bind: `${gateway}:7946`, rpc: state.serfRpc, rpcAuth: state.serfRpcAuth, dataDir: join(state.dir, 'coordinator-serf') },
        promote: options.promote === false ? {} : { [SAMPLE_ROLE]: { from: 'staging', to: 'production' } },
        logLevel: options.logLevel ?? 'info',
      }),
      { mode: 0o600 },
    );
    state.processes.coordinator = startDetached(process.execPath, [CLI, 'coordinator', '--config', coordinatorConfig], join(state.dir, 'coordinator.log'), coordinatorConfig);
    this.save();
    await pollUntil('the coordinator', async () => ((await fetch(`${state.coordinatorUrl}/healthz`)).ok ? true : undefined), { timeoutMs: 30_000 });

    const client = this.client();
    for (const tag of SAMPLE_TAGS) await client.publishRelease({ role: SAMPLE_ROLE, tag });

    log(`hosts: ${options.hosts.map((h) => `${h.name} (${h.env})`).join(', ')}`);
    for (const [index, spec] of options.hosts.entries()) {
      state.hosts.push(await this.startHost(options, spec, `${options.subnet}.${11 + index}`, gateway));
      this.save();
    }
    const expected = options.hosts.length;
    const joined = async () => {
      const members = await this.serf().members({ status: 'alive', tags: { roles: '.+' } });
      return members.length === expected ? true : undefined;
    };
    await pollUntil(`${expected} hosts to join the Serf cluster`, joined, { timeoutMs: 60_000, intervalMs: 250 });
    log('cluster is up');
  }

  private async startHost(options: DevClusterOptions, spec: DevHostSpec, address: string, gateway: string): Promise<DevHostState> {
    const { state } = this;
    const dir = join(state.dir, 'hosts', spec.name);
    mkdirSync(dir, { recursive: true });
    const holder = `${state.name}-${spec.name}`;
    const project = `${state.name}-${spec.name}-${SAMPLE_ROLE}`;
    await docker(['run', '-d', '--name', holder, '--hostname', spec.name, '--network', state.network, '--ip', address, '--label', `grapevine.dev=${state.name}`, BASE_IMAGE, 'sleep', 'infinity']);
    const pid = Number(await docker(['inspect', '-f', '{{.State.Pid}}', holder]));

    const composeFile = join(dir, 'compose.yml');
    writeFileSync(
      composeFile,
      toYaml({
        services: {
          app: {
            image: '${GRAPEVINE_IMAGE:?set by the grapevine agent}',
            network_mode: `container:${holder}`,
            environment: { HOST_NAME: spec.name, START_DELAY: String(options.startDelay ?? 0) },
            healthcheck: {
              test: ['CMD', 'busybox', 'wget', '-q', '-O', '/dev/null', `http://127.0.0.1:${APP_PORT}/healthz`],
              interval: options.healthCheck?.interval ?? '1s',
              timeout: options.healthCheck?.timeout ?? '1s',
              retries: 2,
            },
            stop_grace_period: '2s',
            labels: { 'grapevine.dev': state.name },
          },
        },
      }),
    );
    const agentConfig = join(dir, 'agent.yml');
    writeFileSync(
      agentConfig,
      toYaml({
        node: spec.name,
        env: spec.env,
        roles: {
          [SAMPLE_ROLE]: {
            compose: composeFile,
            service: 'app',
            project,
            healthTimeoutMs: options.healthTimeoutMs ?? 60_000,
            // The agent shares the app's network namespace, so the app answers on loopback.
            healthUrl: `http://127.0.0.1:${APP_PORT}/healthz`,
            lb: { backend: backendFor(spec.env), address: `${address}:${APP_PORT}` },
          },
        },
        serf: { bind: `${address}:7946`, rpc: '127.0.0.1:7373', join: [`${gateway}:7946`], rpcAuth: state.serfRpcAuth, dataDir: join(dir, 'serf') },
        redis: state.redisUrl,
        coordinator: { url: state.coordinatorUrl, token: state.token },
        loadBalancer: { runtimeApi: `unix:${state.runtimeSocket}`, drainTimeoutMs: 2_000 },
        eventPipe: join(dir, 'events.pipe'),
        logLevel: options.logLevel ?? 'info',
      }),
      { mode: 0o600 },
    );
    // The agent, and the Serf agent it starts, live in the host's network namespace.
    const agent = startDetached(
      'nsenter',
      [`--net=/proc/${pid}/ns/net`, '--', process.execPath, ...AGENT_NODE_FLAGS, CLI, 'agent', '--config', agentConfig],
      join(dir, 'agent.log'),
      agentConfig,
    );
    return { ...spec, address, holder, agent, dir, project };
  }
}

/** Each environment has its own load balancer backend, as it would have its own load balancer. */
function backendFor(env: string): string {
  return env === 'production' ? SAMPLE_ROLE : `${SAMPLE_ROLE}-${env}`;
}

async function stopAgent(host: DevHostState): Promise<void> {
  await stopProcess(host.agent, 8_000);
  // An agent killed without warning leaves its Serf agent behind; end it by its recorded id.
  const pidFile = join(host.dir, 'serf', 'serf.pid');
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8'));
    if (pid > 0) await stopProcess({ pid, marker: join(host.dir, 'serf', 'serf.json') }, 3_000);
  }
}

async function docker(args: string[]): Promise<string> {
  const result = await execa('docker', args, { stdin: 'ignore' });
  return result.stdout.trim();
}

async function checkPrerequisites(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the local cluster needs root (network namespaces and the Docker engine): run it with sudo');
  try {
    await execa('docker', ['info'], { stdin: 'ignore' });
  } catch {
    throw new Error('the Docker engine is not running: run `sudo bash provisioning/install.sh` first');
  }
  for (const binary of ['serf', 'redis-server', 'redis-cli', 'haproxy', 'docker-registry', 'nsenter', 'debootstrap']) {
    if (!onPath(binary)) throw new Error(`${binary} is not installed: run \`sudo bash provisioning/install.sh\` first`);
  }
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
}

function onPath(binary: string): boolean {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'];
  return dirs.some((dir) => {
    try {
      accessSync(join(dir, binary), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The package root (where package.json is), from source or from dist/. */
function findProjectRoot(start: string): string {
  let dir = start;
  for (let depth = 0; depth < 6; depth++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'provisioning'))) return dir;
    dir = dirname(dir);
  }
  throw new Error(`cannot find the grapevine package root above ${start}`);
}
