// A whole Grapevine fleet on one machine: a registry, Redis, HAProxy, the coordinator,
// and hosts that each have their own network namespace and address (a small holder
// container on a private Docker network), their own Serf agent and Grapevine agent.
// The app containers join their host's namespace, so each answers on its host's address.
import { startRedisTopology, stopRedisTopology } from './redis-mode.js';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { CoordinatorClient } from '../shared/coordinator-http/coordinator-client.js';
import { errorMessage } from '../shared/contract/errors.js';
import { backoff, pollUntil, retry } from '../shared/contract/waiting.js';
import { ClusterContainers } from '../shared/docker/cluster-containers.js';
import { SerfRpcClient } from '../shared/serf/serf-rpc-client.js';
import { cancelHeals } from './chaos-heal.js';
import { gatewayOf, readClusterState, saveClusterState, type DevClusterOptions, type DevClusterState } from './cluster-state.js';
import { routedEnvOf, routedFrontendOf } from './red-white.js';
import { DevClusterError } from './dev-cluster-error.js';
import { CLUSTER_LABEL, startHost, stopHostProcesses } from './hosts.js';
import { mintHostCredentials } from './host-credentials.js';
import { relayUrlOf, startLbRelay, untilRelayAnswers } from './lb-relay.js';
import { stopProcess } from './local-process.js';
import { checkPrerequisites } from './prerequisites.js';
import { writeSerfKeyFile } from './serf-key.js';
import { newGossipKey } from '../shared/contract/gossip-key.js';
import { newRedisUsers } from './redis-acl.js';
import { makeClusterTls, serverTlsOf } from './cluster-tls.js';
import { writeSecretsFile } from './secrets-file.js';
import { BUILD_SCRIPT, SAMPLE_ROLE, SAMPLE_TAGS } from './sample-app.js';
import { mintFlagsReader } from './flags-reader.js';
import { coordinatorInstance, coordinatorRelayTokenFile, registryStorageOf, startCoordinator, startHaproxy, startRedis, startRegistry, untilCoordinatorAnswers, untilRedisAnswers, untilRegistryAnswers } from './services.js';
import { REGISTRY_SEED_DIR, fillRegistry, seedRegistry } from './registry-seed.js';

// The harness's public face, for the CLI, the tests and the benchmark: one module to import.
export { defaultHosts, freeClusterPorts, inZones, readClusterState } from './cluster-state.js';
export { redWhiteHosts } from './red-white.js';
export type { ClusterPorts, DevClusterOptions, DevClusterState, DevHostSpec, DevHostState } from './cluster-state.js';
export type { DevNotificationTarget } from './notification-files.js';
export { isRunning } from './local-process.js';
export { printedState, secretsFileOf } from './secrets-file.js';
export { Chaos, type ChaosOutcome } from './chaos.js';
export { faultSeconds, healAction, runHeal } from './chaos-heal.js';
export { APP_PORT, CLI, PROJECT_ROOT, SAMPLE_ROLE } from './sample-app.js';

const JOIN_TIMEOUT_MS = 60_000;
const NETWORK_REMOVAL_DELAYS_MS = backoff(200, 5, 1_000);
/** Host addresses start at .11 of the cluster's /24. */
const FIRST_HOST_OCTET = 11;

export class DevCluster {
  private serfClient: SerfRpcClient | undefined;

  private constructor(readonly state: DevClusterState) {}

  static attach(dir: string): DevCluster | undefined {
    const state = readClusterState(dir);
    return state ? new DevCluster(state) : undefined;
  }

  /** Brings the whole cluster up; on any failure, removes what it had started and rethrows. */
  static async up(options: DevClusterOptions, log: (line: string) => void = () => {}): Promise<DevCluster> {
    if (readClusterState(options.dir)) throw new DevClusterError(`a cluster is already recorded in ${options.dir}; run dev down first`);
    const containers = await checkPrerequisites(options.ports);
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    const gateway = gatewayOf(options.subnet);
    const { ports } = options;
    const redisUsers = newRedisUsers(gateway, ports.redis);
    const cluster = new DevCluster({
      name: options.name,
      dir: options.dir,
      subnet: options.subnet,
      ports,
      network: options.name,
      token: randomBytes(18).toString('base64url'),
      serfRpcAuth: randomBytes(18).toString('base64url'),
      serfEncryptKey: newGossipKey(),
      coordinatorUrl: `${options.tls ? 'https' : 'http'}://${gateway}:${ports.coordinator}`,
      lbUrl: `http://127.0.0.1:${ports.lb}`,
      stagingLbUrl: `http://127.0.0.1:${ports.stagingLb}`,
      ...(routedEnvOf(options.hosts) && ports.routedLb !== undefined ? { routedLbUrl: `http://127.0.0.1:${ports.routedLb}` } : {}),
      redisUrl: redisUsers.admin,
      redisUsers,
      registry: `127.0.0.1:${ports.registry}`,
      serfRpc: `127.0.0.1:${ports.serfRpc}`,
      runtimeSocket: join(options.dir, 'haproxy.sock'),
      processes: {},
      hosts: [],
    });
    saveClusterState(cluster.state);
    writeSerfKeyFile(cluster.state);
    try {
      await cluster.start(containers, options, log);
      return cluster;
    } catch (error) {
      log(`bring-up failed, removing what was started: ${errorMessage(error)}`);
      await cluster.down();
      throw error;
    }
  }

