// Puts servers in and out of an HAProxy backend through its runtime API (the stats socket):
// dynamic servers (`add server`, HAProxy >= 2.4) with health checks for registration,
// drain-then-maint for removal.

import net from 'node:net';
import { ConfigError, GrapevineError, TimeoutError, UnreachableError, ValidationError } from '../contract/errors.js';
import { pollUntil } from '../contract/waiting.js';
import type { Logger } from '../contract/logger.js';
import type { DeployContext } from '../ports/deploy-context.js';
import type { BackendServer, LoadBalancer, ServerState } from '../ports/load-balancer.js';
import { SERVER_CHECK_OPTIONS } from './server-checks.js';

export interface HAProxyRuntimeApiOptions {
  /** `unix:/run/haproxy/admin.sock` or `tcp:127.0.0.1:9999`; the socket needs `level admin`. */
  address: string;
  /** Longest wait for a draining server's sessions to end before it goes to maintenance anyway. */
  drainTimeoutMs: number;
  logger: Logger;
  commandTimeoutMs?: number;
}

/** HAProxy refused a command; it answers errors as text on an otherwise normal connection. */
export class LoadBalancerCommandError extends GrapevineError {
  readonly command: string;
  readonly reply: string;
  constructor(command: string, reply: string) {
    super('lb_command_failed', `HAProxy refused "${command}": ${reply}`);
    this.command = command;
    this.reply = reply;
  }
}

// The CLI splits commands on spaces and semicolons, so names are held to a safe set.
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
// srv_admin_state bits from the management guide ("show servers state"): forced, inherited,
// configuration and DNS-resolution maintenance; forced and inherited drain.
const ADMIN_MAINT = 0x01 | 0x02 | 0x04 | 0x20;
const ADMIN_DRAIN = 0x08 | 0x10;
// srv_op_state: 0 stopped (DOWN by its checks, or in maintenance), 1 starting, 2 running, 3 stopping.
const OP_STOPPED = 0;
const DRAIN_POLL_MS = 50;
const DEFAULT_COMMAND_TIMEOUT_MS = 5_000;

interface ServerAddress {
  ip: string;
  port: number;
}

/** A server as HAProxy lists it: what it was told (admin) and whether its checks find it up. */
interface ListedServer {
  name: string;
  address: string;
  admin: ServerState;
  down: boolean;
}

export class HAProxyRuntimeApi implements LoadBalancer {
  private readonly address: string;
  private readonly connectOptions: net.NetConnectOpts;
  private readonly drainTimeoutMs: number;
  private readonly commandTimeoutMs: number;
  private readonly logger: Logger;

  constructor(options: HAProxyRuntimeApiOptions) {
    this.address = options.address;
    this.connectOptions = parseSocketAddress(options.address);
    this.drainTimeoutMs = options.drainTimeoutMs;
    this.commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.logger = options.logger.child({ component: 'haproxy', address: options.address });
  }

  async register(backend: string, server: string, address: string, context?: DeployContext): Promise<void> {
    const log = this.loggerFor(context);
    const target = serverRef(backend, server);
    const wanted = parseServerAddress(address);
    const current = (await this.#servers(backend, log)).find((s) => s.name === server);
    let added = false;
    if (!current) {
      const reply = await this.send(
        `add server ${target} ${formatAddress(wanted)} ${SERVER_CHECK_OPTIONS}`,
        (r) => /^New server registered|^Already exists a server/.test(r),
        log,
      );
      // Another registrant of the same name won the race: treat it as existing and update it.
      added = reply.startsWith('New server registered');
      // A dynamic server's checks start disabled; it is still in maintenance, so nothing is sent to it yet.
      if (added) await this.send(`enable health ${target}`, (r) => r === '', log);
    }
    if (!added && current?.address !== formatAddress(wanted)) {
      await this.send(`set server ${target} addr ${wanted.ip} port ${wanted.port}`, (r) => /^(IP changed|no need to change)/.test(r), log);
    }
    await this.send(`set server ${target} state ready`, (r) => r === '', log);
    // Its checks may have failed while its container was replaced; the container was just found
    // healthy, so it serves now instead of after `rise` checks (and stops counting as out).
    await this.send(`set server ${target} health up`, (r) => r === '', log);
    log.info({ backend, server, address }, 'server registered');
  }

  async drain(backend: string, server: string, context?: DeployContext): Promise<void> {
    const signal = context?.signal;
    const log = this.loggerFor(context);
    signal?.throwIfAborted();
    const target = serverRef(backend, server);
    const current = (await this.#servers(backend, log)).find((s) => s.name === server);
    // By what it was told, not its health: a server DOWN by its checks still goes to maintenance,
    // so that its checks cannot put it back in rotation while its container is replaced.
    if (!current || current.admin === 'maint') return;

    await this.send(`set server ${target} state drain`, (r) => r === '', log);
    let open = 0;
    const drained = async () => {
      open = await this.openSessions(backend, server, log);
      return open === 0 ? true : undefined;
    };
    try {
      await pollUntil(`${backend}/${server} to drain`, drained, { timeoutMs: this.drainTimeoutMs, intervalMs: DRAIN_POLL_MS, signal, tolerate: () => false });
    } catch (error) {
      if (!(error instanceof TimeoutError)) throw error;
      log.warn(
        { backend, server, sessions: open, drainTimeoutMs: this.drainTimeoutMs },
        'sessions still open at the drain timeout; putting the server in maintenance anyway',
      );
    }
    await this.send(`set server ${target} state maint`, (r) => r === '', log);
    log.info({ backend, server }, 'server drained');
  }

  /** A server its checks find DOWN is listed in maintenance: HAProxy sends it nothing, whatever it was told. */
  async servers(backend: string): Promise<BackendServer[]> {
    return (await this.#servers(backend, this.logger)).map(({ name, address, admin, down }) => ({
      name,
      address,
      state: admin === 'ready' && down ? 'maint' : admin,
    }));
  }

