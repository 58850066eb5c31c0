// The local cluster's load-balancer relay (`grapevine lb-relay`), beside HAProxy: it listens on
// the cluster's gateway, where the hosts reach it, and alone opens HAProxy's admin socket (0600).
import { redisSettingOf } from './redis-mode.js';
import { writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import type { ServerTls } from '../shared/contract/tls-config.js';
import { pollUntil } from '../shared/contract/waiting.js';
import { readCaFile } from '../shared/http/ca-file.js';
import { gatewayOf, type DevClusterState } from './cluster-state.js';
import { startDetached, type StartedProcess } from './local-process.js';
import { accessLogOf, withLogTail } from './services.js';
import { CLI, backendFor } from './sample-app.js';
import { clusterBackends, relayRoutingOf, type RoutedEnv } from './red-white.js';

/** On the cluster's own gateway address, so two clusters on one machine never share it. */
export const RELAY_PORT = 7701;
const START_TIMEOUT_MS = 30_000;
const CHECK_TIMEOUT_MS = 2_000;
/** Short, so a demo's deploys stay quick; the sample app holds no long requests. */
const AGENT_DRAIN_TIMEOUT_MS = 2_000;
/** The agents ask for 2 s; room for a slower drain asked by hand. */
const MAX_DRAIN_TIMEOUT_MS = 30_000;

/** Where the hosts reach the relay: https when the cluster has its own CA (`dev up --tls`). */
export function relayUrlOf(state: Pick<DevClusterState, 'subnet'>, tls: boolean): string {
  return `${tls ? 'https' : 'http'}://${gatewayOf(state.subnet)}:${RELAY_PORT}`;
}

/**
 * How a host's agent reaches HAProxy: through the relay with its own host credential. A host
 * still given the bootstrap operator token (which lives in the coordinator's config, not in
 * the credential store the relay reads) keeps the admin socket, as does a cluster recorded
 * before the relay existed.
 */
export function agentLoadBalancerOf(state: Pick<DevClusterState, 'relayUrl' | 'runtimeSocket' | 'token'>, hostToken: string): Record<string, unknown> {
  const viaRelay = state.relayUrl !== undefined && hostToken !== state.token;
  return { ...(viaRelay ? { relay: { url: state.relayUrl } } : { runtimeApi: `unix:${state.runtimeSocket}` }), drainTimeoutMs: AGENT_DRAIN_TIMEOUT_MS };
}

const relayConfigFile = (state: Pick<DevClusterState, 'dir'>) => join(state.dir, 'lb-relay.yml');

/** Writes the relay's config (0600: it holds the relay's Redis password) and starts it. */
export function startLbRelay(state: DevClusterState, options: { tls?: ServerTls | undefined; logLevel?: string; routed?: RoutedEnv | undefined } = {}): StartedProcess {
  const config = relayConfigFile(state);
  writeFileSync(
    config,
    toYaml({
      listen: { host: gatewayOf(state.subnet), port: RELAY_PORT },
      runtimeApi: `unix:${state.runtimeSocket}`,
      // The relay's Redis user may only read gv:auth:*, which is all that verifying a token needs.
      redis: redisSettingOf(state, 'relay'),
      backends: [backendFor('production'), backendFor('staging'), ...clusterBackends(options.routed)],
      ...(options.routed ? { routing: relayRoutingOf(state, options.routed) } : {}),
      maxDrainTimeoutMs: MAX_DRAIN_TIMEOUT_MS,
      // HAProxy's access log (services.ts): the per-server traffic the coordinator judges a canary on.
      ...(accessLogOf(state) ? { accessLog: { listen: accessLogOf(state) } } : {}),
      ...(options.tls ? { tls: options.tls } : {}),
      logLevel: options.logLevel ?? 'info',
    }),
    { mode: 0o600 },
  );
  return startDetached(process.execPath, [CLI, 'lb-relay', '--config', config], join(state.dir, 'lb-relay.log'), config);
}

/** Ready once its health check answers (through the cluster's CA under TLS); a relay that does not start says why in its log. */
export async function untilRelayAnswers(state: DevClusterState, url: string, caFile?: string): Promise<void> {
  const ca = caFile === undefined ? undefined : readCaFile(caFile);
  const healthy = async () => ((await answersHealth(`${url}/healthz`, ca)) ? true : undefined);
  await withLogTail(pollUntil('the load balancer relay', healthy, { timeoutMs: START_TIMEOUT_MS }), join(state.dir, 'lb-relay.log'));
}

function answersHealth(url: string, ca: string | undefined): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const get = url.startsWith('https:') ? httpsGet : httpGet;
    const request = get(url, { timeout: CHECK_TIMEOUT_MS, ...(ca ? { ca } : {}) }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)));
    request.on('error', reject);
  });
}
