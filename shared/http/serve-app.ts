// Serves a hono app (the coordinator's API, the load balancer's relay) over HTTPS when given
// a certificate and key, plain HTTP otherwise, and stops it within a bound.
import { serve, type ServerType } from '@hono/node-server';
import { createServer as createHttpsServer } from 'node:https';
import type { Server } from 'node:http';
import { TIMED_OUT, within } from '../contract/waiting.js';
import { readServerTls, type ServerTlsFiles } from './server-tls.js';

export interface ServeOptions {
  fetch: (request: Request) => Response | Promise<Response>;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Unset: plain HTTP. */
  tls?: ServerTlsFiles | undefined;
  /** Names the TLS setting in a ConfigError; `tls` unless given. */
  tlsField?: string;
}

export interface ServedApp {
  /** `https://host:port` or `http://host:port`, with the port it listens on. */
  url: string;
  /** Whether it speaks TLS. */
  secure: boolean;
  /** When the certificate it serves expires; unset over plain HTTP. */
  certificateValidTo?: string;
  /** Stops accepting, closes idle keep-alive connections at once and cuts the rest after `graceMs`. */
  close(graceMs: number): Promise<void>;
}

/** Listens, or rejects: a ConfigError for TLS files that are wrong, the listen error (EADDRINUSE) otherwise. */
export async function serveApp(options: ServeOptions): Promise<ServedApp> {
  // Read before anything listens, so a wrong file stops the start with its name.
  const material = options.tls === undefined ? undefined : readServerTls(options.tls, options.tlsField);
  const server = serve({
    fetch: options.fetch,
    hostname: options.host,
    port: options.port,
    ...(material === undefined ? {} : { createServer: createHttpsServer, serverOptions: { cert: material.cert, key: material.key } }),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `${material === undefined ? 'http' : 'https'}://${host}:${port}`,
    secure: material !== undefined,
    ...(material === undefined ? {} : { certificateValidTo: material.validTo }),
    close: (graceMs) => closeServer(server, graceMs),
  };
}

/** Whether plain HTTP on `host` stays on this machine (and so needs no TLS). */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

async function closeServer(server: ServerType, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  const http = server as Partial<Pick<Server, 'closeIdleConnections' | 'closeAllConnections'>>;
  http.closeIdleConnections?.();
  if ((await within(closed, graceMs)) === TIMED_OUT) {
    http.closeAllConnections?.();
    await within(closed, graceMs);
  }
}
