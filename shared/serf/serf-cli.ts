// Talks to a running `serf agent` through the `serf` binary's RPC client commands.
import { execa } from 'execa';
import { z } from 'zod';
import { GrapevineError, UnreachableError, errorMessage } from '../contract/errors.js';
import type { Membership, MembershipFilter, SerfMember } from '../ports/membership.js';


const MembersOutput = z.object({
  members: z
    .array(
      z.object({
        name: z.string(),
        addr: z.string(),
        port: z.number(),
        tags: z.record(z.string(), z.string()).nullable().optional(),
        status: z.string(),
      }),
    )
    .nullable(),
});

export interface SerfCliOptions {
  binary?: string;
  rpcAddr: string;
  rpcAuth: string;
  timeoutMs?: number;
}

export class SerfCli implements Membership {
  private readonly binary: string;
  private readonly rpc: string[];
  /** The RPC token travels in the environment (`serf` reads SERF_RPC_AUTH), never on a command line others can read. */
  private readonly env: Record<string, string>;
  private readonly timeoutMs: number;

  constructor(options: SerfCliOptions) {
    this.binary = options.binary ?? 'serf';
    this.rpc = [`-rpc-addr=${options.rpcAddr}`];
    this.env = { SERF_RPC_AUTH: options.rpcAuth };
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /**
   * Members whose tags fully match every given regular expression. Failed and left
   * members stay listed for hours, so callers almost always want `status: 'alive'`.
   */
  async members(filter: MembershipFilter = {}): Promise<SerfMember[]> {
    const args = ['members', ...this.rpc, '-format=json'];
    for (const [name, pattern] of Object.entries(filter.tags ?? {})) args.push(`-tag=${name}=${pattern}`);
    if (filter.status) args.push(`-status=${filter.status}`);
    const stdout = await this.run(args);
    let parsed: z.infer<typeof MembersOutput>;
    try {
      parsed = MembersOutput.parse(JSON.parse(stdout));
    } catch (error) {
      throw new GrapevineError('serf_output', `unexpected output from serf members: ${errorMessage(error)}`);
    }
    return (parsed.members ?? []).map((m) => ({ ...m, tags: m.tags ?? {} }));
  }

  /** Fires a user event. Coalescing is off: it would hold events for a second and drop all but the last. */
  async event(name: string, payload: string): Promise<void> {
    await this.run(['event', ...this.rpc, '-coalesce=false', name, payload]);
  }

  private async run(args: string[]): Promise<string> {
    try {
      const result = await execa(this.binary, args, { env: this.env, timeout: this.timeoutMs, stripFinalNewline: true });
      return result.stdout;
    } catch (error) {
      // serf prints its own errors on stdout.
      const { stderr, stdout } = error as { stderr?: string; stdout?: string };
      const said = stderr?.trim() || stdout?.trim();
      throw new UnreachableError(`serf ${args[0]} failed: ${said || errorMessage(error)}`, { cause: error });
    }
  }
}