  /** A deploy's calls log through the deploy's logger, so every line names the deploy. */
  private loggerFor(context: DeployContext | undefined): Logger {
    return context ? context.logger.child({ component: 'haproxy', address: this.address }) : this.logger;
  }

  async #servers(backend: string, log: Logger): Promise<ListedServer[]> {
    assertName(backend, 'backend');
    const reply = await this.send(`show servers state ${backend}`, (r) => /^1\n# /.test(r), log);
    return parseTable(reply.split('\n').slice(1), ' ').map((row) => {
      const ip = row.srv_addr === '-' || !row.srv_addr ? (row.srv_fqdn ?? '-') : row.srv_addr;
      return {
        name: row.srv_name ?? '',
        address: formatAddress({ ip, port: Number(row.srv_port) }),
        admin: adminState(Number(row.srv_admin_state)),
        down: Number(row.srv_op_state) === OP_STOPPED,
      };
    });
  }

  /** Sessions the server still serves or has queued; a vanished server has none. */
  private async openSessions(backend: string, server: string, log: Logger): Promise<number> {
    // Type 4 limits the dump to servers; -1 means all of them.
    const reply = await this.send(`show stat ${backend} 4 -1`, (r) => r.startsWith('# pxname'), log);
    const row = parseTable(reply.split('\n'), ',').find((r) => r.pxname === backend && r.svname === server);
    return row ? Number(row.scur || 0) + Number(row.qcur || 0) : 0;
  }

  /** One command per connection: HAProxy answers and closes, so the reply is all it sent. */
  private async send(command: string, accepts: (reply: string) => boolean, log: Logger): Promise<string> {
    log.debug({ command }, 'runtime api command');
    const reply = (await this.exchange(command)).replace(/\n+$/, '');
    if (!accepts(reply)) {
      // The help text that follows "Unknown command" is noise in an error message.
      throw new LoadBalancerCommandError(command, reply.split('\n')[0]?.trim() || '(empty reply)');
    }
    return reply;
  }

  private exchange(command: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      const socket = net.createConnection(this.connectOptions);
      const timer = setTimeout(() => {
        socket.destroy(new Error(`no complete answer within ${this.commandTimeoutMs} ms`));
      }, this.commandTimeoutMs);
      socket.on('connect', () => socket.write(`${command}\n`));
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', (error) => {
        clearTimeout(timer);
        reject(
          new UnreachableError(`HAProxy runtime API at ${this.address} failed on "${command}": ${error.message}`, {
            cause: error,
          }),
        );
      });
      socket.on('close', (hadError) => {
        clearTimeout(timer);
        if (!hadError) resolve(Buffer.concat(chunks).toString('utf8'));
      });
    });
  }
}

function assertName(value: string, what: string): void {
  if (!NAME.test(value)) {
    throw new ValidationError(`${what} name ${JSON.stringify(value)} must be 1-64 letters, digits, _ . or -`);
  }
}

function serverRef(backend: string, server: string): string {
  assertName(backend, 'backend');
  assertName(server, 'server');
  return `${backend}/${server}`;
}

/**
 * Only IP literals: `set server ... addr` takes no host names and dynamic servers have no
 * resolvers, so a name would register but could never be updated.
 */
function parseServerAddress(address: string): ServerAddress {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):([0-9]{1,5})$/.exec(address);
  const ip = match?.[1] ?? match?.[2] ?? '';
  const port = Number(match?.[3]);
  const ipOk = match?.[1] !== undefined ? net.isIPv6(ip) : net.isIPv4(ip);
  if (!match || !ipOk || port < 1 || port > 65535) {
    throw new ValidationError(
      `server address ${JSON.stringify(address)} must be ip:port (IPv4, or [IPv6]) with a port from 1 to 65535`,
    );
  }
  return { ip, port };
}

function formatAddress({ ip, port }: ServerAddress): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function parseSocketAddress(address: string): net.NetConnectOpts {
  if (address.startsWith('unix:') && address.length > 'unix:'.length) return { path: address.slice('unix:'.length) };
  const tcp = /^tcp:(.+):([0-9]{1,5})$/.exec(address);
  if (tcp?.[1] && tcp[2]) return { host: tcp[1].replace(/^\[(.*)\]$/, '$1'), port: Number(tcp[2]) };
  throw new ConfigError(`HAProxy runtime API address ${JSON.stringify(address)} must be unix:/path or tcp:host:port`);
}

function adminState(bits: number): ServerState {
  if (bits & ADMIN_MAINT) return 'maint';
  if (bits & ADMIN_DRAIN) return 'drain';
  return 'ready';
}

/**
 * Rows of a table whose header line starts with "# " (both `show servers state` and
 * `show stat`), keyed by column name so that added columns in later versions do no harm.
 */
function parseTable(lines: string[], separator: string): Array<Record<string, string>> {
  const headerAt = lines.findIndex((line) => line.startsWith('# '));
  if (headerAt < 0) return [];
  const columns = lines[headerAt]!.slice(2).split(separator);
  return lines
    .slice(headerAt + 1)
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => {
      const cells = line.split(separator);
      return Object.fromEntries(columns.map((column, i) => [column, cells[i] ?? '']));
    });
}
