// One exchange with HAProxy's runtime API (the stats socket): a connection, one line of
// commands, the reply, close. Several commands go on one line separated by `;`, which HAProxy
// runs one after the other in the same exchange and answers each with its own reply, every
// reply ended by an empty line (management guide, "Unix Socket commands").
import net from 'node:net';
import { ConfigError, GrapevineError, UnreachableError, ValidationError } from '../contract/errors.js';

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

export function assertName(value: string, what: string): void {
  if (!NAME.test(value)) {
    throw new ValidationError(`${what} name ${JSON.stringify(value)} must be 1-64 letters, digits, _ . or -`);
  }
}

export function serverRef(backend: string, server: string): string {
  assertName(backend, 'backend');
  assertName(server, 'server');
  return `${backend}/${server}`;
}

export function parseSocketAddress(address: string): net.NetConnectOpts {
  if (address.startsWith('unix:') && address.length > 'unix:'.length) return { path: address.slice('unix:'.length) };
  const tcp = /^tcp:(.+):([0-9]{1,5})$/.exec(address);
  if (tcp?.[1] && tcp[2]) return { host: tcp[1].replace(/^\[(.*)\]$/, '$1'), port: Number(tcp[2]) };
  throw new ConfigError(`HAProxy runtime API address ${JSON.stringify(address)} must be unix:/path or tcp:host:port`);
}

/** Sends `line` on a new connection and resolves with everything HAProxy answered before it closed. */
export function exchange(address: string, connectOptions: net.NetConnectOpts, line: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.createConnection(connectOptions);
    const timer = setTimeout(() => {
      socket.destroy(new Error(`no complete answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(`${line}\n`));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error) => {
      clearTimeout(timer);
      const what = line.length > 200 ? `${line.slice(0, 200)}...` : line;
      reject(new UnreachableError(`HAProxy runtime API at ${address} failed on "${what}": ${error.message}`, { cause: error }));
    });
    socket.on('close', (hadError) => {
      clearTimeout(timer);
      if (!hadError) resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

/**
 * The replies to `count` commands sent on one line, in order: each is its lines up to the
 * empty line that ends it (an empty reply, a command's success for most `set` commands, is
 * the empty line alone). A reply HAProxy did not send (it closed early) is undefined.
 */
export function splitReplies(answer: string, count: number): Array<string | undefined> {
  const replies: Array<string | undefined> = [];
  let current: string[] = [];
  for (const line of answer.split('\n')) {
    if (replies.length === count) break;
    if (line === '') {
      replies.push(current.join('\n'));
      current = [];
    } else {
      current.push(line);
    }
  }
  while (replies.length < count) replies.push(undefined);
  return replies;
}

/**
 * Rows of a table whose header line starts with "# " (both `show servers state` and
 * `show stat`), keyed by column name so that added columns in later versions do no harm.
 * With `where`, only the rows whose cells hold those values: a row becomes an object only
 * when it matches. `show stat` has about a hundred columns, and making every row of a
 * 90-server backend an object cost the relay 5 ms of CPU per drain, which waits on it.
 */
export function parseTable(lines: string[], separator: string, where: Readonly<Record<string, string>> = {}): Array<Record<string, string>> {
  const headerAt = lines.findIndex((line) => line.startsWith('# '));
  if (headerAt < 0) return [];
  const columns = lines[headerAt]!.slice(2).split(separator);
  const wanted = Object.entries(where).map(([column, value]) => ({ at: columns.indexOf(column), value }));
  const rows: Array<Record<string, string>> = [];
  for (const line of lines.slice(headerAt + 1)) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const cells = line.split(separator);
    if (!wanted.every(({ at, value }) => at >= 0 && cells[at] === value)) continue;
    const row: Record<string, string> = {};
    columns.forEach((column, i) => (row[column] = cells[i] ?? ''));
    rows.push(row);
  }
  return rows;
}