  client(): CoordinatorClient {
    return new CoordinatorClient({ url: this.state.coordinatorUrls ?? this.state.coordinatorUrl, token: this.state.token, caFile: this.state.caFile });
  }

  /** The coordinator's Serf agent, over one RPC connection kept for this cluster (it never holds the process open). */
  serf(): SerfRpcClient {
    this.serfClient ??= new SerfRpcClient({ rpcAddr: this.state.serfRpc, rpcAuth: this.state.serfRpcAuth });
    return this.serfClient;
  }

  /** Environment for running the `grapevine` CLI against this cluster. */
  cliEnv(): Record<string, string> {
    return {
      GRAPEVINE_COORDINATOR: (this.state.coordinatorUrls ?? [this.state.coordinatorUrl]).join(','),
      GRAPEVINE_TOKEN: this.state.token,
      GRAPEVINE_SERF_RPC: this.state.serfRpc,
      GRAPEVINE_SERF_RPC_AUTH: this.state.serfRpcAuth,
      ...(this.state.caFile ? { GRAPEVINE_CA_FILE: this.state.caFile } : {}),
    };
  }

  /** Stops and removes everything this cluster started, in reverse order. Safe on a partial cluster. */
  async down(): Promise<void> {
    this.serfClient?.close();
    // Heal helpers go first, so none starts a process after its turn; then the state is read
    // afresh, since chaos verbs and helpers record what they restarted after this attached.
    await cancelHeals(readClusterState(this.state.dir) ?? this.state);
    const state = readClusterState(this.state.dir) ?? this.state;
    await Promise.all(state.hosts.map((host) => stopHostProcesses(host)));
    const { coordinator, coordinator2, relay, haproxy, registry, redis } = state.processes;
    for (const started of [coordinator, coordinator2, relay, haproxy, registry, redis]) if (started) await stopProcess(started);
    await stopRedisTopology(state);
    const containers = await ClusterContainers.connect().catch(() => undefined);
    if (containers) {
      const lists = await Promise.all([
        containers.idsWithLabel(CLUSTER_LABEL, state.name),
        ...state.hosts.map((host) => containers.idsWithLabel('com.docker.compose.project', host.project)),
      ].map((ids) => ids.catch(() => [] as string[])));
      await containers.removeForce([...new Set(lists.flat())]).catch(() => undefined);
      // Tried again for a few seconds: on a busy machine the engine may still be detaching the
      // removed containers, and a network left behind refuses the next cluster of this name.
      await retry(() => containers.removeNetwork(state.network), { delaysMs: NETWORK_REMOVAL_DELAYS_MS }).catch(() => undefined);
    }
    rmSync(state.dir, { recursive: true, force: true });
  }

  private async startSecondCoordinator(options: Parameters<typeof startCoordinator>[1], log: (line: string) => void): Promise<void> {
    const { state } = this;
    const second = coordinatorInstance(state, 2);
    log(`second coordinator on ${second.url} (Serf node ${second.name}, same Redis)`);
    state.processes.coordinator2 = startCoordinator(state, options, 2);
    state.coordinatorUrls = [state.coordinatorUrl, second.url];
    saveClusterState(state);
    await untilCoordinatorAnswers(state, 2);
  }

