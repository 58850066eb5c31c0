// What a local cluster is made of, kept in <dir>/state.json while it runs: every service's
// process, every host's address, namespace, agent and Serf agent, so that `dev down`, the
// tests and a later `dev chaos` can reach each part by its recorded id.
import type { RedisMode, RedisTopologyState } from './redis-mode.js';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DevClusterError } from './dev-cluster-error.js';
import { freePort, type StartedProcess } from './local-process.js';
import type { RoleHooks } from '../shared/contract/role-config.js';
import type { DevNotificationTarget } from './notification-files.js';

export interface ClusterPorts {
  coordinator: number;
  redis: number;
  registry: number;
  lb: number;
  stagingLb: number;
  serfRpc: number;
  /** The second coordinator's HTTP and Serf RPC ports, for `--coordinators 2`; unset on a cluster recorded before. */
  coordinator2?: number;
  serfRpc2?: number;
  /** UDP on loopback: HAProxy's access log, to the relay (its per-server traffic); unset on a cluster recorded before. */
  accessLog?: number;
  /** The frontend that routes client versions to clusters (dev-cluster/red-white.ts); used only when hosts carry clusters. */
  routedLb?: number;
}

export interface DevHostSpec {
  name: string;
  env: string;
  /** The host's cluster (Serf tag `cluster`, README "Red-white routing"); none unless set. */
  cluster?: string;
  /** The host's zone (Serf tag `zone`, which --max-per-zone counts by); none unless set. */
  zone?: string;
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
  /** The role's health gate; unset: long enough for startDelay (healthDeadlineFor) and a 1 s soak (DEV_MIN_HEALTHY_TIME_MS). */
  healthyDeadlineMs?: number;
  minHealthyTimeMs?: number;
  /**
   * Docker's health check of the app, every second with a 1 s timeout unless set, so that
   * a bad release fails fast; the agents' own probe of the app decides when it is healthy.
   */
  healthCheck?: { interval: string; timeout: string };
  /** Hooks of the sample app's role in every host's agent config (README, "Hooks"); none unless set. */
  hooks?: RoleHooks;
  /** One coordinator, or two over the same Redis (README, "Two coordinators"); one unless set. */
  coordinators?: 1 | 2;
  /** One Redis server (the default), a three-master Redis Cluster, or a primary and replica behind three Sentinels. */
  redis?: RedisMode;
  /** Whether a successful staging deploy of the sample app promotes itself to production. */
  promote?: boolean;
  /**
   * The sample app's once-per-deploy job: a `migrate` service that appends "DEPLOY_ID TAG
   * HOST MS" to jobs/runs.log in the cluster's folder, takes `seconds` (0 unless set) and
   * exits 1 for the tag `bad`. No job unless set.
   */
  job?: { seconds?: number };
  /** The cluster's own CA (dev-cluster/cluster-tls.ts): the coordinator and the relay serve HTTPS, the hosts and the CLI trust it. */
  tls?: boolean;
  /** Webhooks the coordinator notifies; their URL and secret files are written into the cluster's folder (dev-cluster/notification-files.ts). None unless set. */
  notifications?: DevNotificationTarget[];
  /**
   * Environments whose hosts run the sample app in two colours (README, "Blue/green"): blue
   * answers on APP_PORT and green on APP_PORT + 1, each its own compose project and its own
   * server (`HOST.blue`, `HOST.green`) in the environment's backend. None unless set.
   */
  blueGreenEnvs?: string[];
  /**
   * The coordinator config's `strategies` of the sample app's role (shared/contract/strategy.ts
   * RoleStrategyConfig, without `backends`, which the cluster fills in). Rolling unless set.
   */
  strategies?: Record<string, unknown>;
  /** The coordinator's quarantine grace (config quarantine.graceMs); a minute unless set. */
  quarantineGraceMs?: number;
  logLevel?: string;
}

export interface DevHostState extends DevHostSpec {
  address: string;
  /** The holder container that owns the host's network namespace. */
  holder: string;
  /** The holder's main process: its namespace is the host's (`/proc/<pid>/ns/net`). */
  holderPid: number;
  netns: string;
  agent: StartedProcess;
  agentConfig: string;
  /** Written by the agent with the id of the Serf agent it runs. */
  serfPidFile: string;
  serfConfigFile: string;
  dir: string;
  project: string;
  /** Where the host's agent serves its Prometheus metrics (its own address, AGENT_METRICS_PORT); unset on a cluster recorded before. */
  metricsUrl?: string;
  /** The host's load-balancer servers (`h1`, or `h1.blue` and `h1.green`) and their addresses; unset on a cluster recorded before. */
  servers?: Array<{ name: string; address: string }>;
}

