// HAProxy's access log, received by the relay: HAProxy sends one UDP datagram per request to a
// loopback port (haproxy-config.ts `accessLog`, `format raw`, the log-format below), and each
// becomes a count in the traffic store. UDP because HAProxy never waits on it: a relay that is
// down or slow loses figures, never requests.
import dgram from 'node:dgram';
import { ConfigError } from '../shared/contract/errors.js';
import type { Logger } from '../shared/contract/logger.js';
import { ACCESS_LOG_FORMAT, ACCESS_LOG_TAG } from '../shared/haproxy/haproxy-config.js';
import type { AccessEntry, TrafficStore } from './traffic-store.js';

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
/** A malformed line is reported at most this often, with how many there were since. */
const REPORT_EVERY_MS = 60_000;

/**
 * One line of ACCESS_LOG_FORMAT (`gv1 <backend> <server> <status> <Tr> <Ta>`), or undefined for
 * anything else: another format, a request no server took (`<NOSRV>`), a name HAProxy would not hold.
 */
export function parseAccessLine(line: string): AccessEntry | undefined {
  const fields = line.trim().split(' ');
  if (fields.length !== 6 || fields[0] !== ACCESS_LOG_TAG) return undefined;
  const [, backend, server, status, tr] = fields as [string, string, string, string, string, string];
  if (!NAME.test(backend) || !NAME.test(server)) return undefined;
  const code = Number(status);
  const responseMs = Number(tr);
  if (!Number.isInteger(code) || !Number.isInteger(responseMs)) return undefined;
  // HAProxy logs -1 for a time it never measured: the server did not answer.
  return { backend, server, status: code, responseMs: responseMs >= 0 ? responseMs : undefined };
}

export interface AccessLogListener {
  /** The UDP address it listens on, `127.0.0.1:PORT`. */
  address: string;
  stop(): Promise<void>;
}

export async function listenAccessLog(listen: string, store: TrafficStore, logger: Logger): Promise<AccessLogListener> {
  const log = logger.child({ component: 'access-log' });
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  const port = Number(listen.slice(at + 1));
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  let malformed = 0;
  let reportedAt = 0;
  socket.on('message', (message) => {
    for (const line of message.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      const entry = parseAccessLine(line);
      if (entry) {
        store.record(entry);
      } else if (!line.includes('<NOSRV>')) {
        malformed += 1;
        if (Date.now() - reportedAt >= REPORT_EVERY_MS) {
          // The line may carry what a client sent; its length is enough to say something is off.
          log.warn({ malformed, length: line.length, format: ACCESS_LOG_FORMAT }, 'access log lines not in the expected format were ignored');
          reportedAt = Date.now();
          malformed = 0;
        }
      }
    }
  });
  await new Promise<void>((resolve, reject) => {
    const refused = (error: Error) => reject(new ConfigError(`accessLog.listen ${listen}: cannot receive HAProxy's log there (${error.message})`, { cause: error }));
    socket.once('error', refused);
    socket.bind(port, host, () => {
      socket.off('error', refused);
      resolve();
    });
  });
  socket.on('error', (error) => log.error({ err: error }, 'access log socket failed'));
  const bound = socket.address();
  const address = bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
  log.info({ address }, 'receiving the access log');
  return {
    address,
    stop: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
