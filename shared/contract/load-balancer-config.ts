// How an agent reaches its load balancer: the relay on the load-balancer host (README,
// "Security"), or HAProxy's runtime API directly where the agent runs on that host itself.
import * as z from 'zod';

export const AgentLoadBalancerConfig = z
  .strictObject({
    kind: z.literal('haproxy').default('haproxy'),
    /** The relay (`grapevine lb-relay`); the agent presents its coordinator.token, its host credential. */
    relay: z.strictObject({ url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }) }).optional(),
    /** `unix:/run/haproxy/admin.sock` or `tcp:host:port`: HAProxy's admin API itself, for an agent on the load-balancer host. */
    runtimeApi: z.string().regex(/^(unix:\/\S+|tcp:[A-Za-z0-9.-]+:\d+)$/, 'must be unix:/path or tcp:host:port').optional(),
    drainTimeoutMs: z.number().int().nonnegative().default(10_000),
  })
  .refine((lb) => (lb.relay === undefined) !== (lb.runtimeApi === undefined), {
    message: 'must set exactly one of relay.url (the load balancer\'s relay, for hosts) and runtimeApi (the admin socket, only on the load-balancer host)',
  });
export type AgentLoadBalancerConfig = z.infer<typeof AgentLoadBalancerConfig>;
