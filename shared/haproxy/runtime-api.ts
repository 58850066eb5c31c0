// Puts servers in and out of an HAProxy backend through its runtime API (the stats socket):
// dynamic servers (`add server`, HAProxy >= 2.4) with health checks for registration,
// drain-then-maint for removal, and the servers' weights, a whole backend's in one exchange.

import net from 'node:net';
import { TimeoutError, ValidationError } from '../contract/errors.js';
import { pollUntil } from '../contract/waiting.js';
import type { Logger } from '../contract/logger.js';
import { FULL_WEIGHT } from '../contract/strategy.js';
import type { DeployContext } from '../ports/deploy-context.js';
import type { BackendServer, LoadBalancer, RegisterOptions, ServerState } from '../ports/load-balancer.js';
import type { TrafficControl, WeightedServer } from '../ports/traffic.js';
import { LoadBalancerCommandError, assertName, exchange, parseSocketAddress, parseTable, serverRef, splitReplies } from './runtime-socket.js';
import { SERVER_CHECK_OPTIONS } from './server-checks.js';

export { LoadBalancerCommandError } from './runtime-socket.js';

export interface HAProxyRuntimeApiOptions {
  /** `unix:/run/haproxy/admin.sock` or `tcp:127.0.0.1:9999`; the socket needs `level admin`. */
  address: string;
  /** Longest wait for a draining server's sessions to end before it goes to maintenance anyway. */
  drainTimeoutMs: number;
  logger: Logger;
  commandTimeoutMs?: number;
}

// srv_admin_state bits from the management guide ("show servers state"): forced, inherited,
// configuration and DNS-resolution maintenance; forced and inherited drain.
const ADMIN_MAINT = 0x01 | 0x02 | 0x04 | 0x20;
const ADMIN_DRAIN = 0x08 | 0x10;
// srv_op_state: 0 stopped (DOWN by its checks, or in maintenance), 1 starting, 2 running, 3 stopping.
const OP_STOPPED = 0;
const DRAIN_POLL_MS = 50;
const DEFAULT_COMMAND_TIMEOUT_MS = 5_000;
/** HAProxy's own bounds of a server's weight (management guide, `set server ... weight`). */
export const MAX_WEIGHT = 256;

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
  /** The weight an operator or Grapevine set (srv_uweight), which HAProxy serves by. */
  weight: number;
}

export class HAProxyRuntimeApi implements LoadBalancer, Pick<TrafficControl, 'setWeights' | 'weights'> {
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

