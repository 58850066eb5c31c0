// Applies a flattened route table (route-acl.ts) to a running HAProxy through its runtime API,
// never a reload: for each ACL and map file a new version is prepared, filled and then all are
// committed in one exchange, so a request meets the old table or the new one, cluster by
// cluster within microseconds, and never a half-filled file (management guide, "prepare acl",
// "add acl @<ver>", "commit acl"). Also puts a retired cluster's servers into maintenance.
import net from 'node:net';
import type { Logger } from '../contract/logger.js';
import type { BackendServer } from '../ports/load-balancer.js';
import { LoadBalancerCommandError, assertName, exchange, parseSocketAddress, serverRef, splitReplies } from './runtime-socket.js';
import { HAProxyRuntimeApi } from './runtime-api.js';

/** One file HAProxy loaded, by its name, and what it must hold. */
export interface PatternFile {
  kind: 'acl' | 'map';
  /** The file's name, without its directory: HAProxy may see the directory under another path (a container). */
  file: string;
  /** ACL patterns, or map lines `KEY VALUE`. */
  lines: string[];
}

const DEFAULT_COMMAND_TIMEOUT_MS = 5_000;
/** HAProxy reads a command line into one buffer (tune.bufsize, 16 kB unless changed): well below it. */
const MAX_LINE_CHARS = 4_000;
const LISTED = /^(\d+) \(([^)]*)\)/;

export class RoutingRuntime {
  readonly #address: string;
  readonly #connect: net.NetConnectOpts;
  readonly #timeoutMs: number;
  readonly #logger: Logger;

  constructor(options: { address: string; logger: Logger; commandTimeoutMs?: number }) {
    this.#address = options.address;
    this.#connect = parseSocketAddress(options.address);
    this.#timeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.#logger = options.logger.child({ component: 'haproxy-routing', address: options.address });
  }

  /** Replaces every file's entries in HAProxy at once. */
  async apply(files: PatternFile[]): Promise<void> {
    const targets = await this.#locate(files);
    const prepared = await this.#many(targets.map((t) => `prepare ${t.kind} #${t.id}`));
    const versioned = targets.map((target, i) => {
      const version = /^New version created: (\d+)$/.exec(prepared[i] ?? '')?.[1];
      if (version === undefined) throw new LoadBalancerCommandError(`prepare ${target.kind} #${target.id}`, prepared[i] || '(no reply)');
      return { ...target, version };
    });
    try {
      const adds = versioned.flatMap((t) => t.lines.map((line) => `add ${t.kind} @${t.version} #${t.id} ${line}`));
      for (const chunk of chunks(adds)) await this.#expectEmpty(chunk);
      await this.#expectEmpty(versioned.map((t) => `commit ${t.kind} @${t.version} #${t.id}`));
    } catch (error) {
      // An uncommitted version is never served; cleared so that its entries do not linger in memory.
      await this.#many(versioned.map((t) => `clear ${t.kind} @${t.version} #${t.id}`)).catch(() => undefined);
      throw error;
    }
    this.#logger.info({ files: files.map((f) => `${f.file} (${f.lines.length})`) }, 'route files applied');
  }

  /** What HAProxy holds now for each file, for checks and tests. */
  async entries(file: PatternFile['file'], kind: PatternFile['kind']): Promise<string[]> {
    const [target] = await this.#locate([{ kind, file, lines: [] }]);
    const reply = (await this.#many([`show ${kind} #${target!.id}`]))[0] ?? '';
    // Each line is `0xADDRESS PATTERN` (acl) or `0xADDRESS KEY VALUE` (map).
    return reply.split('\n').filter((line) => line !== '').map((line) => line.replace(/^0x[0-9a-f]+ /, ''));
  }

  /** Every server of `backend` into maintenance in one exchange; answers the servers as they are after it. */
  async maintenance(backend: string): Promise<BackendServer[]> {
    assertName(backend, 'backend');
    const api = new HAProxyRuntimeApi({ address: this.#address, drainTimeoutMs: 0, logger: this.#logger, commandTimeoutMs: this.#timeoutMs });
    const servers = await api.servers(backend);
    if (servers.length > 0) await this.#expectEmpty(servers.map((s) => `set server ${serverRef(backend, s.name)} state maint`));
    this.#logger.info({ backend, servers: servers.map((s) => s.name) }, 'backend put into maintenance');
    return api.servers(backend);
  }

  /** Each file's id in HAProxy, by its name: an ACL or map HAProxy never loaded is the config's fault, said so. */
  async #locate(files: PatternFile[]): Promise<Array<PatternFile & { id: string }>> {
    const [acls = '', maps = ''] = await this.#many(['show acl', 'show map']);
    const listed = { acl: parseListing(acls), map: parseListing(maps) };
    return files.map((file) => {
      const found = listed[file.kind].find(({ path }) => path === file.file || path.endsWith(`/${file.file}`));
      if (!found) {
        throw new LoadBalancerCommandError(
          `show ${file.kind}`,
          `HAProxy loaded no ${file.kind} file named ${file.file}; add the routed frontend's lines to haproxy.cfg (README, "Red-white routing") and restart HAProxy`,
        );
      }
      return { ...file, id: found.id };
    });
  }

  async #many(commands: string[]): Promise<Array<string | undefined>> {
    this.#logger.debug({ commands: commands.length, first: commands[0] }, 'runtime api commands');
    const answer = await exchange(this.#address, this.#connect, commands.join(';'), this.#timeoutMs);
    return splitReplies(answer, commands.length);
  }

  /** `add`, `commit` and `set server` answer nothing when they succeed. */
  async #expectEmpty(commands: string[]): Promise<void> {
    const replies = await this.#many(commands);
    const refused = replies.findIndex((reply) => reply !== '');
    if (refused >= 0) throw new LoadBalancerCommandError(commands[refused]!, replies[refused]?.split('\n')[0]?.trim() || '(no reply)');
  }
}

function parseListing(reply: string): Array<{ id: string; path: string }> {
  return reply.split('\n').flatMap((line) => {
    const match = LISTED.exec(line);
    return match?.[2] ? [{ id: match[1]!, path: match[2] }] : [];
  });
}

/** Commands grouped into lines of at most MAX_LINE_CHARS. */
function chunks(commands: string[]): string[][] {
  const groups: string[][] = [];
  let current: string[] = [];
  let length = 0;
  for (const command of commands) {
    if (current.length > 0 && length + command.length + 1 > MAX_LINE_CHARS) {
      groups.push(current);
      current = [];
      length = 0;
    }
    current.push(command);
    length += command.length + 1;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}
