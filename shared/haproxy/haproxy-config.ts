// The haproxy.cfg of a local cluster: one frontend, one empty backend per role; hosts add
// themselves as dynamic servers with health checks through the admin socket. With a
// server-state file, a reload keeps them: provisioning/haproxy/save-servers.sh writes their
// `server` lines (checks included) into the backends and their states into that file just before it.

import path from 'node:path';
import { ValidationError } from '../contract/errors.js';
import { routedFrontendLines, validateRoutedFrontend, type RoutedFrontend } from './routed-frontend.js';

export interface HAProxyConfigOptions {
  /** ip:port the frontend listens on. */
  frontendBind: string;
  /** One backend per role; the first one takes all traffic of the frontend. */
  backends: string[];
  /** Absolute path of the admin unix socket. */
  runtimeSocket: string;
  /** Only written when HAProxy runs as a daemon (-D); ignored in the foreground. */
  pidFile?: string;
  /** More frontends, each sending everything to one backend (e.g. a staging environment's). */
  extraFrontends?: Array<{ bind: string; backend: string }>;
  /** Absolute path of the file a new worker reads the servers' states from (ready, drain, maintenance). */
  serverStateFile?: string;
  /** `ip:port` (UDP, loopback) of the relay's access-log listener: one line per request in ACCESS_LOG_FORMAT. */
  accessLog?: string;
  /** Frontends that route client versions to clusters (routed-frontend.ts); their files must exist first (createRoutingFiles). */
  routedFrontends?: RoutedFrontend[];
}

/** First word of every access log line, so the relay ignores lines of any other format. */
export const ACCESS_LOG_TAG = 'gv1';
/**
 * What the relay counts per server (lb-relay/access-log.ts): backend, server, the status the
 * client got (%ST, HAProxy's own 5xx included), the server's response time (%Tr) and the
 * request's total active time (%Ta), both in ms and -1 when never measured.
 */
export const ACCESS_LOG_FORMAT = `${ACCESS_LOG_TAG} %b %s %ST %Tr %Ta`;
/** A weight below it leaves room for the shares of a canary step (shared/contract/strategy.ts FULL_WEIGHT). */
const DEFAULT_SERVER_WEIGHT = 100;
const LOOPBACK_UDP = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]):\d{1,5}$/;

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const BIND = /^(\d{1,3}(\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]):\d{1,5}$/;
// A config line ends at whitespace and `#`, so paths are held to a safe set.
const SAFE_PATH = /^\/[A-Za-z0-9_.\/-]+$/;

export function haproxyConfig(options: HAProxyConfigOptions): string {
  const { frontendBind, backends, runtimeSocket, pidFile, extraFrontends = [], serverStateFile, accessLog, routedFrontends = [] } = options;
  if (backends.length === 0) throw new ValidationError('haproxy config needs at least one backend');
  for (const name of backends) {
    if (!NAME.test(name)) throw new ValidationError(`backend name ${JSON.stringify(name)} must be letters, digits, _ . or -`);
  }
  if (new Set(backends).size !== backends.length) throw new ValidationError('backend names must be unique');
  for (const frontend of routedFrontends) validateRoutedFrontend(frontend, backends);
  const frontendNames = ['fleet', ...extraFrontends.map((_, index) => `fleet-${index + 2}`), ...routedFrontends.map((f) => f.name)];
  if (new Set(frontendNames).size !== frontendNames.length) throw new ValidationError(`frontend names must be unique (${frontendNames.join(', ')})`);
  for (const bind of [frontendBind, ...extraFrontends.map((f) => f.bind), ...routedFrontends.map((f) => f.bind)]) {
    if (!BIND.test(bind)) throw new ValidationError(`frontend bind ${JSON.stringify(bind)} must be ip:port`);
  }
  for (const { backend } of extraFrontends) {
    if (!backends.includes(backend)) throw new ValidationError(`frontend backend ${JSON.stringify(backend)} is not one of the backends`);
  }
  if (accessLog !== undefined && !LOOPBACK_UDP.test(accessLog)) {
    throw new ValidationError(`access log address ${JSON.stringify(accessLog)} must be a loopback ip:port (127.0.0.1:PORT or [::1]:PORT)`);
  }
  for (const file of [runtimeSocket, pidFile, serverStateFile].filter((f) => f !== undefined)) {
    if (!path.isAbsolute(file) || !SAFE_PATH.test(file)) {
      throw new ValidationError(`${JSON.stringify(file)} must be an absolute path of letters, digits, _ . / -`);
    }
  }

  const lines = [
    'global',
    `  stats socket ${runtimeSocket} mode 600 level admin expose-fd listeners`,
    ...(pidFile === undefined ? [] : [`  pidfile ${pidFile}`]),
    ...(serverStateFile === undefined ? [] : [`  server-state-file ${serverStateFile}`]),
    '',
    'defaults',
    '  mode http',
    ...(serverStateFile === undefined ? [] : ['  load-server-state-from-file global']),
    // Every request, as one UDP datagram to the relay, which counts it for its server; HAProxy
    // never waits on it. `format raw` sends the line alone, without a syslog header.
    ...(accessLog === undefined ? [] : [`  log ${accessLog} len 2048 format raw local0`, `  log-format "${ACCESS_LOG_FORMAT}"`]),
    // A connect on a LAN answers in well under a millisecond and a lost SYN is only sent again
    // after 1 s: 500 ms gives up on an unreachable server soon enough that the retry on another
    // one (below) still answers within a client's 2 s, even when two attempts fail.
    '  timeout connect 500ms',
    '  timeout client 30s',
    '  timeout server 30s',
    '  timeout http-request 10s',
    '  timeout http-keep-alive 2s',
    // Server-side connections close after each response, so a draining server has no idle
    // keep-alive sessions holding it open.
    '  option http-server-close',
    '',
    'frontend fleet',
    `  bind ${frontendBind}`,
    `  default_backend ${backends[0]}`,
  ];
  for (const [index, { bind, backend }] of extraFrontends.entries()) {
    lines.push('', `frontend fleet-${index + 2}`, `  bind ${bind}`, `  default_backend ${backend}`);
  }
  for (const frontend of routedFrontends) lines.push('', ...routedFrontendLines(frontend));
  for (const name of backends) {
    lines.push(
      '',
      `backend ${name}`,
      '  balance roundrobin',
      // Servers written into the backend before a reload (save-servers.sh) serve at 100, as
      // `add server` registers them; the same initial weight also lets the server-state file
      // give back the weight each had (HAProxy applies a saved weight only when it matches).
      `  default-server weight ${DEFAULT_SERVER_WEIGHT}`,
      // A request that meets a dead or unreachable server (refused, or no answer within
      // `timeout connect`) is retried, twice at most, each retry balanced again (`redispatch 1`,
      // not only the last); the failure marks that server DOWN (server-checks.ts), so it goes elsewhere.
      '  retry-on conn-failure',
      '  retries 2',
      '  option redispatch 1',
    );
  }
  return `${lines.join('\n')}\n`;
}