  private async start(containers: ClusterContainers, options: DevClusterOptions, log: (line: string) => void): Promise<void> {
    const { state } = this;
    const gateway = gatewayOf(state.subnet);
    log(`network ${state.network} (${state.subnet}.0/24)`);
    await containers.createNetwork(state.network, `${state.subnet}.0/24`, gateway, { [CLUSTER_LABEL]: state.name });
    if (options.tls) {
      log(`local CA and certificates for ${gateway} in ${join(state.dir, 'tls')}`);
      state.caFile = await makeClusterTls(state);
      saveClusterState(state);
    }

    if (options.redis === 'cluster' || options.redis === 'sentinel') {
      await startRedisTopology(state, options.redis, log);
    } else {
      log(`redis on ${gateway}:${state.ports.redis}`);
      state.processes.redis = startRedis(state);
    }
    saveClusterState(state);
    const routed = routedEnvOf(options.hosts);
    if (routed && state.ports.routedLb === undefined) throw new DevClusterError('hosts carry clusters but the cluster has no port for its routed frontend (ports.routedLb)');
    const routedFrontend = routed ? await routedFrontendOf(state, routed, state.ports.routedLb!) : undefined;
    log(`haproxy on ${state.lbUrl}${routed ? `, ${routed.env}'s clusters (${routed.clusters.join(', ')}) routed by client version on ${state.routedLbUrl}` : ''}`);
    state.processes.haproxy = startHaproxy(state, routedFrontend);
    saveClusterState(state);
    // Built before the registry starts (cached, about a second), so that a seed of these very
    // images can fill its storage; build.sh builds the base image first when it is missing.
    log(`images: base, sample app ${SAMPLE_TAGS.join(' ')}`);
    const repository = `${state.registry}/${SAMPLE_ROLE}`;
    await execa('bash', [BUILD_SCRIPT, repository], { stdio: 'inherit' });
    const seed = await seedRegistry(repository, registryStorageOf(state));
    log(`registry on ${state.registry}${seed.restored ? `, its images from the seed in ${REGISTRY_SEED_DIR}` : ''}`);
    state.processes.registry = startRegistry(state);
    saveClusterState(state);
    if (!state.redisTopology) await untilRedisAnswers(state);
    await untilRegistryAnswers(state);
    // The hosts change HAProxy only through the relay, with their credential; the admin socket stays local.
    state.relayUrl = relayUrlOf(state, state.caFile !== undefined);
    log(`load balancer relay on ${state.relayUrl}`);
    state.processes.relay = startLbRelay(state, { tls: serverTlsOf(state, 'lb-relay'), logLevel: options.logLevel ?? 'info', routed });
    saveClusterState(state);
    await untilRelayAnswers(state, state.relayUrl, state.caFile);

    await fillRegistry(repository, seed, registryStorageOf(state), log);

    log(`coordinator on ${state.coordinatorUrl}`);
    const addresses = options.hosts.map((_, index) => `${state.subnet}.${FIRST_HOST_OCTET + index}`);
    const coordinatorOptions = {
      promote: options.promote !== false,
      logLevel: options.logLevel ?? 'info',
      join: addresses.map((address) => `${address}:7946`),
      ...(options.notifications ? { notifications: options.notifications } : {}),
      ...(options.strategies ? { strategies: options.strategies } : {}),
      ...(options.quarantineGraceMs === undefined ? {} : { quarantineGraceMs: options.quarantineGraceMs }),
      ...(routed ? { routedEnv: routed.env } : {}),
    };
    state.processes.coordinator = startCoordinator(state, coordinatorOptions);
    saveClusterState(state);
    await untilCoordinatorAnswers(state);
    // The second starts once the first answers, so the first takes the lease: who leads at first is known.
    if (options.coordinators === 2) await this.startSecondCoordinator(coordinatorOptions, log);
    const client = this.client();
    for (const tag of SAMPLE_TAGS) await client.publishRelease({ role: SAMPLE_ROLE, tag });
    state.hostTokens = await mintHostCredentials(client, options.hosts);
    // The relay knows only stored credentials: the coordinator's own operator token for canary weights and switches.
    const relayToken = await client.createToken({ scope: 'operator', name: 'coordinator-lb' });
    writeFileSync(coordinatorRelayTokenFile(state), `${relayToken.token}\n`, { mode: 0o600 });
    // Before the hosts start: their compose files mount it into the sample app.
    await mintFlagsReader(client, state);
    saveClusterState(state);

    log(`hosts: ${options.hosts.map((h) => `${h.name} (${h.env})`).join(', ')}`);
    // All at once: a host's holder container and agent start mostly waiting on Docker and on
    // Node's start-up. Every host that started is recorded, in order, before a failure is thrown.
    const started = await Promise.allSettled(options.hosts.map((spec, index) => startHost(containers, state, options, spec, addresses[index]!)));
    for (const host of started) if (host.status === 'fulfilled') state.hosts.push(host.value);
    saveClusterState(state);
    const failed = started.find((host) => host.status === 'rejected');
    if (failed) throw failed.reason;
    const expected = options.hosts.length;
    const joined = async () => {
      const members = await this.serf().members({ status: 'alive', tags: { roles: '.+' } });
      return members.length === expected ? true : undefined;
    };
    await pollUntil(`${expected} hosts to join the Serf cluster`, joined, { timeoutMs: JOIN_TIMEOUT_MS, intervalMs: 250 });
    log(`cluster is up; its secrets are in ${writeSecretsFile(state, this.cliEnv())}`);
  }
}
