// The flags app's HTTP side: GET / answers like the other tags (`TAG HOST`) followed by the
// banner flag's value for the request's user; GET /healthz answers "ok" when built healthy.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BannerFlag } from './banner-flag.js';
import type { FlagsAppConfig } from './config.js';

/** The targeting key when a request names no user. */
export const ANONYMOUS = 'anonymous';
/** Longest targeting key taken from a request; a longer one is cut, never refused. */
const MAX_USER_LENGTH = 256;

export interface RunningFlagsApp {
  url: string;
  close(): Promise<void>;
}

export function listenFlagsApp(config: Pick<FlagsAppConfig, 'version' | 'host' | 'port' | 'healthy'>, banner: BannerFlag, bindHost?: string): Promise<RunningFlagsApp> {
  const server = createServer((request, response) => {
    answer(config, banner, request, response).catch(() => {
      // Only a closed connection gets here: isOn never rejects.
      if (!response.headersSent) response.writeHead(500).end();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, bindHost, () => {
      const { port } = server.address() as AddressInfo;
      resolve({ url: `http://${bindHost ?? '127.0.0.1'}:${port}`, close: () => closeServer(server) });
    });
  });
}

async function answer(config: Pick<FlagsAppConfig, 'version' | 'host' | 'healthy'>, banner: BannerFlag, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://sample-app');
  if (request.method !== 'GET' && request.method !== 'HEAD') return text(response, 405, 'method not allowed\n');
  if (url.pathname === '/healthz') return config.healthy ? text(response, 200, 'ok') : text(response, 404, 'unhealthy\n');
  if (url.pathname !== '/') return text(response, 404, 'not found\n');
  const on = await banner.isOn(userOf(request, url));
  text(response, 200, `${config.version} ${config.host} banner=${on ? 'on' : 'off'}\n`);
}

/** The targeting key: `?user=` first, then the X-User header, else anonymous. */
export function userOf(request: Pick<IncomingMessage, 'headers'>, url: URL): string {
  const header = request.headers['x-user'];
  const user = url.searchParams.get('user') || (Array.isArray(header) ? header[0] : header) || ANONYMOUS;
  return user.slice(0, MAX_USER_LENGTH);
}

function text(response: ServerResponse, status: number, body: string): void {
  response.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
  response.end(body);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Keep-alive connections from the load balancer would hold close() open.
    server.closeAllConnections();
  });
}
