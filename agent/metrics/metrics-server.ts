// Serves an agent's metrics at GET /metrics on the address its config names, for
// Prometheus. No credential: the address (the host's private one) is the boundary, as for
// node_exporter; the metrics carry no secret.
import { Hono } from 'hono';
import type { Logger } from '../../shared/contract/logger.js';
import type { AgentMetricsConfig } from '../../shared/contract/metrics-config.js';
import { serveApp } from '../../shared/http/serve-app.js';
import type { AgentMetrics } from './agent-metrics.js';

const SERVER_CLOSE_MS = 1_000;

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

export function metricsApp(metrics: Pick<AgentMetrics, 'contentType' | 'exposition'>, logger: Logger): Hono {
  const app = new Hono();
  app.get('/metrics', async (c) => c.body(await metrics.exposition(), 200, { 'content-type': metrics.contentType }));
  app.notFound((c) => c.text('only GET /metrics is served here\n', 404));
  app.onError((error, c) => {
    logger.warn({ err: error }, 'could not write the metrics for a scrape');
    return c.text('the metrics could not be read; see the agent log\n', 500);
  });
  return app;
}

/**
 * Listens, or logs why it cannot and resolves undefined: a host that cannot serve its
 * metrics (the port taken) still deploys, and Prometheus shows the target down.
 */
export async function serveMetrics(metrics: AgentMetrics, config: AgentMetricsConfig, logger: Logger): Promise<MetricsServer | undefined> {
  const log = logger.child({ component: 'metrics' });
  try {
    const server = await serveApp({ fetch: metricsApp(metrics, log).fetch, host: config.host, port: config.port });
    log.info({ url: `${server.url}/metrics` }, 'serving metrics');
    return { url: server.url, close: () => server.close(SERVER_CLOSE_MS) };
  } catch (error) {
    log.error({ err: error, host: config.host, port: config.port }, `cannot serve metrics on metrics.host ${config.host} port ${config.port}; deploys go on without them`);
    return undefined;
  }
}
