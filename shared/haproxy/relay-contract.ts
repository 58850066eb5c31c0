// The HTTP contract between an agent and the load balancer's relay (`grapevine lb-relay`):
// its paths, bodies and answers, parsed with these schemas on both sides.
import { z } from 'zod';

/** The names HAProxy's runtime API takes (runtime-api.ts holds commands to the same set). */
export const lbName = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, _ . or -');

const SERVER_ADDRESS = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):([0-9]{1,5})$/;

/** The IP of `ip:port` or `[ipv6]:port`; undefined when it is neither (HAProxy takes no host names there). */
export function addressIp(address: string): string | undefined {
  const match = SERVER_ADDRESS.exec(address);
  return match?.[1] ?? match?.[2];
}

/** A server's address: an IP literal and a port, as `add server` and `set server addr` take it. */
export const RegisterBody = z.strictObject({
  address: z.string().max(64).regex(SERVER_ADDRESS, 'must be ip:port (IPv4, or [IPv6])'),
});
export type RegisterBody = z.infer<typeof RegisterBody>;

export const DrainBody = z.strictObject({
  /** How long to wait for open sessions before maintenance; the relay caps it at its own maximum. */
  timeoutMs: z.number().int().nonnegative().max(10 * 60_000).optional(),
});
export type DrainBody = z.infer<typeof DrainBody>;

export const ServersAnswer = z.object({
  servers: z.array(z.object({ name: z.string(), address: z.string(), state: z.enum(['ready', 'drain', 'maint']) })),
});

export const RelayErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

/** The server path every change and read goes through; names are encoded by the caller. */
export const relayPaths = {
  servers: (backend: string) => `/v1/backends/${encodeURIComponent(backend)}/servers`,
  drain: (backend: string, server: string) => `/v1/backends/${encodeURIComponent(backend)}/servers/${encodeURIComponent(server)}/drain`,
  register: (backend: string, server: string) => `/v1/backends/${encodeURIComponent(backend)}/servers/${encodeURIComponent(server)}/register`,
};
