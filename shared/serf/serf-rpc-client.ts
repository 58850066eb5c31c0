// Membership and user events through a Serf agent's RPC, on one persistent connection: the
// answers `serf members` and `serf event` give, without starting a `serf` process per question.
import * as z from 'zod';
import { GrapevineError, errorMessage } from '../contract/errors.js';
import type { Logger } from '../contract/logger.js';
import type { Membership, MembershipFilter, SerfMember } from '../ports/membership.js';
import { SerfRpcConnection } from './serf-rpc-connection.js';

const MemberRecord = z.object({
  Name: z.string(),
  Addr: z.instanceof(Uint8Array),
  Port: z.number(),
  Tags: z.record(z.string(), z.string()).nullable().optional(),
  Status: z.string(),
});
export const MembersAnswer = z.object({ Members: z.array(MemberRecord).nullable() });

export interface SerfRpcClientOptions {
  /** host:port of the agent's RPC. */
  rpcAddr: string;
  rpcAuth: string;
  timeoutMs?: number;
  logger?: Logger;
}

export class SerfRpcClient implements Membership {
  readonly connection: SerfRpcConnection;

  constructor(options: SerfRpcClientOptions | SerfRpcConnection) {
    this.connection =
      options instanceof SerfRpcConnection
        ? options
        : new SerfRpcConnection({ address: options.rpcAddr, authKey: options.rpcAuth, ...(options.logger === undefined ? {} : { logger: options.logger }), ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }) });
  }

  /**
   * Members whose tags fully match every given regular expression (Serf anchors them, as
   * `serf members -tag` does). Failed and left members stay listed for hours, so callers
   * almost always want `status: 'alive'`.
   */
  async members(filter: MembershipFilter = {}): Promise<SerfMember[]> {
    const filtered = filter.tags !== undefined || filter.status !== undefined;
    const body = filtered ? { Tags: filter.tags ?? {}, Status: filter.status ?? '', Name: '' } : undefined;
    const answer = await this.connection.request(filtered ? 'members-filtered' : 'members', body, true);
    if (answer.error) throw new GrapevineError('serf_output', `serf members failed: ${answer.error}`);
    const parsed = MembersAnswer.safeParse(answer.body);
    if (!parsed.success) throw new GrapevineError('serf_output', `unexpected answer from serf members: ${errorMessage(parsed.error)}`);
    return (parsed.data.Members ?? []).map(memberOf);
  }

  /** Fires a user event. Coalescing is off: it would hold events for a second and drop all but the last. */
  async event(name: string, payload: string): Promise<void> {
    const answer = await this.connection.request('event', { Name: name, Payload: Buffer.from(payload), Coalesce: false }, false);
    if (answer.error) throw new GrapevineError('serf_event', `serf refused the ${name} event: ${answer.error}`);
  }

  close(): void {
    this.connection.close();
  }
}

function memberOf(record: z.infer<typeof MemberRecord>): SerfMember {
  const ip = ipText(record.Addr);
  // As `serf members` prints it: host:port, an IPv6 address in brackets.
  const addr = ip.includes(':') ? `[${ip}]:${record.Port}` : `${ip}:${record.Port}`;
  return { name: record.Name, addr, port: record.Port, tags: record.Tags ?? {}, status: record.Status };
}

/** Go's net.IP as bytes: 4 for IPv4, 16 for IPv6 (IPv4 inside as ::ffff:a.b.c.d). */
export function ipText(bytes: Uint8Array): string {
  const mapped = bytes.length === 16 && bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (bytes.length === 4 || mapped) return [...bytes.subarray(bytes.length - 4)].join('.');
  if (bytes.length !== 16) return [...bytes].join('.');
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}
