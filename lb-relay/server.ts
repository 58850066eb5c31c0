// Runs the load balancer's relay: credentials verified in Redis, HAProxy changed through its
// local runtime socket, HAProxy's access log counted per server (with `accessLog`), the API
// served on the network (HTTPS when given a certificate).
import type { Logger } from '../shared/contract/logger.js';
import type { RelayConfig } from '../shared/contract/relay-config.js';
import { RoutingRuntime } from '../shared/haproxy/route-runtime.js';
import { HAProxyRuntimeApi } from '../shared/haproxy/runtime-api.js';
import { isLoopbackHost, serveApp } from '../shared/http/serve-app.js';
import { readServerTls } from '../shared/http/server-tls.js';
import { connectRedis } from '../shared/redis/connection.js';
import { RedisCredentialStore } from '../shared/redis/credential-store.js';
import { listenAccessLog, type AccessLogListener } from './access-log.js';
import { createRelayApp } from './app.js';
import { FrontendRouter } from './routing.js';
import { TrafficStore } from './traffic-store.js';

/** Requests still open this long after a stop are cut. */
const SERVER_CLOSE_MS = 1_000;

export interface RunningRelay {
  url: string;
  /** Where it receives HAProxy's access log (`127.0.0.1:PORT`), when configured to. */
  accessLog?: string;
  stop(): Promise<void>;
}

export async function startRelay(config: RelayConfig, logger: Logger): Promise<RunningRelay> {
  // A wrong certificate or key stops the start before anything connects, naming the file.
  if (config.tls) readServerTls(config.tls);
  const routing = config.routing ? new FrontendRouter({ config: config.routing, runtime: new RoutingRuntime({ address: config.runtimeApi, logger }), logger }) : undefined;
  // Before anything else, so an unwritable routing directory stops the start, naming it.
  await routing?.prepareFiles();
  const traffic = config.accessLog ? new TrafficStore({ backends: config.backends, retainMs: config.accessLog.retainMs }) : undefined;
  let accessLog: AccessLogListener | undefined;
  if (config.accessLog && traffic) accessLog = await listenAccessLog(config.accessLog.listen, traffic, logger);
  let redis;
  try {
    redis = await connectRedis(config.redis, logger);
  } catch (error) {
    await accessLog?.stop();
    throw error;
  }
  const app = createRelayApp({
    verifier: new RedisCredentialStore({ redis, logger }),
    loadBalancer: (drainTimeoutMs) => new HAProxyRuntimeApi({ address: config.runtimeApi, drainTimeoutMs, logger }),
    policy: { backends: config.backends, hostAddresses: config.hostAddresses },
    maxDrainTimeoutMs: config.maxDrainTimeoutMs,
    ...(traffic ? { traffic } : {}),
    ...(routing ? { routing } : {}),
    logger,
  });
  let server;
  try {
    server = await serveApp({ fetch: app.fetch, host: config.listen.host, port: config.listen.port, tls: config.tls });
  } catch (error) {
    redis.disconnect();
    await accessLog?.stop();
    throw error;
  }
  logger.info({ url: server.url, runtimeApi: config.runtimeApi, backends: config.backends }, 'lb-relay listening');
  // Host tokens cross the network in the clear then: said once at start, where an operator looks.
  if (!server.secure && !isLoopbackHost(config.listen.host)) logger.warn({ url: server.url }, 'serving plain HTTP beyond loopback: set tls.certFile and tls.keyFile to serve HTTPS');
  return {
    url: server.url,
    ...(accessLog ? { accessLog: accessLog.address } : {}),
    async stop() {
      await server.close(SERVER_CLOSE_MS);
      redis.disconnect();
      await accessLog?.stop();
    },
  };
}