export type ServiceName = 'redis' | 'registry' | 'haproxy' | 'relay' | 'coordinator' | 'coordinator2';

/** A fault `dev chaos` put in with `--for`, undone by a detached helper process when its time is up. */
export interface ScheduledHeal {
  id: string;
  action: 'heal-partition' | 'start-coordinator';
  /** The partitioned host, for `heal-partition`. */
  host?: string;
  /** When the helper undoes the fault, in ms since the epoch. */
  dueAt: number;
  helper: StartedProcess;
}

export interface DevClusterState {
  name: string;
  dir: string;
  subnet: string;
  ports: ClusterPorts;
  network: string;
  /** The coordinator's bootstrap operator token (its config's `token`): what the CLI and the tests use. */
  token: string;
  /** Each host's own host credential token, its agent's `coordinator.token`, made once the coordinator is up. */
  hostTokens?: Record<string, string>;
  serfRpcAuth: string;
  /** The cluster's Serf gossip key, also in <dir>/serf.key; a `keys rotate` leaves it behind. */
  serfEncryptKey: string;
  coordinatorUrl: string;
  /** Every coordinator's URL, the first first, on a cluster with two: what the hosts and the CLI are given. */
  coordinatorUrls?: string[];
  /** The cluster CA's certificate, on a cluster brought up with TLS: what the hosts and the CLI verify its services with. */
  caFile?: string;
  lbUrl: string;
  stagingLbUrl: string;
  /** The frontend that routes client versions to clusters, on a cluster whose hosts carry clusters. */
  routedLbUrl?: string;
  /** The admin user's URL: operators, the tests and the benchmark read Redis with it. */
  redisUrl: string;
  /** Each Redis user's redis:// URL with its password (provisioning/redis/users.acl.template says what each may do). */
  redisUsers: Record<'coordinator' | 'agent' | 'relay' | 'admin', string>;
  /** A Redis Cluster or Sentinel set-up in place of the one server (dev-cluster/redis-mode.ts); absent on a single Redis. */
  redisTopology?: RedisTopologyState;
  registry: string;
  serfRpc: string;
  runtimeSocket: string;
  /** The load balancer's relay, through which the hosts drain and register (dev-cluster/lb-relay.ts). */
  relayUrl?: string;
  processes: Partial<Record<ServiceName, StartedProcess>>;
  hosts: DevHostState[];
  /** Heals still to come; absent on a cluster no `--for` fault has touched. */
  heals?: ScheduledHeal[];
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
    coordinator2: await freePort(),
    serfRpc2: await freePort(),
    accessLog: await freePort(),
    routedLb: await freePort(),
  };
}

export function defaultHosts(production: number, staging: number): DevHostSpec[] {
  return [
    ...Array.from({ length: production }, (_, i) => ({ name: `h${i + 1}`, env: 'production' })),
    ...Array.from({ length: staging }, (_, i) => ({ name: `s${i + 1}`, env: 'staging' })),
  ];
}

/** `zones` given to the hosts round-robin within each environment (`dev up --zones a,b,c`). */
export function inZones(hosts: DevHostSpec[], zones: string[]): DevHostSpec[] {
  if (zones.length === 0) return hosts;
  const seen = new Map<string, number>();
  return hosts.map((host) => {
    const i = seen.get(host.env) ?? 0;
    seen.set(host.env, i + 1);
    return { ...host, zone: zones[i % zones.length] };
  });
}

export function gatewayOf(subnet: string): string {
  return `${subnet}.1`;
}

export function readClusterState(dir: string): DevClusterState | undefined {
  const file = join(dir, 'state.json');
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as DevClusterState;
}

/** Written after every part that starts, so a crash mid-way leaves a state `dev down` can clean up. */
export function saveClusterState(state: DevClusterState): void {
  const file = join(state.dir, 'state.json');
  // Written whole and renamed into place, so a reader in another process never sees half a file.
  const next = `${file}.${process.pid}.tmp`;
  writeFileSync(next, JSON.stringify(state, null, 2), { mode: 0o600 });
  renameSync(next, file);
}

/**
 * Reads the state afresh, changes it and writes it back in one synchronous step: a chaos
 * verb and a heal helper each change their own part of a state the other may just have
 * written, so neither writes back a copy it read seconds earlier.
 */
export function updateClusterState(dir: string, change: (state: DevClusterState) => void): DevClusterState {
  const state = readClusterState(dir);
  if (!state) throw new DevClusterError(`no local cluster recorded in ${dir}`);
  change(state);
  saveClusterState(state);
  return state;
}
