// Which way this agent changes its server in the load balancer: through the relay on the
// load-balancer host with its host credential, or (on that host only) HAProxy's admin socket.
import type { AgentConfig } from '../shared/contract/config.js';
import type { Logger } from '../shared/contract/logger.js';
import { HAProxyRelayClient } from '../shared/haproxy/relay-client.js';
import { HAProxyRuntimeApi } from '../shared/haproxy/runtime-api.js';
import type { LoadBalancer } from '../shared/ports/load-balancer.js';

export function agentLoadBalancer(config: AgentConfig, logger: Logger): LoadBalancer {
  const { relay, runtimeApi, drainTimeoutMs } = config.loadBalancer;
  if (relay) {
    return new HAProxyRelayClient({ url: relay.url, token: config.coordinator.token, drainTimeoutMs, caFile: config.caFile, logger });
  }
  // The config's schema holds exactly one of the two.
  return new HAProxyRuntimeApi({ address: runtimeApi ?? '', drainTimeoutMs, logger });
}
