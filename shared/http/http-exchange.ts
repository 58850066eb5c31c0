// One HTTP request and its whole answer over node:http(s), for the clients of Grapevine's
// own services (the coordinator, the load balancer's relay). Each caller maps a failure to
// its own errors.
import type { Agent as HttpAgent, IncomingHttpHeaders } from 'node:http';
import { GrapevineError } from '../contract/errors.js';
import { retry } from '../contract/waiting.js';
import { http, https } from './node-http.js';

export interface HttpExchange {
  url: string;
  method: string;
  headers: Record<string, string>;
  /** Sent as is, with its content-length; no body when undefined. */
  body?: string | undefined;
  /** For the whole exchange, connecting included. */
  timeoutMs: number;
  agent: HttpAgent;
  signal?: AbortSignal | undefined;
  /** Reject a reset on a reused keep-alive connection as a StaleConnectionError, for a caller that sends it again. */
  markStaleResets?: boolean;
}

/** No whole answer within the exchange's timeoutMs. */
export class ExchangeTimeoutError extends GrapevineError {
  constructor() {
    super('exchange_timed_out', 'no answer within the timeout');
  }
}

/** A reset on a reused keep-alive connection before any answer arrived. */
export class StaleConnectionError extends GrapevineError {
  constructor(message: string, options: { cause: unknown }) {
    super('stale_connection', message, options);
  }
}

/**
 * One request with node:http. Not fetch: it loads a second HTTP stack (undici) of about
 * 11 MB into every agent, its start-up is on the CLI's path, and a custom CA needs an Agent.
 */
export function exchange(request: HttpExchange): Promise<{ status: number; text: string; headers: IncomingHttpHeaders }> {
  const { method, body, agent, signal } = request;
  return new Promise((resolve, reject) => {
    const target = new URL(request.url);
    // node:https (and with it TLS) loads only for an https:// URL: a `grapevine deploy` to a
    // plain-http coordinator, on every CI build, does not pay for it.
    const send = target.protocol === 'https:' ? https().request : http.request;
    const headers = body === undefined ? request.headers : { ...request.headers, 'content-length': String(Buffer.byteLength(body)) };
    const req = send(target, { method, headers, agent, ...(signal ? { signal } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), headers: res.headers });
      });
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(new ExchangeTimeoutError()), request.timeoutMs);
    req.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const stale = request.markStaleResets === true && req.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE');
      reject(stale ? new StaleConnectionError(error.message, { cause: error }) : error);
    });
    req.end(body);
  });
}

/** An answer's body as JSON, or undefined when it is not JSON (an error page, an empty body). */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * `exchange` on a kept-alive connection: one the server closed while it sat idle fails on its
 * first use, before the request reached anyone, and the request goes once more at once, on a
 * new connection. A reset on a new connection is not sent again: the server may have taken it.
 */
export function exchangeReusing(request: Omit<HttpExchange, 'markStaleResets'>): ReturnType<typeof exchange> {
  return retry(() => exchange({ ...request, markStaleResets: true }), { delaysMs: [0], retryIf: (error) => error instanceof StaleConnectionError });
}
