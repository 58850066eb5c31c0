// Where an agent serves its Prometheus metrics (`metrics:` in its config): off unless set,
// so a host exposes no port it was not told to.
import * as z from 'zod';

/** An address to bind: an IPv4 or IPv6 literal or a host name (0.0.0.0 listens on every interface). */
const bindAddress = z.union([z.ipv4(), z.ipv6(), z.hostname()], { error: "must be an IP address or host name to listen on, e.g. the host's private address" });

export const AgentMetricsConfig = z.strictObject({
  /** The host's own private address keeps the metrics off public interfaces; they carry no secret but do say what runs. */
  host: bindAddress,
  /** A fixed port Prometheus scrapes on every host (9464 in the examples and the dev cluster). */
  port: z.number({ error: 'must be the port number to serve metrics on (1 to 65535)' }).int('must be a whole port number').min(1, 'must be 1 to 65535').max(65535, 'must be 1 to 65535'),
});
export type AgentMetricsConfig = z.infer<typeof AgentMetricsConfig>;