  /**
   * Registers the server at FULL_WEIGHT unless given another weight (a blue/green host's idle
   * colour at 0), so that a server registered again after a canary step serves at full weight.
   */
  async register(backend: string, server: string, address: string, context?: DeployContext, options: RegisterOptions = {}): Promise<void> {
    const log = this.loggerFor(context);
    const target = serverRef(backend, server);
    const wanted = parseServerAddress(address);
    const weight = options.weight ?? FULL_WEIGHT;
    assertWeight(weight, server);
    const [current] = await this.#servers(backend, log, server);
    let added = false;
    if (!current) {
      const reply = await this.send(
        `add server ${target} ${formatAddress(wanted)} weight ${FULL_WEIGHT} ${SERVER_CHECK_OPTIONS}`,
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
    // Before it is put in rotation, so it never serves a moment at the weight of a past canary step.
    // Added at FULL_WEIGHT whatever it serves at: that is its initial weight, the one the
    // backend's `default-server` gives it after a reload, and HAProxy restores a saved weight
    // from the server-state file only onto a server of the same initial weight.
    if ((added ? FULL_WEIGHT : current?.weight) !== weight) await this.send(`set server ${target} weight ${weight}`, (r) => r === '', log);
    await this.send(`set server ${target} state ready`, (r) => r === '', log);
    // Its checks may have failed while its container was replaced; the container was just found
    // healthy, so it serves now instead of after `rise` checks (and stops counting as out).
    await this.send(`set server ${target} health up`, (r) => r === '', log);
    log.info({ backend, server, address, weight }, 'server registered');
  }

  async drain(backend: string, server: string, context?: DeployContext): Promise<void> {
    const signal = context?.signal;
    const log = this.loggerFor(context);
    signal?.throwIfAborted();
    const target = serverRef(backend, server);
    const [current] = await this.#servers(backend, log, server);
    // By what it was told, not its health: a server DOWN by its checks still goes to maintenance,
    // so that its checks cannot put it back in rotation while its container is replaced.
    if (!current || current.admin === 'maint') return;

    // The drain and the first count of what it leaves open, in one exchange (HAProxy runs a
    // line's commands in order): on a busy machine each exchange waits for two processes to run.
    const commands = [`set server ${target} state drain`, `show stat ${backend} 4 -1`];
    log.debug({ commands }, 'runtime api commands');
    const [drainReply, stat] = splitReplies(await this.exchange(commands.join(';')), 2);
    if (drainReply !== '') throw new LoadBalancerCommandError(commands[0]!, drainReply?.split('\n')[0]?.trim() || '(no reply)');
    let open = sessionsOf(stat, backend, server, commands[1]!);
    const drained = async () => {
      open = await this.openSessions(backend, server, log);
      return open === 0 ? true : undefined;
    };
    try {
      if (open > 0) await pollUntil(`${backend}/${server} to drain`, drained, { timeoutMs: this.drainTimeoutMs, intervalMs: DRAIN_POLL_MS, signal, tolerate: () => false });
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

  /**
   * Sets every named server's weight with one line of `set server B/S weight W` commands, which
   * HAProxy runs in the same exchange, so a group's switch lands at once. All names and weights
   * are checked before anything is sent; a server HAProxy refuses is named in the error (the
   * others of the line are set all the same: HAProxy has no transaction over the runtime API).
   */
  async setWeights(backend: string, weights: Record<string, number>, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const entries = Object.entries(weights);
    if (entries.length === 0) return;
    const commands = entries.map(([server, weight]) => {
      assertWeight(weight, server);
      return `set server ${serverRef(backend, server)} weight ${weight}`;
    });
    const line = commands.join(';');
    this.logger.debug({ backend, servers: entries.length }, 'runtime api weights');
    const replies = splitReplies(await exchange(this.address, this.connectOptions, line, this.commandTimeoutMs), commands.length);
    const refused = replies.flatMap((reply, i) => (reply === '' ? [] : [`${entries[i]![0]}: ${reply?.split('\n')[0]?.trim() || '(no reply)'}`]));
    if (refused.length > 0) {
      throw new LoadBalancerCommandError(`set server ${backend}/... weight (${entries.length} servers)`, `refused for ${refused.join('; ')}`);
    }
    this.logger.info({ backend, weights }, 'weights set');
  }

  /** The backend's servers with their state and the weight they serve at. */
  async weights(backend: string, signal?: AbortSignal): Promise<WeightedServer[]> {
    signal?.throwIfAborted();
    return (await this.#servers(backend, this.logger)).map(({ name, address, admin, down, weight }) => ({
      name,
      address,
      state: admin === 'ready' && down ? 'maint' : admin,
      weight,
    }));
  }

  /** A deploy's calls log through the deploy's logger, so every line names the deploy. */
  private loggerFor(context: DeployContext | undefined): Logger {
    return context ? context.logger.child({ component: 'haproxy', address: this.address }) : this.logger;
  }

  /** The backend's servers, or only the one named `server` (none when it has no such server). */
  async #servers(backend: string, log: Logger, server?: string): Promise<ListedServer[]> {
    assertName(backend, 'backend');
    const reply = await this.send(`show servers state ${backend}`, (r) => /^1\n# /.test(r), log);
    return parseTable(reply.split('\n').slice(1), ' ', server === undefined ? {} : { srv_name: server }).map((row) => {
      const ip = row.srv_addr === '-' || !row.srv_addr ? (row.srv_fqdn ?? '-') : row.srv_addr;
      return {
        name: row.srv_name ?? '',
        address: formatAddress({ ip, port: Number(row.srv_port) }),
        admin: adminState(Number(row.srv_admin_state)),
        down: Number(row.srv_op_state) === OP_STOPPED,
        weight: Number(row.srv_uweight),
      };
    });
  }

  /** Sessions the server still serves or has queued; a vanished server has none. */
  private async openSessions(backend: string, server: string, log: Logger): Promise<number> {
    // Type 4 limits the dump to servers; -1 means all of them.
    const command = `show stat ${backend} 4 -1`;
    return sessionsOf(await this.send(command, (r) => r.startsWith('# pxname'), log), backend, server, command);
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
    return exchange(this.address, this.connectOptions, command, this.commandTimeoutMs);
  }
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

/** Sessions a server serves or has queued, from `show stat`'s reply; a vanished server has none. */
function sessionsOf(stat: string | undefined, backend: string, server: string, command: string): number {
  if (!stat?.startsWith('# pxname')) throw new LoadBalancerCommandError(command, stat?.split('\n')[0]?.trim() || '(no reply)');
  const [row] = parseTable(stat.split('\n'), ',', { pxname: backend, svname: server });
  return row ? Number(row.scur || 0) + Number(row.qcur || 0) : 0;
}

function formatAddress({ ip, port }: ServerAddress): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function adminState(bits: number): ServerState {
  if (bits & ADMIN_MAINT) return 'maint';
  if (bits & ADMIN_DRAIN) return 'drain';
  return 'ready';
}

function assertWeight(weight: number, server: string): void {
  if (!Number.isInteger(weight) || weight < 0 || weight > MAX_WEIGHT) {
    throw new ValidationError(`weight of server ${JSON.stringify(server)} must be a whole number from 0 to ${MAX_WEIGHT}, not ${weight}`);
  }
}
